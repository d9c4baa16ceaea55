package watchlist

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The reference values of the published algorithm, as other implementations
// (go-jump-consistent-hash, ClickHouse's jumpConsistentHash) test them.
func TestJumpHashKnownValues(t *testing.T) {
	for _, tc := range []struct {
		key     uint64
		buckets int
		want    int
	}{
		{1, 1, 0},
		{42, 57, 43},
		{256, 1024, 520},
		{3735883980, 1, 0},
		{3735883980, 666, 361},
		{16045690984833335023, 255, 237},
	} {
		assert.Equal(t, tc.want, jumpHash(tc.key, tc.buckets), "jumpHash(%d, %d)", tc.key, tc.buckets)
	}
}

func TestOwnerIgnoresCaseAndSpreadsEvenly(t *testing.T) {
	const id = "d5d3b5a2-1b1e-4f5a-9c1d-0a1b2c3d4e5f"
	for total := 1; total <= 8; total++ {
		assert.Equal(t, Owner(id, total), Owner("D5D3B5A2-1B1E-4F5A-9C1D-0A1B2C3D4E5F", total))
	}
	counts := make([]int, 3)
	for i := range 3000 {
		counts[Owner(fmt.Sprintf("00000000-0000-0000-0000-%012d", i), 3)]++
	}
	for shard, n := range counts {
		assert.InDelta(t, 1000, n, 100, "shard %d owns %d of 3000", shard, n)
	}
}

// Going from n to n+1 shards moves documents only to the new shard.
func TestOwnerMovesOnlyToTheNewShard(t *testing.T) {
	for i := range 1000 {
		id := fmt.Sprintf("00000000-0000-0000-0000-%012d", i)
		before, after := Owner(id, 3), Owner(id, 4)
		if before != after {
			assert.Equal(t, 3, after, id)
		}
	}
}

func TestListShardPartitions(t *testing.T) {
	var l List
	l.LabelNames = []string{"customer"}
	for i := range 100 {
		l.Documents = append(l.Documents, Entry{ID: fmt.Sprintf("00000000-0000-0000-0000-%012d", i)})
	}
	assert.Same(t, &l, l.Shard(0, 1), "one shard keeps the whole list")
	seen := map[string]int{}
	for shard := range 3 {
		part := l.Shard(shard, 3)
		require.Equal(t, l.LabelNames, part.LabelNames, "every shard keeps the whole list's label names")
		assert.NotEmpty(t, part.Documents)
		for _, d := range part.Documents {
			assert.Equal(t, shard, Owner(d.ID, 3))
			seen[d.ID]++
		}
	}
	assert.Len(t, seen, 100)
	for id, n := range seen {
		assert.Equal(t, 1, n, id)
	}
}

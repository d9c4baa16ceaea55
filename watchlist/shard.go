package watchlist

import (
	"hash/fnv"
	"strings"
)

// Owner returns the shard, in [0, total), that owns the document id: the jump
// hash of the FNV-64a hash of the upper-case id, as kube-state-metrics shards
// objects by UID. Every shard computes the same owner from the id alone, so
// shards need not talk to agree, and a change of total moves only the
// documents it must.
func Owner(id string, total int) int {
	if total <= 1 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(strings.ToUpper(id)))
	return jumpHash(h.Sum64(), total)
}

// jumpHash is Lamping and Veach's jump consistent hash
// (https://arxiv.org/abs/1406.2294): it maps key to a bucket in [0, buckets).
func jumpHash(key uint64, buckets int) int {
	b, j := int64(-1), int64(0)
	for j < int64(buckets) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int(b)
}

// Shard returns the part of l that shard owns out of total. The label names
// stay those of the whole list, so every shard exports the same label set.
func (l *List) Shard(shard, total int) *List {
	if total <= 1 {
		return l
	}
	owned := &List{LabelNames: l.LabelNames}
	for _, d := range l.Documents {
		if Owner(d.ID, total) == shard {
			owned.Documents = append(owned.Documents, d)
		}
	}
	// An envelope's documents stay together, with the shard owning the envelope.
	for _, e := range l.Envelopes {
		if Owner(e.ID, total) == shard {
			owned.Envelopes = append(owned.Envelopes, e)
		}
	}
	return owned
}

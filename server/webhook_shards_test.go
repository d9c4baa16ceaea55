package server

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

// shardFixtures returns the owner of whID out of two shards, serving on an
// httptest server, and the other shard, set to forward to it.
func shardFixtures(t *testing.T) (owner, other *whFixture, ownerURL string) {
	t.Helper()
	ownerShard := watchlist.Owner(whID, 2)
	owner, other = newWHFixture(t), newWHFixture(t)
	srv := httptest.NewServer(owner.h)
	t.Cleanup(srv.Close)
	// The owner thinks, wrongly, that the other shard owns whID: a forwarded
	// notification must still not be forwarded back.
	owner.h.ForwardTo(Shards{Shard: 1 - ownerShard, Total: 2, URLTemplate: srv.URL + "/loop{shard}"})
	other.h.ForwardTo(Shards{Shard: 1 - ownerShard, Total: 2, URLTemplate: srv.URL + "/webhook{shard}"})
	return owner, other, srv.URL
}

func TestWebhookForwardsToTheOwner(t *testing.T) {
	owner, other, _ := shardFixtures(t)
	rec := other.do(http.MethodPost, "Bearer "+whToken, "application/json", `{"documentId":"`+whID+`"}`)
	assert.Equal(t, http.StatusAccepted, rec.Code)
	assert.Empty(t, other.trigger.recorded(), "the non-owner asks nothing itself")
	require.Len(t, owner.trigger.recorded(), 1, "the owner checks the document")
	assert.Equal(t, whIDUpper, owner.trigger.recorded()[0].id)
	assert.Equal(t, 1.0, other.count("forwarded"))
	assert.Equal(t, 0.0, other.count("forward_failed"))
	assert.Equal(t, 1.0, owner.count("accepted"), "the owner took it as its own, without forwarding it back")
	assert.Equal(t, 0.0, owner.count("forwarded"))
}

// A notification is forwarded only once authorized: the non-owner does not
// relay requests with a wrong token.
func TestWebhookForwardsOnlyAuthorized(t *testing.T) {
	owner, other, _ := shardFixtures(t)
	rec := other.do(http.MethodPost, "Bearer wrong", "application/json", `{"documentId":"`+whID+`"}`)
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Equal(t, 0.0, other.count("forwarded"))
	assert.Empty(t, owner.trigger.recorded())
}

func TestWebhookForwardFailures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int // the owner's answer; 0: unreachable
		attempts int32
	}{
		{"owner unreachable", 0, 0},
		{"owner failing", http.StatusServiceUnavailable, forwardAttempts},
		{"owner refusing the token", http.StatusUnauthorized, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var attempts atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				attempts.Add(1)
				assert.Equal(t, "Bearer "+whToken, r.Header.Get("Authorization"))
				w.WriteHeader(tc.status)
			}))
			url := srv.URL + "/{shard}"
			if tc.status == 0 {
				srv.Close()
			} else {
				defer srv.Close()
			}
			fx := newWHFixture(t)
			fx.h.ForwardTo(Shards{Shard: 1 - watchlist.Owner(whID, 2), Total: 2, URLTemplate: url})
			rec := fx.do(http.MethodPost, "Bearer "+whToken, "application/json", `{"documentId":"`+whID+`"}`)
			assert.Equal(t, http.StatusAccepted, rec.Code, "DocumentTRAK is answered 202 all the same")
			assert.Equal(t, 1.0, fx.count("forward_failed"))
			assert.Equal(t, 0.0, fx.count("forwarded"))
			assert.Equal(t, tc.attempts, attempts.Load())
			assert.Contains(t, fx.logs.String(), "could not forward a DocumentTRAK notification")
			testenv.NewSecrets(8, whToken).AssertNone(t, "log", fx.logs.String())
		})
	}
}

func TestCheckShardURLTemplate(t *testing.T) {
	assert.NoError(t, CheckShardURLTemplate("https://e-{shard}.s.ns.svc:9865/webhooks/documenttrak"))
	assert.Error(t, CheckShardURLTemplate(""))
	assert.Error(t, CheckShardURLTemplate("http://e-0.s:9865/"))
	assert.Error(t, CheckShardURLTemplate("ftp://e-{shard}/"))
	assert.Error(t, CheckShardURLTemplate("/{shard}"))
	assert.EqualError(t, CheckShardURLTemplate("https://user:secret@e-{shard}.s:9865/"), "--webhook.shard-url-template must not hold credentials")
}

//go:build unix

package e2e

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

const (
	totalShards = 3
	shardDocs   = 60 // in the watch list and the simulator
	shardBatch  = 10 // --assuresign.batch-size: one process asks in 6 requests
)

// TestShardsEndToEnd runs three shards as processes against one simulator,
// scraped by the real Prometheus in one job and alerting through the real
// Alertmanager (issue #13, "Done when"):
//   - every document is exported by exactly one shard, and the shards' union
//     is what one process exports;
//   - the shards' first rounds send one process's requests plus at most two
//     (one partial batch per extra shard);
//   - the shipped alerts fire once per declined document;
//   - a notification sent to a shard that does not own its document shows on
//     the owner's /metrics within seconds (the refresh interval is 1h: only
//     the forwarded notification can explain the change);
//   - stopping a shard fires AssureSignShardsMissing, naming that shard.
func TestShardsEndToEnd(t *testing.T) {
	testenv.SkipShort(t) // builds binaries, starts Prometheus and Alertmanager
	tools := requireTools(t, "prometheus", "promtool", "prometheus-alertmanager", "amtool")
	testStart := time.Now()
	port := shardPort(t)

	// Every sixth document Declined.
	statuses := []string{"Declined", "Completed", "SigningStepInProgress", "Created", "SigningStepInProgress", "Created"}
	docs := make([]document, shardDocs)
	for i := range docs {
		docs[i] = document{fmt.Sprintf("5AA2D000-0E2E-4000-8000-%012X", i), fmt.Sprintf("A5A2D000-0E2E-4000-8000-%012X", i),
			statuses[i%len(statuses)], 1, "acme", "sales"}
	}
	s := newStack(t, docs)
	start := func(args ...string) *testenv.Exporter {
		return s.startExporter(t, append([]string{"--assuresign.batch-size=" + strconv.Itoa(shardBatch), "--refresh.interval=1h"}, args...)...)
	}

	// --- one process: the reference
	one := start("--web.listen-address=127.0.0.1:0")
	testenv.WaitHTTP(t, one.URL+"/-/ready", http.StatusOK, 20*time.Second) // its first round is done
	_, body := one.Get(t, "/metrics")
	want := documentLines(body)
	require.Len(t, docStatuses(t, body), shardDocs, "one process exports every document")
	oneStats := s.simStats()
	require.Equal(t, (shardDocs+shardBatch-1)/shardBatch, oneStats.Requests, "one process's requests in its first round")
	require.True(t, one.Stop(10*time.Second), "the exporter stops on SIGTERM")
	res, _, err := testenv.Fetch(nil, http.MethodDelete, s.simURL+"/admin/stats", nil, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, res.StatusCode)

	// --- three shards on 127.0.K.1:port, which the template can name
	template := fmt.Sprintf("http://127.0.{shard}.1:%d/webhooks/documenttrak", port)
	shards := make([]*testenv.Exporter, totalShards)
	addrs := make([]string, totalShards)
	for k := range shards {
		addrs[k] = fmt.Sprintf("127.0.%d.1:%d", k, port)
		shards[k] = start("--web.listen-address="+addrs[k], "--total-shards="+strconv.Itoa(totalShards), "--shard="+strconv.Itoa(k),
			"--webhook.shard-url-template="+template)
	}
	for _, e := range shards {
		testenv.WaitHTTP(t, e.URL+"/-/ready", http.StatusOK, 20*time.Second)
	}
	shardStats := s.simStats()
	t.Logf("first round: one process %d requests, three shards %d requests", oneStats.Requests, shardStats.Requests)
	assert.Equal(t, shardDocs, shardStats.Documents, "the shards ask about every document once")
	assert.GreaterOrEqual(t, shardStats.Requests, oneStats.Requests)
	assert.LessOrEqual(t, shardStats.Requests, oneStats.Requests+totalShards-1, "one process's requests plus at most one partial batch per extra shard")

	// --- every document on exactly one shard; the union is one process's output
	owner := map[string]int{}
	var union []string
	for k, e := range shards {
		_, body := e.Get(t, "/metrics")
		owned := docStatuses(t, body)
		assert.NotEmpty(t, owned, "shard %d owns no document", k)
		for id := range owned {
			if o, dup := owner[id]; dup {
				t.Errorf("document %s exported by shards %d and %d", id, o, k)
			}
			owner[id] = k
		}
		union = append(union, documentLines(body)...)
	}
	require.Len(t, owner, shardDocs, "the shards together export every document")
	slices.Sort(union)
	slices.Sort(want)
	require.Equal(t, want, union, "the shards' document samples are one process's")

	s.startMonitoring(t, tools, addrs...)
	s.eventually(t, 30*time.Second, 100*time.Millisecond, "Prometheus scrapes every shard and document", func() (bool, string) {
		up, err1 := s.prom.query(`up{job="assuresign"} == 1`)
		n, err2 := s.prom.query(`count(max by (document_id) (assuresign_document_info))`)
		return err1 == nil && err2 == nil && len(up) == totalShards && len(n) == 1 && n[0].value() == shardDocs,
			fmt.Sprint("up ", up, err1, "; documents ", n, err2)
	})
	t.Logf("stack up in %.1fs (since test start)", time.Since(testStart).Seconds())

	var declined []string
	for _, d := range docs {
		if d.status == "Declined" {
			declined = append(declined, d.id)
		}
	}
	t.Run("declines alert once each", func(t *testing.T) {
		s.eventually(t, 30*time.Second, 100*time.Millisecond, "a Declined alert for each declined document in Alertmanager's receiver", func() (bool, string) {
			got := s.sink.documentAlerts()
			return len(got) == len(declined), fmt.Sprint(got)
		})
	})
	t.Run("notification to a non-owner reaches the owner", func(t *testing.T) {
		d := docs[slices.Index(statuses, "SigningStepInProgress")]
		o := owner[d.id]
		other := shards[(o+1)%totalShards]
		s.simPost("/admin/documents", map[string]any{"id": d.id, "auth_token": d.token, "status": "Completed"})
		notify(t, other.URL, d.id)
		took := testenv.Eventually(t, 15*time.Second, "the owner's /metrics to show the document Completed", func() (bool, string) {
			_, body := shards[o].Get(t, "/metrics")
			st := docStatuses(t, body)[d.id]
			return st == "Completed", st
		})
		t.Logf("notification to shard %d -> owner shard %d's /metrics in %.2fs", (o+1)%totalShards, o, took.Seconds())
		_, x := other.Metrics(t)
		v, _ := x.Find("assuresign_webhook_requests_total", map[string]string{"result": "forwarded"})
		assert.Equal(t, 1.0, v, "forwarded by the non-owner")
		_, x = shards[o].Metrics(t)
		v, _ = x.Find("assuresign_webhook_requests_total", map[string]string{"result": "accepted"})
		assert.Equal(t, 1.0, v, "accepted by the owner")
	})
	t.Run("stopping a shard fires AssureSignShardsMissing", func(t *testing.T) {
		const name = "AssureSignShardsMissing"
		ss, err := s.prom.query(`ALERTS{alertname=~"AssureSignShardsMissing|AssureSignShardingMismatch", alertstate="firing"}`)
		require.NoError(t, err)
		require.Empty(t, ss, "shard alerts while every shard runs")
		const stopped = 2
		require.True(t, shards[stopped].Stop(10*time.Second), "the exporter stops on SIGTERM")
		stoppedAt := time.Now()
		var firing promAlert
		s.eventually(t, 30*time.Second, 100*time.Millisecond, name+" firing in Prometheus and in Alertmanager's receiver", func() (bool, string) {
			alerts, err := s.prom.alerts()
			if err != nil {
				return false, err.Error()
			}
			for _, a := range alerts {
				if a.Labels["alertname"] == name && a.State == "firing" {
					firing = a
				}
			}
			notified, ok := s.sink.find(map[string]string{"alertname": name})
			return firing.State == "firing" && ok && notified.status == "firing", fmt.Sprint(alerts)
		})
		t.Logf("%s notified %.1fs after shard %d stopped", name, time.Since(stoppedAt).Seconds(), stopped)
		mask, err := strconv.ParseFloat(firing.Value, 64)
		require.NoError(t, err)
		assert.Equal(t, float64(1<<stopped), mask, "the bit mask of the missing shards")
	})
	// Checked last, when Alertmanager has had many group intervals to send
	// a duplicate.
	t.Run("no Declined alert notified twice", func(t *testing.T) {
		got := s.sink.documentAlerts()
		for _, id := range declined {
			assert.Equal(t, 1, got["AssureSignDocumentDeclined/"+id], "firing notifications for declined document %s (shard %d)", id, owner[id])
		}
		assert.Len(t, got, len(declined), "only the declined documents are alerted: %v", got)
	})
	t.Logf("total: %.1fs", time.Since(testStart).Seconds())
}

// shardPort returns a port that was free a moment ago on 127.0.0.1, 127.0.1.1
// and 127.0.2.1, so that one URL template, http://127.0.{shard}.1:port/,
// names every shard. It skips the test where the loopback interface has only
// 127.0.0.1 (Linux routes all of 127.0.0.0/8 to it; macOS does not).
func shardPort(t *testing.T) int {
	t.Helper()
	if l, err := net.Listen("tcp", "127.0.1.1:0"); err != nil {
		t.Skipf("needs 127.0.0.0/8 on the loopback interface: %v", err)
	} else {
		_ = l.Close()
	}
	for range 10 {
		l0, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := l0.Addr().(*net.TCPAddr).Port
		free := true
		for k := 1; k < totalShards && free; k++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.%d.1:%d", k, port))
			if free = err == nil; free {
				_ = l.Close()
			}
		}
		_ = l0.Close()
		if free {
			return port
		}
	}
	t.Fatal("no port free on 127.0.0.1, 127.0.1.1 and 127.0.2.1 in 10 tries")
	return 0
}

// documentLines are the per-document samples that two exporters given the
// same answers write alike: all but the time of the last check.
func documentLines(exposition string) []string {
	var out []string
	for _, l := range testenv.SampleLines(exposition) {
		if strings.Contains(l, `document_id="`) && !strings.HasPrefix(l, "assuresign_document_last_check_timestamp_seconds") {
			out = append(out, l)
		}
	}
	return out
}

// docStatuses returns the status of each document in an exposition.
func docStatuses(t *testing.T, exposition string) map[string]string {
	t.Helper()
	x, err := testenv.ParseExposition(exposition, "assuresign_document_status")
	require.NoError(t, err)
	return x.Statuses()
}

// simStats reads the simulator's counters.
func (s *stack) simStats() (st struct{ Requests, Documents int }) {
	s.t.Helper()
	require.NoError(s.t, getJSON(s.simURL+"/admin/stats", &st))
	return st
}

// documentAlerts counts the firing notifications received per document
// alert, by "alertname/document_id".
func (s *webhookSink) documentAlerts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, a := range s.got {
		if id := a.labels["document_id"]; id != "" && a.status == "firing" {
			out[a.labels["alertname"]+"/"+id]++
		}
	}
	return out
}

package reliability

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

// TestSIGTERMDuringRound stops the exporter while a CheckStatus request hangs
// on a slow upstream: it must exit within seconds, and cleanly.
func TestSIGTERMDuringRound(t *testing.T) {
	t.Parallel()
	docs := newDocs(4, "sigterm")
	dir, ctxPath, sim := newAccount(t, docs)
	sim.latency(60_000)
	watch := filepath.Join(dir, "watch.yml")
	testenv.ReplaceFile(t, watch, watchYAML(docs))
	e := startExporter(t, exporterOpts{watchFile: watch, endpoint: sim.Endpoint(), contextFile: ctxPath,
		flags: map[string]string{"assuresign.timeout": "90s", "assuresign.batch-size": "2"}})
	testenv.Eventually(t, 10*time.Second, "a round to be in flight", func() (bool, string) {
		n := sim.requests()
		return n >= 2, fmt.Sprintf("%d requests", n)
	})
	// A scrape answered while the round hangs.
	if s := e.scrape(); s.value("assuresign_watched_documents") != 4 {
		t.Errorf("watched documents: %v", s.value("assuresign_watched_documents"))
	}
	e.client.CloseIdleConnections()
	took := e.stop()
	if took > 5*time.Second {
		t.Errorf("the exporter took %s to stop after SIGTERM during a round", took)
	}
	if code := e.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0\n%s", code, e.Output)
	}
	if !strings.Contains(e.Output.String(), `msg="shutting down"`) {
		t.Errorf("no shutdown line in the log")
	}
	Figures.Fact("SIGTERM during a round (upstream hangs 60s)", "stopped in %s, exit code %d", ms(took), e.Cmd.ProcessState.ExitCode())
}

// TestReloadDuringRound reloads (SIGHUP) a changed watch file while a round
// is in flight: kept documents keep their statuses throughout, a removed one
// goes, an added one is checked without waiting for the next round.
func TestReloadDuringRound(t *testing.T) {
	t.Parallel()
	all := newDocs(4, "reload")
	kept, removed, added := all[:2], all[2], all[3]
	dir, ctxPath, sim := newAccount(t, all)
	watch := filepath.Join(dir, "watch.yml")
	testenv.ReplaceFile(t, watch, watchYAML(all[:3]))
	e := startExporter(t, exporterOpts{watchFile: watch, endpoint: sim.Endpoint(), contextFile: ctxPath,
		flags: map[string]string{"refresh.interval": "3s", "refresh.terminal-interval": "3s", "assuresign.timeout": "10s"}})
	testenv.Eventually(t, 20*time.Second, "the first round", func() (bool, string) { return statusesMatch(e.scrape(), all[:3]) })

	// Slow the upstream and wait for the next round to be in flight.
	sim.latency(2500)
	n0 := sim.requests()
	testenv.Eventually(t, 10*time.Second, "a round to be in flight", func() (bool, string) {
		n := sim.requests()
		return n > n0, fmt.Sprintf("%d requests", n)
	})
	// Meanwhile the kept documents move on upstream.
	moved := slices.Clone(kept)
	moved[0].Status, moved[0].Step = "SigningStepInProgress", 3
	sim.put(moved[0])

	testenv.ReplaceFile(t, watch, watchYAML([]doc{kept[0], kept[1], added}))
	reloadAt := time.Now()
	e.Signal(t, syscall.SIGHUP)
	sim.latency(0)
	var reloaded, addedSeen time.Duration
	scrapes := 0
	testenv.Eventually(t, 20*time.Second, "the added document's status", func() (bool, string) {
		s := e.scrape()
		scrapes++
		for i, d := range kept {
			if got := s.statuses[d.ID]; got != d.Status && got != moved[i].Status {
				t.Fatalf("kept document %s shows %q during the reload, want %q or %q", d.ID, got, d.Status, moved[i].Status)
			}
		}
		if s.hasDocument(removed.ID) {
			return false, "the removed document is still listed"
		}
		if reloaded == 0 {
			reloaded = time.Since(reloadAt)
		}
		if s.reloadOK() != 1 || s.value("assuresign_watched_documents") != 3 {
			return false, "not reloaded yet"
		}
		if s.statuses[added.ID] != added.Status {
			return false, fmt.Sprintf("added document shows %q", s.statuses[added.ID])
		}
		addedSeen = time.Since(reloadAt)
		return true, ""
	})
	// And the kept document's upstream change arrives with the next round.
	testenv.Eventually(t, 20*time.Second, "the kept document's upstream change", func() (bool, string) {
		return statusesMatch(e.scrape(), []doc{moved[0], kept[1], added})
	})
	Figures.Fact("reload (SIGHUP) during a round", "removed document gone after %s, added one checked after %s; kept statuses intact over %d scrapes",
		ms(reloaded), ms(addedSeen), scrapes)
}

package reliability

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

// TestSlowListing drips an envelope's listing a byte every 100 ms (below
// every size limit, as the simulator's slow_drip does to CheckStatus; a proxy
// in front of the simulator does it to listings) and meanwhile notifies a
// change of a document watched directly: its new status must show within a
// second, not when the listing gives up.
func TestSlowListing(t *testing.T) {
	t.Parallel()
	docs := newDocs(1, t.Name())
	dir, ctxPath, sim := newAccount(t, docs)
	var drip, listing, listed atomic.Bool
	upstream, err := url.Parse(sim.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(upstream)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "/Envelopes/") || !drip.Load() {
			proxy.ServeHTTP(w, r)
			return
		}
		listing.Store(true)
		defer listed.Store(true)
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		for _, b := range []byte(`<?xml version="1.0" encoding="utf-8"?>` + strings.Repeat(" ", 1000)) {
			if _, err := w.Write([]byte{b}); err != nil {
				return
			}
			http.NewResponseController(w).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}))
	t.Cleanup(front.Close)
	token := "whk-" + testenv.RandomGUID()[:18] + "-secret"
	secrets.Add("webhook bearer token", token)
	tokenFile := filepath.Join(dir, "webhook-token")
	testenv.ReplaceFile(t, tokenFile, []byte(token+"\n"))
	// The envelope is not in the account: its first listing fails, so it has
	// no known document, and a notification naming it sends its listing alone.
	envelope := newID()
	watch := filepath.Join(dir, "watch.yml")
	testenv.ReplaceFile(t, watch, fmt.Appendf(watchYAML(docs), "envelopes:\n  - id: %s\n    auth_token: %s\n", envelope, secretGUID("envelope AuthToken")))
	e := startExporter(t, exporterOpts{watchFile: watch, endpoint: front.URL + testenv.CheckStatusPath, contextFile: ctxPath, flags: map[string]string{
		"webhook.bearer-token-file": tokenFile, "refresh.interval": "1h", "refresh.terminal-interval": "1h", "assuresign.timeout": "10s",
	}})
	listSuccess := `assuresign_envelope_list_success{envelope_id="` + envelope + `"}`
	testenv.Eventually(t, 20*time.Second, "the first round", func() (bool, string) {
		s := e.scrape()
		ok, msg := statusesMatch(s, docs)
		return ok && s.value(listSuccess) == 0, fmt.Sprintf("%s; list success %v", msg, s.value(listSuccess))
	})
	bearer := http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}}
	notify := func(body string) {
		t.Helper()
		if res, _, err := e.request(http.MethodPost, webhookPath, bearer, []byte(body)); err != nil || res.StatusCode != http.StatusAccepted {
			t.Fatalf("notification %s: %v %v", body, res, err)
		}
	}

	drip.Store(true)
	started := time.Now()
	notify(fmt.Sprintf(`{"envelope_id":%q}`, envelope))
	testenv.Eventually(t, 10*time.Second, "the envelope's listing to start", func() (bool, string) { return listing.Load(), "" })

	changed := docs[0]
	changed.Status, changed.Step = "Completed", 0
	sim.put(changed)
	sent := time.Now()
	notify(fmt.Sprintf(`{"DocumentID":%q}`, docs[0].ID))
	testenv.EventuallyEvery(t, 15*time.Second, 20*time.Millisecond, "the notified document's new status", func() (bool, string) {
		return statusesMatch(e.scrape(), []doc{changed})
	})
	answered := time.Since(sent)
	if dripping := !listed.Load(); answered > time.Second || !dripping {
		t.Errorf("notification answered after %s (the listing still dripping: %v), want within 1s while the listing drips", answered, dripping)
	}
	Figures.Fact("slow envelope listing", "a notification for a direct document answered after %s while a listing dripped (started %s before; it gives up at the 10s timeout)",
		ms(answered), ms(sent.Sub(started)))
}

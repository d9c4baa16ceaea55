package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
)

// measureParse times assuresign.ParseCheckStatusResponse on a 100-document
// answer from the simulator (the same documents' mix as the demo), as the
// assuresign package's BenchmarkParseCheckStatusResponse100 does on its own
// fixture.
func measureParse() (row, error) {
	const n = 100
	contextID := "C0FFEE00-1234-4ABC-9DEF-0123456789AB"
	sim := simulator.New(contextID)
	checks := make([]assuresign.Check, 0, n)
	for _, d := range simulator.DemoDocuments(n, 2) {
		sim.Put(d)
		checks = append(checks, assuresign.Check{ID: d.ID, AuthToken: d.AuthToken, ContextIdentifier: contextID})
	}
	req := httptest.NewRequest(http.MethodPost, assuresign.DefaultCheckStatusPath, bytes.NewReader(assuresign.EncodeCheckStatusRequest(checks)))
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `"`+assuresign.CheckStatusAction+`"`)
	rec := httptest.NewRecorder()
	sim.ServeHTTP(rec, req)
	body := rec.Body.Bytes()
	resp, err := assuresign.ParseCheckStatusResponse(body)
	if err != nil {
		return row{}, fmt.Errorf("parsing the simulator's answer: %w", err)
	}
	if len(resp.Results) != n {
		return row{}, fmt.Errorf("parsing the simulator's answer: %d results, want %d", len(resp.Results), n)
	}

	// Five runs of at least 300 parses and 200 ms each; the median run counts.
	var perParse []time.Duration
	for range 5 {
		start, iters := time.Now(), 0
		for iters < 300 || time.Since(start) < 200*time.Millisecond {
			if _, err := assuresign.ParseCheckStatusResponse(body); err != nil {
				return row{}, err
			}
			iters++
		}
		perParse = append(perParse, time.Since(start)/time.Duration(iters))
	}
	slices.Sort(perParse)
	med := perParse[len(perParse)/2]
	mbps := float64(len(body)) / med.Seconds() / 1e6
	return row{
		what:     "CheckStatus response parse (assuresign.ParseCheckStatusResponse)",
		measured: fmt.Sprintf("%.1f MB/s (%d-byte answer for 100 documents from the simulator, %.0f µs per parse, %.1f µs per document)", mbps, len(body), float64(med.Microseconds()), float64(med.Nanoseconds())/1e3/n),
		target:   "reported",
		ok:       "reported",
	}, nil
}

package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

// checkEnvelopes lists each of wl's envelopes (at most cfg.concurrency at
// once) and returns them with their documents' ids and order (never a name:
// it may be personal data; never a token), the documents to check: wl's own,
// then the listed ones with their envelope's labels unless listed directly,
// and how many listings failed.
func checkEnvelopes(ctx context.Context, client *assuresign.Client, wl *watchlist.List, cfg checkConfig) ([]watchlist.Document, []checkedEnvelope, int) {
	envelopes := make([]checkedEnvelope, len(wl.Envelopes))
	if len(wl.Envelopes) == 0 {
		return wl.Documents, envelopes, 0
	}
	listings := make([]*assuresign.EnvelopeListing, len(wl.Envelopes))
	errs := make([]error, len(wl.Envelopes))
	sem := make(chan struct{}, max(cfg.concurrency, 1))
	var wg sync.WaitGroup
	for i, e := range wl.Envelopes {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			reqCtx, cancel := context.WithTimeout(ctx, cfg.timeout)
			defer cancel()
			listings[i], errs[i] = client.ListEnvelopeDocuments(reqCtx, assuresign.EnvelopeRequest{
				ID: e.ID, AuthToken: e.AuthToken, ContextIdentifier: cmp.Or(e.ContextIdentifier, cfg.contextIdentifier),
			})
		})
	}
	wg.Wait()

	docs := append([]watchlist.Document(nil), wl.Documents...)
	seen := map[string]bool{}
	for _, d := range docs {
		seen[d.ID] = true
	}
	failed := 0
	for i, e := range wl.Envelopes {
		env := checkedEnvelope{ID: e.ID, Labels: e.Labels, Documents: []checkedEnvelopeDocument{}}
		if env.Labels == nil {
			env.Labels = map[string]string{}
		}
		if errs[i] != nil {
			failed++
			env.Error = errs[i].Error()
		} else {
			for _, d := range listings[i].Documents {
				env.Documents = append(env.Documents, checkedEnvelopeDocument{Order: d.OrderID, ID: d.ID})
				if !seen[d.ID] {
					seen[d.ID] = true
					docs = append(docs, watchlist.Document{ID: d.ID, AuthToken: d.AuthToken, ContextIdentifier: e.ContextIdentifier, Labels: e.Labels})
				}
			}
		}
		envelopes[i] = env
	}
	return docs, envelopes, failed
}

// checkedEnvelope is an envelope --check listed, or failed to list.
type checkedEnvelope struct {
	ID        string                    `json:"id"`
	Labels    map[string]string         `json:"labels"`
	Documents []checkedEnvelopeDocument `json:"documents"` // in the listing's order
	Error     string                    `json:"error"`     // why it could not be listed
}

type checkedEnvelopeDocument struct {
	Order string `json:"order"` // the document's OrderID in the envelope; may be empty
	ID    string `json:"id"`
}

// writeEnvelopes prints the envelopes' table, if there are any, and reports
// whether a cell was cut.
func writeEnvelopes(out io.Writer, rep checkReport) (cut bool) {
	if len(rep.Envelopes) == 0 {
		return false
	}
	rows := make([][]string, len(rep.Envelopes))
	for i, e := range rep.Envelopes {
		parts := make([]string, len(e.Documents))
		for j, d := range e.Documents {
			parts[j] = cmp.Or(d.Order, "?") + ":" + d.ID
		}
		rows[i] = []string{e.ID, formatLabels(e.Labels), cmp.Or(strings.Join(parts, " "), "-"), e.Error}
	}
	// The documents' column is never cut: it is what the envelope holds.
	cut = writeTable(out, []string{"ENVELOPE ID", "LABELS", "DOCUMENTS (ORDER:ID)", "ERROR"}, rows, checkCellWidth, 2)
	fmt.Fprintf(out, "%d of %d envelopes listed (%s)\n\n", rep.EnvelopesListed, len(rep.Envelopes), rep.EnvelopesEndpoint)
	return cut
}

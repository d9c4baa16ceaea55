package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

// checkEnvelopes lists each of wl's envelopes (at most cfg.concurrency at
// once), prints them with their documents' ids and order (never a name: it
// may be personal data; never a token), and returns the documents to check:
// wl's own, then the listed ones with their envelope's labels unless listed
// directly. It also returns how many listings failed.
func checkEnvelopes(ctx context.Context, out io.Writer, client *assuresign.Client, wl *watchlist.List, cfg checkConfig) ([]watchlist.Document, int) {
	if len(wl.Envelopes) == 0 {
		return wl.Documents, 0
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
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ENVELOPE ID\tLABELS\tDOCUMENTS (ORDER:ID)\tERROR")
	for i, e := range wl.Envelopes {
		row := []string{e.ID, formatLabels(e.Labels), "-", ""}
		if errs[i] != nil {
			failed++
			row[3] = errs[i].Error()
		} else {
			parts := make([]string, len(listings[i].Documents))
			for j, d := range listings[i].Documents {
				parts[j] = cmp.Or(d.OrderID, "?") + ":" + d.ID
				if !seen[d.ID] {
					seen[d.ID] = true
					docs = append(docs, watchlist.Document{ID: d.ID, AuthToken: d.AuthToken, ContextIdentifier: e.ContextIdentifier, Labels: e.Labels})
				}
			}
			row[2] = strings.Join(parts, " ")
		}
		for j := range row {
			row[j] = printable(row[j])
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	_ = tw.Flush()
	fmt.Fprintf(out, "%d of %d envelopes listed (%s)\n\n", len(wl.Envelopes)-failed, len(wl.Envelopes), client.EnvelopesEndpoint())
	return docs, failed
}

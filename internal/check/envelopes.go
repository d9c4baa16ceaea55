package check

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/internal/fanout"
	"github.com/assuresign-exporter/assuresign_exporter/refresh"
	"github.com/assuresign-exporter/assuresign_exporter/upstream"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

// checkEnvelopes lists wl's envelopes (at most cfg.Concurrency at once) and
// takes them in watch-list order by the exporter's rule (refresh.Expansion,
// with the same limits), listing none once --watch.max-documents is reached.
// It returns the envelopes with their documents' ids and order (never a name:
// it may be personal data; never a token), the documents to check (wl's own,
// then the listed ones with their envelope's labels unless listed directly),
// the statuses the listings brought for them (REST) with how many listings
// brought any, how many envelopes were not listed, and how many of those were
// over a limit.
func checkEnvelopes(ctx context.Context, client upstream.API, secrets *assuresign.Secrets, wl *watchlist.List, cfg Config) (docs []watchlist.Entry, envelopes []checkedEnvelope,
	answered map[string]assuresign.Result, answeringListings, failed, overLimit int,
) {
	x := refresh.NewExpansion(wl, refresh.EnvelopeLimits{MaxDocuments: cfg.MaxDocuments, MaxEnvelopeDocuments: cfg.MaxEnvelopeDocuments, Secrets: secrets})
	envelopes = make([]checkedEnvelope, len(wl.Envelopes))
	type listed struct {
		got *assuresign.EnvelopeListing
		err error
	}
	done := make([]chan listed, len(wl.Envelopes))
	taken := make([]chan struct{}, len(wl.Envelopes))
	for i := range done {
		done[i], taken[i] = make(chan listed, 1), make(chan struct{})
	}
	// A listing's slot is freed once its result is taken, so that none starts
	// after the limit is reached. Every envelope gets a result: once ctx has
	// ended, its error.
	var full atomic.Bool
	answered = map[string]assuresign.Result{}
	go fanout.Each(context.WithoutCancel(ctx), len(wl.Envelopes), cfg.Concurrency, func(_ context.Context, i int) {
		if full.Load() {
			done[i] <- listed{err: errLimitReached}
			return
		}
		e := wl.Envelopes[i]
		reqCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		got, err := client.ListEnvelopeDocuments(reqCtx, assuresign.EnvelopeRequest{
			ID: e.ID, AuthToken: e.AuthToken, ContextIdentifier: e.ContextIdentifierOr(cfg.ContextIdentifier),
		})
		cancel()
		done[i] <- listed{got, err}
		<-taken[i]
	})
	for i, e := range wl.Envelopes {
		env := checkedEnvelope{ID: e.ID, Labels: e.Labels, Documents: []checkedEnvelopeDocument{}}
		if env.Labels == nil {
			env.Labels = map[string]string{}
		}
		l := <-done[i]
		var refused []refresh.RefusedDocument
		if l.err == nil && full.Load() {
			l.err = errLimitReached // listed while the limit was being reached: not taken either
		}
		if l.err == nil {
			var kept []assuresign.EnvelopeDocument
			kept, refused, l.err = x.Add(e, l.got.Documents)
			for _, d := range kept {
				env.Documents = append(env.Documents, checkedEnvelopeDocument{Order: d.OrderID, ID: d.ID})
			}
			if l.err == nil && len(l.got.Results) > 0 {
				answeringListings++
				for _, r := range l.got.Results {
					if slices.ContainsFunc(kept, func(d assuresign.EnvelopeDocument) bool { return d.ID == r.ID }) {
						answered[r.ID] = r
					}
				}
			}
			if l.err != nil {
				overLimit++
			}
			full.Store(x.Full())
		} else if errors.Is(l.err, errLimitReached) {
			overLimit++
		}
		close(taken[i])
		switch {
		case l.err != nil:
			failed++
			env.Error, env.err = l.err.Error(), l.err
		case len(refused) > 0:
			parts := make([]string, len(refused))
			for j, r := range refused {
				parts[j] = r.ID + " (" + r.Reason + ")"
			}
			env.Error = "refused: " + strings.Join(parts, ", ")
		}
		envelopes[i] = env
	}
	return x.Documents, envelopes, answered, answeringListings, failed, overLimit
}

var errLimitReached = errors.New("not listed: --watch.max-documents is reached")

// checkedEnvelope is an envelope --check listed, or failed to list.
type checkedEnvelope struct {
	ID        string                    `json:"id"`
	Labels    map[string]string         `json:"labels"`
	Documents []checkedEnvelopeDocument `json:"documents"` // in the listing's order
	Error     string                    `json:"error"`     // why it could not be listed
	err       error                     // the same, for the hint
}

type checkedEnvelopeDocument struct {
	Order string `json:"order"` // the document's OrderID in the envelope; may be empty
	ID    string `json:"id"`
}

// writeEnvelopes prints the envelopes' table, if there are any, and reports
// whether a cell was cut.
func writeEnvelopes(out io.Writer, rep Report) (cut bool) {
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

package collector

import (
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/exposition"
)

// CachedHelp ends every document family's HELP.
const CachedHelp = " Cached from the last background refresh; a scrape never calls AssureSign."

// statusFamily is written first, as a state set of each document's status
// over assuresign.Statuses; currentStatusHelp replaces its help when only
// the current status is written.
var statusFamily = exposition.Family{Name: "assuresign_document_status", Type: "gauge", Help: "Document status as a state set: 1 for the current StatusType, 0 for the others."}

const currentStatusHelp = "Document status: one series per document, value 1, labelled with the current StatusType."

// documentFamily is a family of samples of each document: append appends
// d's samples (none, one, or one per label value) with s.
type documentFamily struct {
	name, typ, help string
	append          func(b []byte, s exposition.Series, d *document) []byte
}

// timestampFamily is a gauge of a time of each document, in Unix seconds;
// a document whose time is unknown (zero) has no sample.
func timestampFamily(name, help string, at func(d *document) time.Time) documentFamily {
	return documentFamily{name, "gauge", help, func(b []byte, s exposition.Series, d *document) []byte {
		t := at(d)
		if t.IsZero() {
			return b
		}
		return s.Append(b, d.watched.ID, "", exposition.UnixSeconds(t))
	}}
}

// documentFamilies follow the state set, in the order they are written.
var documentFamilies = []documentFamily{
	timestampFamily("assuresign_document_status_timestamp_seconds", "StatusDate of the document's current status, in Unix seconds.",
		func(d *document) time.Time { return d.statusDate }),
	{"assuresign_document_signing_step", "gauge", "Signing step number while the document is SigningStepInProgress.",
		func(b []byte, s exposition.Series, d *document) []byte {
			if d.status != assuresign.StatusSigningStepInProgress || d.step <= 0 {
				return b
			}
			return s.Append(b, d.watched.ID, "", float64(d.step))
		}},
	{"assuresign_document_exceptions_total", "counter", "StatusCheckException items received for the document, by severity.",
		func(b []byte, s exposition.Series, d *document) []byte {
			for i, sev := range severityIndex {
				// Unknown severities are rare: their series appears only once seen.
				if sev != assuresign.SeverityUnknown || d.exceptions[i] > 0 {
					b = s.Append(b, d.watched.ID, severityLabels[i], float64(d.exceptions[i]))
				}
			}
			return b
		}},
	timestampFamily("assuresign_document_last_check_timestamp_seconds", "When a status result for the document last arrived, in Unix seconds.",
		func(d *document) time.Time { return d.lastCheck }),
	{"assuresign_document_check_success", "gauge", "1 when AssureSign's last answer about the document carried its status, 0 when it did not (no result, or only exceptions: a wrong AuthToken or ContextIdentifier, a deleted document, another region).",
		func(b []byte, s exposition.Series, d *document) []byte {
			if !d.answered {
				return b
			}
			v := 0.0
			if d.checkOK {
				v = 1
			}
			return s.Append(b, d.watched.ID, "", v)
		}},
	{"assuresign_document_info", "gauge", "Watched document with the labels given in the watch file.",
		func(b []byte, s exposition.Series, d *document) []byte {
			b = s.Start(b, d.watched.ID)
			b = exposition.AppendLabels(b, d.watched.Labels)
			return exposition.End(b, 1)
		}},
}

// DocumentFamilies returns the document families, with their HELP text as
// written (assuresign_document_status in its state-set form), for what lists
// every family the exporter exposes (docs/metrics.md's test). The exporter's
// other families are registered with a prometheus.Registerer and described
// there.
func DocumentFamilies() []exposition.Family {
	out := []exposition.Family{{Name: statusFamily.Name, Type: statusFamily.Type, Help: statusFamily.Help + CachedHelp}}
	for _, f := range documentFamilies {
		out = append(out, exposition.Family{Name: f.name, Type: f.typ, Help: f.help + CachedHelp})
	}
	return out
}

// layouts[currentOnly] is the documents' exposition layout.
var layouts = func() (out [2]*exposition.Layout) {
	fams := DocumentFamilies()
	states := make([]string, len(assuresign.Statuses))
	for i, s := range assuresign.Statuses {
		states[i] = s.String()
	}
	set := exposition.StateSet{Family: fams[0], Label: "status", States: states}
	out[0] = exposition.NewLayout(set, fams[1:])
	set.Help, set.CurrentOnly = currentStatusHelp+CachedHelp, true
	out[1] = exposition.NewLayout(set, fams[1:])
	return out
}()

// The constant parts of the samples, built once.
var (
	documentSeries = func() (out []exposition.Series) {
		for _, f := range documentFamilies {
			out = append(out, exposition.SeriesOf(f.name))
		}
		return out
	}()
	severityLabels = func() (out [len(severityIndex)]string) {
		for i, sev := range severityIndex {
			out[i] = `,severity="` + sev.String() + `"`
		}
		return out
	}()
	// statusPos[s] is s's place in assuresign.Statuses, the state set's order.
	statusPos = func() []int {
		out := make([]int, len(assuresign.Statuses))
		for i, s := range assuresign.Statuses {
			out[s] = i
		}
		return out
	}()
)

// publish renders the dirty chunks and makes the result what scrapes write.
// Called with s.mu held for writing.
func (s *Store) publish() exposition.PublishStats {
	layout := layouts[0]
	if s.cfg.CurrentStatusOnly {
		layout = layouts[1]
	}
	n := (len(s.order) + exposition.ChunkSize - 1) / exposition.ChunkSize
	b := layout.Next(s.exposition.Load(), n)
	docs := make([]*document, 0, exposition.ChunkSize)
	appendFamily := func(dst []byte, f int) []byte {
		for _, d := range docs {
			dst = documentFamilies[f].append(dst, documentSeries[f], d)
		}
		return dst
	}
	for c := range n {
		if !s.dirty[c] && b.Keep(c) {
			continue
		}
		docs = docs[:0]
		for _, id := range s.order[c*exposition.ChunkSize : min((c+1)*exposition.ChunkSize, len(s.order))] {
			docs = append(docs, s.docs[id])
		}
		states := make([]exposition.StateRef, len(docs))
		for i, d := range docs {
			states[i] = exposition.StateRef{ID: d.watched.ID, State: statusPos[d.status]}
		}
		b.Render(c, states, appendFamily)
	}
	clear(s.dirty)
	e, stats := b.Done()
	s.exposition.Store(e)
	return stats
}

// Metrics returns the latest published exposition.
func (s *Store) Metrics() *exposition.Exposition { return s.exposition.Load() }

package demo

import (
	"fmt"
	"strings"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
)

// EnvelopeSizes are the documents of each envelope the demo watches.
var EnvelopeSizes = []int{3, 5}

// WatchedDocuments is how many documents the demo watches: its own and
// its envelopes'.
func WatchedDocuments() int {
	n := Documents
	for _, size := range EnvelopeSizes {
		n += size
	}
	return n
}

// restEnvelopeSize is how many of the demo's own documents go in each
// envelope under the REST API, which addresses envelopes only.
const restEnvelopeSize = 5

// restEnvelopes puts docs in envelopes of restEnvelopeSize in sim and
// returns their entries of the watch file's envelopes: section, by id only
// as the REST API needs.
func restEnvelopes(sim *simulator.Simulator, docs []simulator.Document) string {
	var b strings.Builder
	for i := 0; i < len(docs); i += restEnvelopeSize {
		var ids []string
		for _, d := range docs[i:min(i+restEnvelopeSize, len(docs))] {
			ids = append(ids, d.ID)
		}
		e := simulator.Envelope{ID: randomGUID(), AuthToken: randomGUID(), Documents: ids}
		sim.PutEnvelope(e)
		fmt.Fprintf(&b, "  - id: %s\n    labels:\n      customer: globex\n      pack: batch-%d\n", e.ID, i/restEnvelopeSize+1)
	}
	return b.String()
}

// addDemoEnvelopes puts the demo's envelopes and their documents (moving
// through the life cycle with the others) in sim, and returns the watch
// file's envelopes: section for them; without AuthTokens when byIDOnly
// (the REST API needs none).
func addDemoEnvelopes(sim *simulator.Simulator, byIDOnly bool) string {
	var b strings.Builder
	b.WriteString("envelopes:\n")
	packs := []string{"onboarding", "contract"}
	for i, n := range EnvelopeSizes {
		ids := make([]string, n)
		for j, d := range simulator.DemoDocuments(n, time.Now().UnixNano()+1+int64(i)) {
			sim.Put(d)
			ids[j] = d.ID
		}
		e := simulator.Envelope{ID: randomGUID(), AuthToken: randomGUID(), Documents: ids}
		sim.PutEnvelope(e)
		if byIDOnly {
			fmt.Fprintf(&b, "  - id: %s\n    labels:\n      customer: acme\n      pack: %s\n", e.ID, packs[i%len(packs)])
		} else {
			fmt.Fprintf(&b, "  - id: %s\n    auth_token: %s\n    labels:\n      customer: acme\n      pack: %s\n", e.ID, e.AuthToken, packs[i%len(packs)])
		}
	}
	return b.String()
}

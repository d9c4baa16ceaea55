package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
)

// demoEnvelopeSizes are the documents of each envelope the demo watches.
var demoEnvelopeSizes = []int{3, 5}

// demoWatchedDocuments is how many documents the demo watches: its own and
// its envelopes'.
func demoWatchedDocuments() int {
	n := demoDocuments
	for _, size := range demoEnvelopeSizes {
		n += size
	}
	return n
}

// addDemoEnvelopes puts the demo's envelopes and their documents (moving
// through the life cycle with the others) in sim, and returns the watch
// file's envelopes: section for them.
func addDemoEnvelopes(sim *simulator.Simulator) string {
	var b strings.Builder
	b.WriteString("envelopes:\n")
	total := 0
	for _, n := range demoEnvelopeSizes {
		total += n
	}
	docs := simulator.DemoDocuments(total, time.Now().UnixNano()+1)
	packs := []string{"onboarding", "contract"}
	for i, n := range demoEnvelopeSizes {
		ids := make([]string, n)
		for j, d := range docs[:n] {
			sim.Put(d)
			ids[j] = d.ID
		}
		docs = docs[n:]
		e := simulator.Envelope{ID: randomGUID(), AuthToken: randomGUID(), Documents: ids}
		sim.PutEnvelope(e)
		fmt.Fprintf(&b, "  - id: %s\n    auth_token: %s\n    labels:\n      customer: acme\n      pack: %s\n", e.ID, e.AuthToken, packs[i%len(packs)])
	}
	return b.String()
}

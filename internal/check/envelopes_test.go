package check

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
)

const (
	chkEnvelope  = "E0000000-0000-4000-8000-0000000000E1"
	chkEnvFaulty = "E0000000-0000-4000-8000-0000000000E2"
	chkEnvToken  = "5EC2E7E1-E1E1-4E1E-8E1E-5EC2E7E1E1E2"
	chkDocD      = "D0000000-0000-4000-8000-00000000000D"
	chkTokenD    = "5EC2E7D4-D4D4-4D4D-8D4D-5EC2E7D4D4D5"
)

func init() {
	chkSecrets.Add("envelope token", chkEnvToken)
	chkSecrets.Add("listed token", chkTokenD)
}

// envelopeCheckRig serves the rig's account at both real paths, with an
// envelope of chkDocD and chkDocC (also watched directly) and one that faults.
func envelopeCheckRig(t *testing.T) (*checkRig, string) {
	t.Helper()
	r := newCheckRig(t)
	r.sim.Put(simulator.Document{ID: chkDocD, AuthToken: chkTokenD, Status: assuresign.StatusCreated})
	r.sim.PutEnvelope(simulator.Envelope{ID: chkEnvelope, AuthToken: chkEnvToken, Documents: []string{chkDocD, chkDocC}})
	r.write(t, "envelopes.yml", "envelopes:\n  - {id: "+chkEnvelope+", auth_token: "+chkEnvToken+", labels: {pack: acme}}\n")
	return r, r.endpoint()
}

func TestCheckListsEnvelopes(t *testing.T) {
	r, endpoint := envelopeCheckRig(t)
	code, out := r.run(t, endpoint, chkContext)
	assert.Equal(t, OK, code, out)
	assert.Regexp(t, `(?m)^ENVELOPE ID +LABELS +DOCUMENTS \(ORDER:ID\) +ERROR$`, out)
	assert.Regexp(t, `(?m)^`+chkEnvelope+` +pack=acme +1:`+chkDocD+` 2:`+chkDocC+` *$`, out)
	assert.Contains(t, out, "1 of 1 envelopes listed")
	assert.Regexp(t, `(?m)^`+chkDocD+` +pack=acme +Created`, out, "checked with the envelope's labels")
	assert.Regexp(t, `(?m)^`+chkDocC+` +Completed`, out, "listed directly too: the direct entry's labels")
	assert.Len(t, regexp.MustCompile(`(?m)^`+chkDocC).FindAllString(out, -1), 1, "checked once")
	assert.Contains(t, out, "4 of 4 documents have a status")
	assert.NotContains(t, out, simulator.DocumentName(1), "no document name")

	// The same in JSON: the envelope with its documents, before them in full.
	code, js := r.run(t, endpoint, chkContext, inJSON) // asserts no secret in the JSON
	assert.Equal(t, OK, code)
	rep := decodeCheckReport(t, []byte(js))
	assert.Equal(t, []checkedEnvelope{{ID: chkEnvelope, Labels: map[string]string{"pack": "acme"}, Documents: []checkedEnvelopeDocument{
		{Order: "1", ID: chkDocD}, {Order: "2", ID: chkDocC}}}}, rep.Envelopes)
	assert.Equal(t, 1, rep.EnvelopesListed)
	assert.Len(t, rep.Documents, 4)
	assert.NotContains(t, js, simulator.DocumentName(1), "no document name")
	chkSecrets.AssertNone(t, "the JSON", js)
}

func TestCheckEnvelopeListingFails(t *testing.T) {
	r, endpoint := envelopeCheckRig(t)
	r.sim.PutEnvelope(simulator.Envelope{ID: chkEnvFaulty, AuthToken: chkEnvToken, Documents: []string{chkDocD}, Fault: true})
	r.write(t, "more.yml", "envelopes:\n  - {id: "+chkEnvFaulty+", auth_token: "+chkEnvToken+"}\n")
	code, out := r.run(t, endpoint, chkContext)
	assert.Equal(t, Incomplete, code, out)
	assert.Regexp(t, `(?m)^`+chkEnvFaulty+` +- +assuresign: SOAP fault s:Server`, out)
	assert.Contains(t, out, "1 of 2 envelopes listed")
	assert.Contains(t, out, "FAILED: envelopes not listed: 1")
}

// --check applies the exporter's limits to listed documents: an envelope
// listing more than --watch.max-envelope-documents is refused and its
// documents are not checked, and once --watch.max-documents is reached no
// further envelope is listed. Either makes it fail.
func TestCheckEnvelopeLimits(t *testing.T) {
	const big = "E0000000-0000-4000-8000-0000000000E3"
	r, endpoint := envelopeCheckRig(t)
	var many []string
	for i := range 501 {
		id := fmt.Sprintf("D0000000-0000-4000-8000-%012X", 0x100+i)
		r.sim.Put(simulator.Document{ID: id, AuthToken: chkTokenD, Status: assuresign.StatusCreated})
		many = append(many, id)
	}
	r.sim.PutEnvelope(simulator.Envelope{ID: big, AuthToken: chkEnvToken, Documents: many})
	r.write(t, "zbig.yml", "envelopes:\n  - {id: "+big+", auth_token: "+chkEnvToken+"}\n")

	before := r.sim.Stats()
	code, out := r.run(t, endpoint, chkContext)
	assert.Equal(t, Incomplete, code, out)
	assert.Regexp(t, `(?m)^`+big+` +- +the envelope lists 501 documents, more than --watch\.max-env…$`, out)
	assert.Contains(t, out, "4 of 4 documents have a status", "the big envelope's documents are not checked")
	assert.Contains(t, out, "FAILED: envelopes over --watch.max-documents=100 or --watch.max-envelope-documents=100, their documents not checked: 1")
	assert.Equal(t, 2, r.sim.Stats().Requests-r.sim.Stats().Listings-(before.Requests-before.Listings), "two CheckStatus requests of 2")

	// 3 direct documents and 2 of chkEnvelope's fill --watch.max-documents=5:
	// the next envelope (zbig.yml sorts after envelopes.yml) is not listed.
	before = r.sim.Stats()
	code, out = r.run(t, endpoint, chkContext, func(c *Config) { c.MaxDocuments, c.MaxEnvelopeDocuments, c.Concurrency = 5, 1000, 1 })
	assert.Equal(t, Incomplete, code, out)
	assert.Regexp(t, `(?m)^`+big+` +- +not listed: --watch\.max-documents is reached$`, out)
	assert.Contains(t, out, "4 of 4 documents have a status")
	assert.Equal(t, 1, r.sim.Stats().Listings-before.Listings)
}

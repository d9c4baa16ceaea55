package simulator

import (
	cryptorand "crypto/rand"
	"encoding/xml"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/internal/guid"
)

// Envelope is an envelope of the simulated account. Its documents are Put on
// their own; Documents names them, in order (OrderId 1, 2, ...). The JSON
// form is the simulator command's --envelopes file.
type Envelope struct {
	ID        string   `json:"id"`
	AuthToken string   `json:"auth_token"`
	Documents []string `json:"documents"`
	// Fault makes every listing of the envelope answer a SOAP Server Fault,
	// and its REST status a 500. The reference documents no error answer;
	// this is the simulator's choice.
	Fault bool `json:"fault"`
}

// Messages of the listing's faults; they never hold the request's values.
const (
	msgEnvelopeNotFound = "The envelope was not found."
	msgEnvelopeToken    = "The AuthToken is not valid for this envelope." //nolint:gosec // G101: a message, not a credential
)

// PutEnvelope adds an envelope or replaces the one with the same ID.
func (s *Simulator) PutEnvelope(e Envelope) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.Documents = slices.Clone(e.Documents)
	s.envelopes[key(e.ID)] = e
}

// PutEnvelopes puts envelopes of the given sizes, their documents at signing
// step 1 and every AuthToken random, and returns the envelopes' ids and
// their documents': envelope i is E0000000-0000-4000-8000-0000000000ii, its
// document j D0C00000-0000-4000-8000-00000000iijj (hex), so that a test can
// name them.
func (s *Simulator) PutEnvelopes(sizes ...int) (envelopes, documents []string) {
	for i, n := range sizes {
		env := fmt.Sprintf("E0000000-0000-4000-8000-0000000000%02X", i)
		var ids []string
		for j := range n {
			id := fmt.Sprintf("D0C00000-0000-4000-8000-00000000%02X%02X", i, j)
			s.Put(Document{ID: id, AuthToken: guid.New(cryptorand.Reader), Status: assuresign.StatusSigningStepInProgress, Step: 1})
			ids = append(ids, id)
		}
		s.PutEnvelope(Envelope{ID: env, AuthToken: guid.New(cryptorand.Reader), Documents: ids})
		envelopes, documents = append(envelopes, env), append(documents, ids...)
	}
	return envelopes, documents
}

// Envelopes returns a copy of every envelope, sorted by (upper-case) ID.
func (s *Simulator) Envelopes() []Envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Envelope, 0, len(s.envelopes))
	for _, e := range s.envelopes {
		e.Documents = slices.Clone(e.Documents)
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Envelope) int { return strings.Compare(key(a.ID), key(b.ID)) })
	return out
}

// envelopeLocked returns the envelope of id, whether it exists, and copies of
// those of its documents the account holds, in order; s.mu is held.
func (s *Simulator) envelopeLocked(id string) (e Envelope, docs []Document, found bool) {
	e, found = s.envelopes[key(id)]
	for _, d := range e.Documents {
		if d, ok := s.docs[key(d)]; ok {
			docs = append(docs, d.clone())
		}
	}
	return e, docs, found
}

// DocumentName is the Name the simulator lists for the n-th (from 1) document of an envelope.
func DocumentName(n int) string { return "Document " + strconv.Itoa(n) }

// listRequest is ListEnvelopeDocuments' body, read by namespace and local name.
type listRequest struct {
	XMLName xml.Name `xml:"http://schemas.xmlsoap.org/soap/envelope/ Envelope"`
	Body    struct {
		List *struct {
			Request *struct {
				ContextIdentifier string `xml:"ContextIdentifier,attr"`
				EnvelopeID        string `xml:"EnvelopeId,attr"`
				AuthToken         string `xml:"AuthToken,attr"`
			} `xml:"https://www.assuresign.net/Services/DocumentNOW/Envelopes ListEnvelopeDocumentsRequest"`
		} `xml:"https://www.assuresign.net/Services/DocumentNOW/Envelopes ListEnvelopeDocuments"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
}

// serveListEnvelopeDocuments answers one ListEnvelopeDocuments request: the
// envelope's documents with their tokens, or a SOAP Fault for a request that
// is invalid, names an unknown envelope or a wrong token, or an envelope set
// to fault. Latency applies; injected faults are CheckStatus's only.
func (s *Simulator) serveListEnvelopeDocuments(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.Requests++
	s.stats.Listings++
	o, latency := s.opts, s.latency
	s.mu.Unlock()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writePlain(w, http.StatusMethodNotAllowed, "text/plain; charset=utf-8", "Method not allowed: ListEnvelopeDocuments takes POST.\n")
		return
	}
	if !sleep(r, latency) {
		return
	}
	var req listRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBody))
	if err == nil {
		err = xml.Unmarshal(body, &req)
	}
	if mt := r.Header.Get("Content-Type"); err != nil || !strings.HasPrefix(mt, "text/xml") || req.Body.List == nil || req.Body.List.Request == nil {
		writeAnswer(w, o, faultAnswer(o, "Client", "The request is not a ListEnvelopeDocuments request in namespace '"+assuresign.EnvelopesNS+"'."))
		return
	}
	q := req.Body.List.Request
	s.mu.Lock()
	e, docs, found := s.envelopeLocked(q.EnvelopeID)
	s.mu.Unlock()
	switch {
	case !strings.EqualFold(strings.TrimSpace(q.ContextIdentifier), s.contextID):
		writeAnswer(w, o, faultAnswer(o, "Client", msgWrongContext))
	case !found:
		writeAnswer(w, o, faultAnswer(o, "Client", msgEnvelopeNotFound))
	case !strings.EqualFold(strings.TrimSpace(q.AuthToken), e.AuthToken):
		writeAnswer(w, o, faultAnswer(o, "Client", msgEnvelopeToken))
	case e.Fault:
		writeAnswer(w, o, faultAnswer(o, "Server", msgInternalError))
	default:
		writeAnswer(w, o, listingAnswer(o, e.ID, docs))
	}
}

// listingAnswer is the reference's ListEnvelopeDocumentsResponse.
func listingAnswer(o Options, envelopeID string, docs []Document) answer {
	env := newEnvelope(o)
	b := startBody(o)
	env.open(b, "")
	id := func(v string) string {
		if o.LowerCaseIDs {
			return strings.ToLower(v)
		}
		return strings.ToUpper(v)
	}
	b.WriteString(`<ListEnvelopeDocumentsResponse xmlns="` + assuresign.EnvelopesNS + `"><ListEnvelopeDocumentsResult`)
	attr(b, "EnvelopeId", id(envelopeID))
	b.WriteString("><Documents>")
	for i, d := range docs {
		b.WriteString("<EnvelopeDocument")
		attr(b, "DocumentId", id(d.ID))
		attr(b, "AuthToken", d.AuthToken)
		attr(b, "Name", DocumentName(i+1))
		attr(b, "OrderId", strconv.Itoa(i+1))
		b.WriteString("/>")
	}
	b.WriteString("</Documents></ListEnvelopeDocumentsResult></ListEnvelopeDocumentsResponse>")
	env.close(b)
	return answer{status: http.StatusOK, contentType: contentTypeXML, body: b.Bytes()}
}

// DemoEnvelopes returns n envelopes of 1 to 5 new demo documents each (see
// DemoDocuments), and those documents; with n of 2 or more the last envelope's
// listing faults. The same seed gives the same envelopes.
func DemoEnvelopes(n int, seed int64) ([]Envelope, []Document) {
	rng := rand.New(rand.NewSource(seed)) //nolint:gosec // G404: reproducible demo data, not secrets
	var envs []Envelope
	var docs []Document
	for i := range n {
		size := 1 + rng.Intn(5)
		own := DemoDocuments(size, rng.Int63())
		e := Envelope{ID: guid.New(rng), AuthToken: guid.New(rng), Fault: n >= 2 && i == n-1}
		for _, d := range own {
			e.Documents = append(e.Documents, d.ID)
		}
		envs = append(envs, e)
		docs = append(docs, own...)
	}
	return envs, docs
}

package simulator

import (
	"net/http"
	"strings"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
)

// ServeHTTP dispatches a request to its operation by SOAPAction, as WCF does;
// anything else is taken as CheckStatus, whose validation answers it.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch soapAction(r) {
	case assuresign.ListEnvelopeDocumentsAction:
		s.serveListEnvelopeDocuments(w, r)
	default:
		s.serveCheckStatus(w, r)
	}
}

// soapAction returns the request's SOAPAction without its quotes.
func soapAction(r *http.Request) string {
	a := strings.TrimSpace(r.Header.Get("SOAPAction"))
	if len(a) >= 2 && a[0] == '"' && a[len(a)-1] == '"' {
		a = a[1 : len(a)-1]
	}
	return a
}

// serveCheckStatus answers one CheckStatus request.
//
// Order: the request is counted and the fault (if any) taken; a POST's
// headers and body are validated (a valid request is counted in
// DocumentsPerRequest even when a fault then spoils the answer); the latency
// passes; then the fault, or else the answer: 405 for another method, a SOAP
// Client fault for an invalid request, the results otherwise.
func (s *Simulator) serveCheckStatus(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.Requests++
	fault := s.takeFault()
	latency := s.latency
	s.mu.Unlock()

	var (
		checks []check
		rerr   *requestError
	)
	post := r.Method == http.MethodPost
	if post {
		checks, rerr = readRequest(w, r)
		if rerr == nil {
			s.mu.Lock()
			s.stats.DocumentsPerRequest = append(s.stats.DocumentsPerRequest, len(checks))
			s.stats.Documents += len(checks)
			if s.stats.PerDocument == nil {
				s.stats.PerDocument = map[string]int{}
			}
			for _, c := range checks {
				s.stats.PerDocument[key(c.id)]++
			}
			s.mu.Unlock()
		}
	}

	if !sleep(r, latency) {
		return
	}

	s.mu.Lock()
	o := s.opts
	s.mu.Unlock()

	var a answer
	switch {
	case !post:
		w.Header().Set("Allow", http.MethodPost)
		a = answer{status: http.StatusMethodNotAllowed, contentType: "text/plain; charset=utf-8", body: []byte("Method not allowed: CheckStatus takes POST.\n")}
	case rerr != nil:
		a = faultAnswer(o, "Client", rerr.msg)
	default:
		a = s.resultsAnswer(o, checks, fault.Kind == FaultMissingResults)
	}
	if fault.Kind == FaultNone {
		writeAnswer(w, o, a)
		return
	}
	serveFault(w, r, o, fault, a)
}

// sleep waits d, or less when the request ends first; it reports whether the
// request is still there to answer.
func sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.Context().Done():
		return false
	case <-t.C:
		return true
	}
}

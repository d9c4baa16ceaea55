package simulator

import (
	"net/http"
	"strings"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
)

// CheckStatusPath is where the simulator serves CheckStatus: where
// DocumentNOW v2 does, on every region's host.
const CheckStatusPath = assuresign.DefaultCheckStatusPath

// operations are the paths the simulator serves, each an operation of the
// DocumentNOW v2 service. Any other path is answered 404, as WCF does, so a
// client with a wrong endpoint path fails here as it would on AssureSign.
// Keys are lower case: IIS and WCF match paths case-insensitively (the
// vendor's own WSDL address spells documentnow.svc in lower case).
var operations = map[string]func(*Simulator, http.ResponseWriter, *http.Request){
	strings.ToLower(CheckStatusPath):                 (*Simulator).serveCheckStatus,
	strings.ToLower(assuresign.DefaultEnvelopesPath): (*Simulator).serveListEnvelopeDocuments,
}

// endpointNotFound is WCF's answer to a path no endpoint listens on.
const endpointNotFound = `<!DOCTYPE html><html><head><title>Service</title></head><body><p>Endpoint not found.</p></body></html>`

// ServeHTTP answers a request to one of the operations or the REST API; any other path gets
// WCF's 404 page. Every request is counted in Stats.Requests.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.serveREST(w, r) {
		return
	}
	serve, ok := operations[strings.ToLower(r.URL.Path)]
	if !ok {
		s.mu.Lock()
		s.stats.Requests++
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(endpointNotFound))
		return
	}
	serve(s, w, r)
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

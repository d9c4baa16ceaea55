package simulator

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// FaultKind is a way the service, a proxy or the network can misbehave.
type FaultKind int

// Fault kinds.
const (
	FaultNone            FaultKind = iota
	FaultHTTP500                   // 500 with an HTML error page
	FaultTooManyRequests           // 429, Retry-After in whole seconds when RetryAfter > 0
	FaultSOAPFault                 // 500 with a SOAP 1.1 Fault, faultcode Server
	FaultMalformedXML              // 200 text/xml that is not well-formed
	FaultTruncatedBody             // a valid answer cut in half, connection closed
	FaultHTMLMaintenance           // 200 text/html maintenance page
	FaultOversizeBody              // 200 text/xml of Fault.Size bytes, chunked
	FaultSlowDrip                  // 200 text/xml, one byte every 100 ms until the client goes away
	FaultMissingResults            // a valid answer omitting every second requested document
	FaultCloseConnection           // the connection closed without an answer
)

var faultNames = [...]string{
	FaultNone:            "none",
	FaultHTTP500:         "http500",
	FaultTooManyRequests: "429",
	FaultSOAPFault:       "soap_fault",
	FaultMalformedXML:    "malformed",
	FaultTruncatedBody:   "truncated",
	FaultHTMLMaintenance: "html",
	FaultOversizeBody:    "oversize",
	FaultSlowDrip:        "slow_drip",
	FaultMissingResults:  "missing_results",
	FaultCloseConnection: "close",
}

// String returns the name ParseFaultKind accepts.
func (k FaultKind) String() string {
	if k < 0 || int(k) >= len(faultNames) {
		return "FaultKind(" + strconv.Itoa(int(k)) + ")"
	}
	return faultNames[k]
}

// ParseFaultKind maps a name ("http500", "429", "soap_fault", "malformed",
// "truncated", "html", "oversize", "slow_drip", "missing_results", "close",
// or "none") to its FaultKind, case-insensitively.
func ParseFaultKind(name string) (FaultKind, error) {
	for k, n := range faultNames {
		if strings.EqualFold(n, strings.TrimSpace(name)) {
			return FaultKind(k), nil
		}
	}
	return FaultNone, fmt.Errorf("unknown fault kind %q (want one of %s)", name, strings.Join(faultNames[1:], ", "))
}

// Fault makes the simulator misbehave.
type Fault struct {
	Kind       FaultKind
	RetryAfter time.Duration // FaultTooManyRequests: sent rounded up to whole seconds; 0 = no header
	Times      int           // requests affected; 0 = until cleared
	Size       int           // FaultOversizeBody: body size in bytes; 0 = DefaultOversize
}

// SetFault makes every following request (or the next f.Times) misbehave.
// Every HTTP request counts, whatever its method or content.
func (s *Simulator) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Kind == FaultNone {
		s.fault, s.faultLeft = Fault{}, 0
		return
	}
	s.fault, s.faultLeft = f, f.Times
}

// ClearFault ends any fault.
func (s *Simulator) ClearFault() { s.SetFault(Fault{}) }

// takeFault returns the fault for this request and counts it. Call with s.mu
// held.
func (s *Simulator) takeFault() Fault {
	f := s.fault
	if f.Kind == FaultNone {
		return f
	}
	if s.faultLeft > 0 {
		s.faultLeft--
		if s.faultLeft == 0 {
			s.fault = Fault{}
		}
	}
	return f
}

const (
	page500 = `<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head><title>500 - Internal server error.</title></head>
<body><div id="header"><h1>Server Error</h1></div>
<div id="content"><h2>500 - Internal server error.</h2>
<h3>There is a problem with the resource you are looking for, and it cannot be displayed.</h3></div>
</body></html>
`
	page429 = `<!DOCTYPE html>
<html><head><title>429 Too Many Requests</title></head>
<body><h1>Too Many Requests</h1><p>The request rate limit for this account has been exceeded. Try again later.</p></body></html>
`
	pageMaintenance = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>AssureSign - Scheduled Maintenance</title></head>
<body><h1>We'll be back soon</h1>
<p>AssureSign is undergoing scheduled maintenance. Please try again shortly.</p></body></html>
`
	contentTypeHTML = "text/html; charset=utf-8"
	dripInterval    = 100 * time.Millisecond
)

// malformedBody starts like an answer and then closes the wrong element.
func malformedBody(o Options) []byte {
	b := bytes.NewBuffer(openingBytes(o))
	b.WriteString(`<DocumentStatusCheckResult Id="00000000-0000-0000-0000-000000000000" StatusType="Completed">`)
	b.WriteString(`</DocumentStatusCheckResults></` + newEnvelope(o).q("Body") + `>`)
	return b.Bytes()
}

// openingBytes is the start of an answer up to the inside of
// DocumentStatusCheckResults, where whitespace and more results may follow.
func openingBytes(o Options) []byte {
	e := newEnvelope(o)
	b := startBody(o)
	e.open(b, "")
	b.WriteString(`<CheckStatusResponse xmlns="https://www.assuresign.net/Services/DocumentNOW/CheckStatus"><DocumentStatusCheckResults>`)
	return b.Bytes()
}

func writeAnswer(w http.ResponseWriter, o Options, a answer) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	if o.Chunked {
		w.WriteHeader(a.status)
		_ = http.NewResponseController(w).Flush()
	} else {
		h.Set("Content-Length", strconv.Itoa(len(a.body)))
		w.WriteHeader(a.status)
	}
	_, _ = w.Write(a.body)
}

func writePlain(w http.ResponseWriter, status int, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// serveFault answers with f. a is the answer the request would have had
// (FaultTruncatedBody cuts it; FaultMissingResults has been applied to it).
func serveFault(w http.ResponseWriter, r *http.Request, o Options, f Fault, a answer) {
	switch f.Kind {
	case FaultHTTP500:
		writePlain(w, http.StatusInternalServerError, contentTypeHTML, page500)
	case FaultTooManyRequests:
		if f.RetryAfter > 0 {
			secs := int64((f.RetryAfter + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		}
		writePlain(w, http.StatusTooManyRequests, contentTypeHTML, page429)
	case FaultSOAPFault:
		writeAnswer(w, o, faultAnswer(o, "Server", msgInternalError))
	case FaultMalformedXML:
		writeAnswer(w, o, answer{status: 200, contentType: contentTypeXML, body: malformedBody(o)})
	case FaultHTMLMaintenance:
		writePlain(w, http.StatusOK, contentTypeHTML, pageMaintenance)
	case FaultTruncatedBody:
		truncate(w, r, a)
	case FaultOversizeBody:
		oversize(w, r, o, f.Size)
	case FaultSlowDrip:
		slowDrip(w, r, o)
	case FaultCloseConnection:
		closeConnection(w, r)
	default: // FaultMissingResults, and anything else: the answer as prepared
		writeAnswer(w, o, a)
	}
}

// truncate declares a's full length, sends its first half and closes the
// connection.
func truncate(w http.ResponseWriter, r *http.Request, a answer) {
	half := a.body[:len(a.body)/2]
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// No hijacking (HTTP/2, a recorder): a short write under a declared
		// Content-Length makes the server drop the connection or stream.
		w.Header().Set("Content-Type", a.contentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(a.body)))
		w.WriteHeader(a.status)
		_, _ = w.Write(half)
		return
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\n", a.status, http.StatusText(a.status))
	fmt.Fprintf(buf, "Content-Type: %s\r\nContent-Length: %d\r\n", a.contentType, len(a.body))
	fmt.Fprintf(buf, "Date: %s\r\n\r\n", time.Now().UTC().Format(http.TimeFormat))
	_, _ = buf.Write(half)
	_ = buf.Flush()
}

func closeConnection(w http.ResponseWriter, r *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		if r.ProtoMajor >= 2 {
			panic(http.ErrAbortHandler) // resets the stream
		}
		return // a recorder: nothing is written
	}
	_ = conn.Close()
}

// oversize streams size bytes (chunked, no Content-Length) that start like a
// valid answer and go on with more and more results.
func oversize(w http.ResponseWriter, r *http.Request, o Options, size int) {
	if size <= 0 {
		size = DefaultOversize
	}
	w.Header().Set("Content-Type", contentTypeXML)
	w.WriteHeader(http.StatusOK)
	filler := []byte(`<DocumentStatusCheckResult Id="00000000-0000-0000-0000-000000000000" StatusDate="2008-03-19T11:24:08.5231954-04:00" StatusType="Created"/>`)
	chunk := bytes.NewBuffer(openingBytes(o))
	for chunk.Len() < 64<<10 {
		chunk.Write(filler)
	}
	first := chunk.Bytes()
	rest := first[len(openingBytes(o)):]
	for sent, part := 0, first; sent < size; part = rest {
		if r.Context().Err() != nil {
			return
		}
		if n := size - sent; len(part) > n {
			part = part[:n]
		}
		n, err := w.Write(part)
		sent += n
		if err != nil {
			return
		}
	}
}

// slowDrip sends a valid answer's opening one byte every dripInterval, then
// whitespace, until the client goes away.
func slowDrip(w http.ResponseWriter, r *http.Request, o Options) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", contentTypeXML)
	w.WriteHeader(http.StatusOK)
	if rc.Flush() != nil {
		return
	}
	opening := openingBytes(o)
	t := time.NewTicker(dripInterval)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
		c := byte(' ')
		if i < len(opening) {
			c = opening[i]
		}
		if _, err := w.Write([]byte{c}); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
}

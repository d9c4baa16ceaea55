package assuresign

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Response is a parsed CheckStatusResponse.
type Response struct {
	Results []Result
	// Skipped counts results that could not be used: nil results and results without an Id.
	Skipped int
}

// Bounds on the server-supplied text an *Error carries, so a hostile or broken
// server cannot make error strings (and the logs holding them) arbitrarily large.
const (
	maxFaultCode   = 128
	maxFaultString = 512
	maxErrText     = 256
)

// ParseCheckStatusResponse reads a CheckStatus answer: a SOAP 1.1 envelope (or a
// bare CheckStatusResponse, as the vendor's sample shows). Elements are matched by
// namespace and local name, never by prefix. A SOAP Fault comes back as an *Error
// of KindSOAPFault; anything unreadable as KindMalformed. DTDs are never
// processed: entities other than XML's five predefined ones are an error.
func ParseCheckStatusResponse(body []byte) (*Response, error) {
	return cleaned(parseCheckStatusResponse(body))
}

func parseCheckStatusResponse(body []byte) (*Response, error) {
	return parseSOAP(body, CheckStatusNS, "CheckStatusResponse", parseResponse)
}

// cleaned is a public parser's answer. The private parsers leave server text
// in errors whole, so the client can redact secrets before truncating
// (truncating first could cut a secret in two and leave half of it
// unredacted); with no secrets known, the text is only truncated here.
func cleaned[T any](v T, err error) (T, error) {
	if err != nil {
		var zero T
		return zero, cleanError(err, nil)
	}
	return v, nil
}

// parseSOAP finds the operation's response element (by namespace, or
// unqualified, and local name) in body and reads it with inner, from just
// inside it; a SOAP Fault found first is returned as an *Error.
func parseSOAP[T any](body []byte, ns, response string, inner func(*xml.Decoder) (T, error)) (T, error) {
	var zero T
	body = bytes.TrimPrefix(body, []byte("\xEF\xBB\xBF"))
	d := newDecoder(body)
	for {
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return zero, malformed("no "+response+" or Fault in body", nil)
			}
			return zero, malformed("", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch {
		case se.Name.Space == SOAPEnvelopeNS && se.Name.Local == "Fault":
			return zero, parseFault(d, &se)
		case se.Name.Local == response && (se.Name.Space == ns || se.Name.Space == ""):
			v, err := inner(d)
			if err != nil {
				return zero, err
			}
			// Read to the end: an envelope cut short after the response is a
			// truncated body, not a success.
			if err := drain(d); err != nil {
				return zero, err
			}
			return v, nil
		}
	}
}

// maxDepth bounds element nesting. No real answer nests deeper than 7 (a
// CheckStatus exception), and encoding/xml keeps a record for every open
// element: unbounded, a 3.8 MB answer nested 550,000 deep cost 137 MB.
const maxDepth = 64

// newDecoder reads body with element nesting bounded by maxDepth. Declared
// charsets other than UTF-8 are not expected from the service; reading the
// bytes as they are gives a clear parse error rather than a silent guess.
func newDecoder(body []byte) *xml.Decoder {
	raw := xml.NewDecoder(bytes.NewReader(body))
	raw.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	return xml.NewTokenDecoder(&depthLimit{raw: raw})
}

// depthLimit hands the decoder raw tokens (the raw reader keeps no record
// of open elements; the decoder above it checks nesting and namespaces) and
// fails at the first element past maxDepth, before its record is made.
type depthLimit struct {
	raw   *xml.Decoder
	depth int
}

var errTooDeep = fmt.Errorf("elements nested over %d deep", maxDepth)

func (l *depthLimit) Token() (xml.Token, error) {
	tok, err := l.raw.RawToken()
	switch tok.(type) {
	case xml.StartElement:
		if l.depth++; l.depth > maxDepth {
			return nil, errTooDeep
		}
	case xml.EndElement:
		l.depth--
	}
	return tok, err
}

func drain(d *xml.Decoder) error {
	for {
		if _, err := d.Token(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return malformed("", err)
		}
	}
}

// inOperation reports whether an element belongs to the operation: in its
// namespace, or unqualified as some serializers (and the vendor's sample) write it.
func inOperation(n xml.Name, local string) bool {
	return n.Local == local && (n.Space == CheckStatusNS || n.Space == "")
}

func parseResponse(d *xml.Decoder) (*Response, error) {
	resp := &Response{}
	depth := 0 // 0: in CheckStatusResponse; 1: in DocumentStatusCheckResults
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, malformed("", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 1 && inOperation(t.Name, "DocumentStatusCheckResult") {
				r, ok, err := parseResult(d, &t)
				if err != nil {
					return nil, err
				}
				if ok {
					resp.Results = append(resp.Results, r)
				} else {
					resp.Skipped++
				}
				continue
			}
			if depth == 0 && inOperation(t.Name, "DocumentStatusCheckResults") {
				depth = 1
				continue
			}
			// Unknown element: skip it whole.
			if err := d.Skip(); err != nil {
				return nil, malformed("", err)
			}
		case xml.EndElement:
			if depth == 0 {
				return resp, nil
			}
			depth--
		}
	}
}

// operationAttr reports whether an attribute is one of the operation's:
// unqualified, or qualified with the operation namespace by a stricter serializer.
func operationAttr(n xml.Name) bool { return n.Space == "" || n.Space == CheckStatusNS }

func parseResult(d *xml.Decoder, se *xml.StartElement) (Result, bool, error) {
	var r Result
	isNil := isNilElement(se)
	for _, a := range se.Attr {
		if !operationAttr(a.Name) {
			continue
		}
		switch a.Name.Local {
		case "Id":
			r.ID = strings.ToUpper(strings.TrimSpace(a.Value))
		case "StatusType":
			r.RawStatus = strings.TrimSpace(a.Value)
			r.Status = ParseStatus(r.RawStatus)
		case "StatusDate":
			r.StatusDate, _ = ParseStatusDate(a.Value) // an unreadable date is left unknown
		case "StatusDetails":
			r.StatusDetails = a.Value
			r.Step = StepNumber(a.Value)
		}
	}
	for {
		tok, err := d.Token()
		if err != nil {
			return r, false, malformed("", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if inOperation(t.Name, "Exceptions") {
				if err := parseExceptions(d, &r); err != nil {
					return r, false, err
				}
				continue
			}
			if err := d.Skip(); err != nil {
				return r, false, malformed("", err)
			}
		case xml.EndElement:
			return r, !isNil && r.ID != "", nil
		}
	}
}

// StepNumber reads N from "Step N" (any case; the space optional); 0 when there
// is none or N has more than 9 digits.
func StepNumber(s string) int {
	for i := 0; i+4 <= len(s); i++ {
		if !strings.EqualFold(s[i:i+4], "step") || (i > 0 && isWordByte(s[i-1])) {
			continue
		}
		j := i + 4
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		k := j
		for k < len(s) && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		if k == j || k-j > 9 || (k < len(s) && isWordByte(s[k])) {
			continue
		}
		n, _ := strconv.Atoi(s[j:k])
		return n
	}
	return 0
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func parseExceptions(d *xml.Decoder, r *Result) error {
	for {
		tok, err := d.Token()
		if err != nil {
			return malformed("", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if !inOperation(t.Name, "StatusCheckException") || isNilElement(&t) {
				if err := d.Skip(); err != nil {
					return malformed("", err)
				}
				continue
			}
			var ex struct {
				Severity string `xml:"Severity,attr"`
				Text     string `xml:",chardata"`
			}
			if err := d.DecodeElement(&ex, &t); err != nil {
				return malformed("", err)
			}
			r.Exceptions = append(r.Exceptions, Exception{Severity: ParseSeverity(strings.TrimSpace(ex.Severity)), Message: strings.TrimSpace(ex.Text)})
		case xml.EndElement:
			return nil
		}
	}
}

func isNilElement(se *xml.StartElement) bool {
	for _, a := range se.Attr {
		if a.Name.Space == XSINS && a.Name.Local == "nil" {
			v := strings.TrimSpace(a.Value) // xs:boolean collapses whitespace
			return v == "true" || v == "1"
		}
	}
	return false
}

func parseFault(d *xml.Decoder, se *xml.StartElement) error {
	// SOAP 1.1 fault children are unqualified.
	var f struct {
		Code   string `xml:"faultcode"`
		String string `xml:"faultstring"`
	}
	if err := d.DecodeElement(&f, se); err != nil {
		return malformed("unreadable SOAP Fault", err)
	}
	return &Error{Kind: KindSOAPFault, FaultCode: strings.TrimSpace(f.Code), FaultString: strings.TrimSpace(f.String)}
}

// ParseStatusDate reads an xs:dateTime with up to 7 fractional digits. WCF may
// omit the offset; such a value is read as UTC.
func ParseStatusDate(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	// Go's parser accepts a fraction after the seconds even when the layout has none.
	if t, err := time.Parse("2006-01-02T15:04:05Z07:00", v); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02T15:04:05", v)
}

func malformed(detail string, err error) *Error {
	return &Error{Kind: KindMalformed, Detail: detail, Err: err}
}

// cleanError returns a copy of err with every server-derived string passed
// through clean (when set) and then truncated. The cause's chain is kept
// unless its text had to change.
func cleanError(err error, clean func(string) string) error {
	if clean == nil {
		clean = func(s string) string { return s }
	}
	var e *Error
	if !errors.As(err, &e) {
		return &Error{Kind: KindTransport, Detail: Truncate(clean(err.Error()), maxErrText)}
	}
	c := *e
	c.FaultCode = Truncate(clean(e.FaultCode), maxFaultCode)
	c.FaultString = Truncate(clean(e.FaultString), maxFaultString)
	c.Detail = Truncate(clean(e.Detail), maxErrText)
	if e.Err != nil {
		msg := e.Err.Error()
		if m := Truncate(clean(msg), maxErrText); m != msg {
			c.Err = errors.New(m)
		}
	}
	return &c
}

// Truncate cuts s to at most n bytes, on a rune boundary, and marks the cut;
// the exporter uses it on every text of AssureSign's it logs or shows.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

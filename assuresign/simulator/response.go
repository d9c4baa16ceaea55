package simulator

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"strings"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
)

// Date layouts: .NET writes seven fractional digits; WCF may leave the
// offset out (a DateTime of unspecified kind).
const (
	dateLayout         = "2006-01-02T15:04:05.0000000-07:00"
	dateLayoutNoOffset = "2006-01-02T15:04:05.0000000"
)

const contentTypeXML = "text/xml; charset=utf-8"

// Exception messages for documents the caller may not see. The reference
// does not know the vendor's texts; these never hold the request's values.
const (
	msgWrongContext  = "The ContextIdentifier is not valid for this account."
	msgNotFound      = "The document was not found."
	msgWrongToken    = "The AuthToken is not valid for this document." //nolint:gosec // G101: a message, not a credential
	msgInternalError = "The server was unable to process the request due to an internal error."
)

// answer is an HTTP response to write.
type answer struct {
	status      int
	contentType string
	body        []byte
}

// envelope writes the SOAP envelope around inner, with the prefix the options
// ask for.
type envelope struct {
	prefix string // "" for a default namespace
}

func newEnvelope(o Options) envelope {
	switch o.Prefix {
	case "":
		return envelope{prefix: "s"}
	case NoPrefix:
		return envelope{}
	}
	return envelope{prefix: o.Prefix}
}

func (e envelope) q(local string) string {
	if e.prefix == "" {
		return local
	}
	return e.prefix + ":" + local
}

func (e envelope) open(b *bytes.Buffer, extraDecl string) {
	b.WriteString("<" + e.q("Envelope") + " ")
	if e.prefix == "" {
		b.WriteString(`xmlns="` + assuresign.SOAPEnvelopeNS + `"`)
	} else {
		b.WriteString(`xmlns:` + e.prefix + `="` + assuresign.SOAPEnvelopeNS + `"`)
	}
	b.WriteString(extraDecl)
	b.WriteString("><" + e.q("Body") + ">")
}

func (e envelope) close(b *bytes.Buffer) {
	b.WriteString("</" + e.q("Body") + "></" + e.q("Envelope") + ">")
}

func startBody(o Options) *bytes.Buffer {
	b := &bytes.Buffer{}
	if o.BOM {
		b.WriteString("\xef\xbb\xbf")
	}
	return b
}

// faultAnswer is a SOAP 1.1 Fault, HTTP 500. code is "Client" or "Server";
// it is qualified with the envelope's prefix ("s" when the envelope has none).
func faultAnswer(o Options, code, msg string) answer {
	e := newEnvelope(o)
	b := startBody(o)
	codePrefix, extra, unqualified := e.prefix, "", ""
	if e.prefix == "" {
		// Default namespace on the envelope: bind "s" for the QName and
		// take faultcode and faultstring out of the default namespace, as
		// SOAP 1.1 wants them unqualified.
		codePrefix, extra, unqualified = "s", ` xmlns:s="`+assuresign.SOAPEnvelopeNS+`"`, ` xmlns=""`
	}
	e.open(b, extra)
	b.WriteString("<" + e.q("Fault") + ">")
	b.WriteString("<faultcode" + unqualified + ">" + codePrefix + ":" + code + "</faultcode>")
	b.WriteString("<faultstring" + unqualified + ` xml:lang="en-US">`)
	escape(b, msg)
	b.WriteString("</faultstring>")
	b.WriteString("</" + e.q("Fault") + ">")
	e.close(b)
	return answer{status: 500, contentType: contentTypeXML, body: b.Bytes()}
}

// resultsAnswer answers checks, in request order. With omitOdd it leaves out
// every second requested document (FaultMissingResults).
func (s *Simulator) resultsAnswer(o Options, checks []check, omitOdd bool) answer {
	s.mu.Lock()
	results := make([]Document, 0, len(checks))
	for i, c := range checks {
		if omitOdd && i%2 == 1 {
			continue
		}
		results = append(results, s.resultFor(c))
	}
	s.mu.Unlock()

	e := newEnvelope(o)
	b := startBody(o)
	e.open(b, "")
	b.WriteString(`<CheckStatusResponse xmlns="` + assuresign.CheckStatusNS + `"`)
	if o.NilResults {
		b.WriteString(` xmlns:xsi="` + assuresign.XSINS + `"`)
	}
	b.WriteString("><DocumentStatusCheckResults>")
	for i, d := range results {
		writeResult(b, o, d)
		if o.NilResults && i == 0 {
			b.WriteString(`<DocumentStatusCheckResult xsi:nil="true"/>`)
		}
	}
	if o.NilResults && len(results) == 0 {
		b.WriteString(`<DocumentStatusCheckResult xsi:nil="true"/>`)
	}
	b.WriteString("</DocumentStatusCheckResults></CheckStatusResponse>")
	e.close(b)
	return answer{status: 200, contentType: contentTypeXML, body: b.Bytes()}
}

// resultFor decides what one check gets, as a Document to render: a document
// with only an ID and exceptions is rendered without status attributes.
// Call with s.mu held.
func (s *Simulator) resultFor(c check) Document {
	denied := func(msg string) Document {
		return Document{ID: c.id, Exceptions: []assuresign.Exception{{Severity: assuresign.SeverityError, Message: msg}}}
	}
	if !strings.EqualFold(c.contextID, s.contextID) {
		return denied(msgWrongContext)
	}
	d, ok := s.docs[key(c.id)]
	if !ok {
		return denied(msgNotFound)
	}
	if !strings.EqualFold(c.authToken, d.AuthToken) {
		return denied(msgWrongToken)
	}
	return d.clone()
}

func writeResult(b *bytes.Buffer, o Options, d Document) {
	id := strings.ToUpper(d.ID)
	if o.LowerCaseIDs {
		id = strings.ToLower(d.ID)
	}
	b.WriteString(`<DocumentStatusCheckResult Id="`)
	escape(b, id)
	b.WriteString(`"`)
	if !d.StatusDate.IsZero() {
		attr(b, "StatusDate", formatDate(d.StatusDate, o.NoOffset))
	}
	if st := statusType(d); st != "" {
		attr(b, "StatusType", st)
	}
	if sd := statusDetails(d); sd != "" {
		attr(b, "StatusDetails", sd)
	}
	if len(d.Exceptions) == 0 {
		b.WriteString("/>")
		return
	}
	b.WriteString("><Exceptions>")
	for _, x := range d.Exceptions {
		b.WriteString(`<StatusCheckException Severity="`)
		escape(b, x.Severity.String())
		b.WriteString(`">`)
		escape(b, x.Message)
		b.WriteString("</StatusCheckException>")
	}
	b.WriteString("</Exceptions></DocumentStatusCheckResult>")
}

// statusDetails is "Step N" while a document is at signing step N, else "".
func statusDetails(d Document) string {
	if d.Status == assuresign.StatusSigningStepInProgress && d.Step > 0 {
		return "Step " + strconv.Itoa(d.Step)
	}
	return ""
}

// statusType is the StatusType attribute: RawStatus if set, else the
// status's name; none for StatusUnknown (a result without a status).
func statusType(d Document) string {
	if d.RawStatus != "" {
		return d.RawStatus
	}
	if d.Status == assuresign.StatusUnknown {
		return ""
	}
	return d.Status.String()
}

func formatDate(t time.Time, noOffset bool) string {
	if noOffset {
		return t.Format(dateLayoutNoOffset)
	}
	return t.Format(dateLayout)
}

func attr(b *bytes.Buffer, name, value string) {
	b.WriteString(" " + name + `="`)
	escape(b, value)
	b.WriteString(`"`)
}

// escape writes s escaped for both text and attribute values.
func escape(b *bytes.Buffer, s string) {
	_ = xml.EscapeText(b, []byte(s))
}

package simulator

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
)

// check is one DocumentStatusCheck as received.
type check struct {
	contextID, id, authToken string
}

// requestError is a rejected request; its message becomes the faultstring
// and never holds an attribute value.
type requestError struct{ msg string }

func (e *requestError) Error() string { return e.msg }

func reject(format string, a ...any) *requestError {
	return &requestError{msg: fmt.Sprintf(format, a...)}
}

// readRequest validates the headers and body of a POST and returns the checks
// it carries.
func readRequest(w http.ResponseWriter, r *http.Request) ([]check, *requestError) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil, reject("The request has no Content-Type; expected 'text/xml; charset=utf-8'.")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "text/xml" {
		return nil, reject("Cannot process the message because the content type %s was not the expected type 'text/xml; charset=utf-8'.", quoteForFault(ct))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, reject("Cannot process the message because the charset %s is not utf-8.", quoteForFault(cs))
	}
	action, ok := r.Header["Soapaction"]
	if !ok || len(action) == 0 {
		return nil, reject("The request has no SOAPAction header; expected '%s'.", assuresign.CheckStatusAction)
	}
	a := strings.TrimSpace(action[0])
	if len(a) >= 2 && a[0] == '"' && a[len(a)-1] == '"' {
		a = a[1 : len(a)-1]
	}
	if a != assuresign.CheckStatusAction {
		return nil, reject("The message with Action %s cannot be processed at the receiver, due to a ContractFilter mismatch at the EndpointDispatcher; expected '%s'.", quoteForFault(a), assuresign.CheckStatusAction)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, reject("The request body exceeds the maximum size of %d bytes.", MaxRequestBody)
		}
		return nil, reject("The request body could not be read.")
	}
	return parseRequest(body)
}

// quoteForFault quotes a header value for a faultstring, shortened. Header
// values here are never secrets (content type, SOAPAction).
func quoteForFault(v string) string {
	const max = 120
	if len(v) > max {
		v = v[:max] + "..."
	}
	return fmt.Sprintf("%q", v)
}

func nameForFault(n xml.Name) string {
	s := n.Local
	if n.Space != "" {
		s = "{" + n.Space + "}" + n.Local
	}
	return quoteForFault(s)
}

var (
	nameEnvelope  = xml.Name{Space: assuresign.SOAPEnvelopeNS, Local: "Envelope"}
	nameHeader    = xml.Name{Space: assuresign.SOAPEnvelopeNS, Local: "Header"}
	nameBody      = xml.Name{Space: assuresign.SOAPEnvelopeNS, Local: "Body"}
	nameCheck     = xml.Name{Space: assuresign.CheckStatusNS, Local: "CheckStatus"}
	nameChecks    = xml.Name{Space: assuresign.CheckStatusNS, Local: "DocumentStatusChecks"}
	nameCheckItem = xml.Name{Space: assuresign.CheckStatusNS, Local: "DocumentStatusCheck"}
)

// reqParser walks a request strictly: every element must be where the
// reference puts it, in its namespace; stray text is an error.
type reqParser struct {
	d *xml.Decoder
}

// next returns the next StartElement or EndElement, skipping comments,
// processing instructions and whitespace.
func (p *reqParser) next() (xml.Token, *requestError) {
	for {
		tok, err := p.d.Token()
		if err != nil {
			return nil, syntaxError(err)
		}
		switch t := tok.(type) {
		case xml.StartElement, xml.EndElement:
			return t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, reject("The request has unexpected text content.")
			}
		case xml.Directive:
			return nil, reject("DTDs and other XML directives are prohibited in the request.")
		}
	}
}

func syntaxError(err error) *requestError {
	var se *xml.SyntaxError
	errors.As(err, &se)
	if errors.Is(err, io.EOF) || se != nil && se.Msg == "unexpected EOF" {
		return reject("The request ends before its XML document is complete.")
	}
	if se != nil {
		// Not se.Msg: it can quote request text, and the request holds secrets.
		return reject("The request is not well-formed XML (line %d).", se.Line)
	}
	return reject("The request is not well-formed XML.")
}

// parseRequest reads a SOAP 1.1 CheckStatus request.
func parseRequest(body []byte) ([]check, *requestError) {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	p := &reqParser{d: xml.NewDecoder(bytes.NewReader(body))}

	if len(bytes.TrimSpace(body)) == 0 {
		return nil, reject("The request body is empty.")
	}
	if bytes.TrimLeft(body, " \t\r\n")[0] != '<' {
		return nil, reject("The request is not well-formed XML: it does not start with markup.")
	}
	tok, rerr := p.next()
	if rerr != nil {
		return nil, rerr
	}
	env, ok := tok.(xml.StartElement)
	if !ok || env.Name != nameEnvelope {
		return nil, reject("The request's root element is %s; expected a SOAP 1.1 Envelope in namespace '%s'.", nameForFault(env.Name), assuresign.SOAPEnvelopeNS)
	}

	var checks []check
	seenBody := false
	for {
		tok, rerr := p.next()
		if rerr != nil {
			return nil, rerr
		}
		if _, ok := tok.(xml.EndElement); ok {
			break
		}
		el := tok.(xml.StartElement)
		switch {
		case el.Name == nameHeader && !seenBody:
			if err := p.d.Skip(); err != nil {
				return nil, syntaxError(err)
			}
		case el.Name == nameBody && !seenBody:
			seenBody = true
			c, rerr := p.body()
			if rerr != nil {
				return nil, rerr
			}
			checks = c
		default:
			return nil, reject("Unexpected element %s in the SOAP Envelope.", nameForFault(el.Name))
		}
	}
	if !seenBody {
		return nil, reject("The SOAP Envelope has no Body.")
	}
	// Nothing but comments, processing instructions and whitespace may follow.
	for {
		tok, err := p.d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, syntaxError(err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, reject("The request has content after the SOAP Envelope.")
			}
		case xml.Comment, xml.ProcInst:
		default:
			return nil, reject("The request has content after the SOAP Envelope.")
		}
	}
	return checks, nil
}

// body reads the Body's content after its start tag, through its end tag.
func (p *reqParser) body() ([]check, *requestError) {
	tok, rerr := p.next()
	if rerr != nil {
		return nil, rerr
	}
	op, ok := tok.(xml.StartElement)
	if !ok {
		return nil, reject("The SOAP Body is empty; expected CheckStatus in namespace '%s'.", assuresign.CheckStatusNS)
	}
	if op.Name != nameCheck {
		return nil, reject("Unexpected element %s in the SOAP Body; expected CheckStatus in namespace '%s'.", nameForFault(op.Name), assuresign.CheckStatusNS)
	}
	checks, rerr := p.checkStatus()
	if rerr != nil {
		return nil, rerr
	}
	tok, rerr = p.next()
	if rerr != nil {
		return nil, rerr
	}
	if el, ok := tok.(xml.StartElement); ok {
		return nil, reject("Unexpected element %s after CheckStatus in the SOAP Body.", nameForFault(el.Name))
	}
	return checks, nil
}

// checkStatus reads CheckStatus's content through its end tag.
func (p *reqParser) checkStatus() ([]check, *requestError) {
	checks := []check{}
	seen := false
	for {
		tok, rerr := p.next()
		if rerr != nil {
			return nil, rerr
		}
		el, ok := tok.(xml.StartElement)
		if !ok {
			return checks, nil
		}
		if el.Name != nameChecks {
			return nil, reject("Unexpected element %s in CheckStatus; expected DocumentStatusChecks in namespace '%s'.", nameForFault(el.Name), assuresign.CheckStatusNS)
		}
		if seen {
			return nil, reject("CheckStatus holds more than one DocumentStatusChecks.")
		}
		seen = true
		for {
			tok, rerr := p.next()
			if rerr != nil {
				return nil, rerr
			}
			item, ok := tok.(xml.StartElement)
			if !ok {
				break
			}
			if item.Name != nameCheckItem {
				return nil, reject("Unexpected element %s in DocumentStatusChecks; expected DocumentStatusCheck in namespace '%s'.", nameForFault(item.Name), assuresign.CheckStatusNS)
			}
			c, rerr := p.checkItem(item, len(checks)+1)
			if rerr != nil {
				return nil, rerr
			}
			checks = append(checks, c)
		}
	}
}

// checkItem reads one DocumentStatusCheck (the n-th) through its end tag.
func (p *reqParser) checkItem(el xml.StartElement, n int) (check, *requestError) {
	var c check
	found := map[string]*string{"ContextIdentifier": &c.contextID, "Id": &c.id, "AuthToken": &c.authToken}
	seen := map[string]bool{}
	for _, a := range el.Attr {
		if a.Name.Space != "" {
			continue // namespace declarations, xsi:*, and the like
		}
		dst, ok := found[a.Name.Local]
		if !ok {
			continue // unknown attributes are ignored, as XmlSerializer does
		}
		*dst = a.Value
		seen[a.Name.Local] = true
	}
	for _, name := range []string{"ContextIdentifier", "Id", "AuthToken"} {
		if !seen[name] {
			return c, reject("DocumentStatusCheck %d has no %s attribute.", n, name)
		}
		if !assuresign.IsGUID(*found[name]) {
			return c, reject("The %s attribute of DocumentStatusCheck %d is not a GUID.", name, n)
		}
	}
	tok, rerr := p.next()
	if rerr != nil {
		return c, rerr
	}
	if child, ok := tok.(xml.StartElement); ok {
		return c, reject("Unexpected element %s in DocumentStatusCheck %d.", nameForFault(child.Name), n)
	}
	return c, nil
}

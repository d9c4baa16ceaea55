package assuresign

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"strings"
)

// Errors from ParseNotification. Their messages name at most a field, never
// body content: a notification body may carry anything.
var (
	// ErrNoDocumentID: the body was read but held no usable document id.
	ErrNoDocumentID = errors.New("assuresign: notification has no usable document id")
	// ErrMalformedNotification: the body could not be read as the chosen format.
	ErrMalformedNotification = errors.New("assuresign: malformed notification body")
)

// notifMaxText caps the text gathered from an XML element: a GUID with braces
// and padding fits many times over, and a huge element cannot be one.
const notifMaxText = 256

var notifBOM = []byte("\xef\xbb\xbf")

// ParseNotification extracts the document id, or the envelope id, from a
// DocumentTRAK notification body (fields documentid, document_id, envelopeid
// or envelope_id, any case; XML elements DocumentId or EnvelopeId).
// The body's shape is whatever the customer designed in DocumentTRAK.
//
// JSON, XML and form bodies are read, chosen by contentType; a missing,
// text/plain or unrecognised type is sniffed from the body's first byte. The
// first matching field (in document order) decides: its value must be a GUID,
// optionally in braces, and is returned upper case.
func ParseNotification(contentType string, body []byte) (string, error) {
	body = bytes.TrimPrefix(body, notifBOM) // .NET senders may prefix one
	switch notifFormat(contentType, body) {
	case "json":
		return notifJSON(body)
	case "xml":
		return notifXML(body)
	default:
		return notifForm(body)
	}
}

// notifFormat picks the parser. Types it does not know are sniffed rather than
// refused, since the customer sets the header in DocumentTRAK and may get it wrong.
func notifFormat(contentType string, body []byte) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt, _, _ = strings.Cut(contentType, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
	}
	switch {
	case mt == "application/json", mt == "text/json", strings.HasSuffix(mt, "+json"):
		return "json"
	case mt == "application/xml", mt == "text/xml", strings.HasSuffix(mt, "+xml"):
		return "xml"
	case mt == "application/x-www-form-urlencoded":
		return "form"
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	switch {
	case len(trimmed) > 0 && trimmed[0] == '{':
		return "json"
	case len(trimmed) > 0 && trimmed[0] == '<':
		return "xml"
	}
	return "form"
}

// notifKey reports whether a JSON or form key names the document id, or an
// envelope's id (the [Envelope ID] merge field): the exporter tells them apart.
func notifKey(k string) bool {
	for _, name := range [...]string{"documentid", "document_id", "envelopeid", "envelope_id"} {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// notifGUID validates a field's value and returns it upper case.
func notifGUID(field, v string) (string, error) {
	v = strings.TrimSpace(v)
	if len(v) == 38 && v[0] == '{' && v[37] == '}' {
		v = v[1:37]
	}
	if !IsGUID(v) {
		return "", fmt.Errorf("%w: %s is not a GUID", ErrNoDocumentID, field)
	}
	return strings.ToUpper(v), nil
}

// notifJSON walks the token stream rather than decoding into a map, so that
// "first found" means document order and nothing unneeded is built.
func notifJSON(body []byte) (string, error) {
	type frame struct{ obj, wantKey bool }
	var stack []frame
	consumed := func() { // a value ended: an object next expects a key
		if n := len(stack); n > 0 && stack[n-1].obj {
			stack[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return "", ErrNoDocumentID
		}
		if err != nil {
			return "", fmt.Errorf("%w: not JSON", ErrMalformedNotification)
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				consumed()
				stack = append(stack, frame{obj: t == '{', wantKey: t == '{'})
			default:
				stack = stack[:len(stack)-1]
				consumed()
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].wantKey {
				stack[n-1].wantKey = false
				if !notifKey(t) {
					continue
				}
				v, err := dec.Token()
				if err != nil {
					return "", fmt.Errorf("%w: not JSON", ErrMalformedNotification)
				}
				s, ok := v.(string)
				if !ok {
					return "", fmt.Errorf("%w: %s is not a string", ErrNoDocumentID, t)
				}
				return notifGUID(t, s)
			}
			consumed()
		default:
			consumed()
		}
	}
}

// notifXML streams tokens with encoding/xml, which never reads a DTD: a
// DOCTYPE is an opaque directive, and in strict mode an entity other than the
// five predefined ones is a syntax error, so nothing is expanded or fetched.
func notifXML(body []byte) (string, error) {
	// Strict, nesting bounded; the id is ASCII, so any declared
	// ASCII-compatible charset reads the same.
	d := newDecoder(body)
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return "", ErrNoDocumentID
		}
		if err != nil {
			return "", fmt.Errorf("%w: not XML", ErrMalformedNotification)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || !strings.EqualFold(se.Name.Local, "documentid") && !strings.EqualFold(se.Name.Local, "envelopeid") {
			continue
		}
		text, err := notifXMLText(d)
		if err != nil {
			return "", err
		}
		return notifGUID(se.Name.Local, text)
	}
}

// notifXMLText gathers an element's own text. Text over notifMaxText bytes
// comes back empty, so a dropped chunk cannot leave a GUID-shaped remainder.
func notifXMLText(d *xml.Decoder) (string, error) {
	var b strings.Builder
	over := false
	for depth := 1; depth > 0; {
		tok, err := d.Token()
		if err != nil {
			return "", fmt.Errorf("%w: not XML", ErrMalformedNotification)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 1 && !over {
				over = b.Len()+len(t) > notifMaxText
				b.Write(t)
			}
		}
	}
	if over {
		return "", nil
	}
	return b.String(), nil
}

// notifForm reads key=value pairs in order (url.ParseQuery's map would lose
// it). A body that is only a GUID is accepted too: DocumentTRAK lets the
// customer send a bare text merge field.
func notifForm(body []byte) (string, error) {
	s := strings.TrimSpace(string(body))
	if s == "" {
		return "", ErrNoDocumentID
	}
	for pair := range strings.SplitSeq(s, "&") {
		k, v, _ := strings.Cut(pair, "=")
		k, err := url.QueryUnescape(k)
		if err != nil || !notifKey(k) {
			continue
		}
		v, err = url.QueryUnescape(v)
		if err != nil {
			return "", fmt.Errorf("%w: %s is badly escaped", ErrNoDocumentID, k)
		}
		return notifGUID(k, v)
	}
	if id, err := notifGUID("body", s); err == nil {
		return id, nil
	}
	return "", ErrNoDocumentID
}

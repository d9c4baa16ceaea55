package assuresign

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// Envelopes wire constants, from the vendor's ListEnvelopeDocuments page.
const (
	EnvelopesNS                 = "https://www.assuresign.net/Services/DocumentNOW/Envelopes"
	ListEnvelopeDocumentsAction = "https://www.assuresign.net/Services/DocumentNOW/Envelopes/IEnvelopeService/ListEnvelopeDocuments"
	// DefaultEnvelopesPath is the path public code calls; not confirmed by the vendor.
	DefaultEnvelopesPath = "/Services/DocumentNOW/v2/DocumentNOW.svc/Envelopes/text"
)

// DefaultEnvelopesEndpoint returns checkStatusEndpoint's scheme and host with
// DefaultEnvelopesPath, or "" when it is not a URL.
func DefaultEnvelopesEndpoint(checkStatusEndpoint string) string {
	u, err := url.Parse(checkStatusEndpoint)
	if err != nil || u.Host == "" {
		return ""
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: DefaultEnvelopesPath}).String()
}

// EnvelopeRequest asks for one envelope's documents. AuthToken and
// ContextIdentifier are secrets.
type EnvelopeRequest struct {
	ID                string
	AuthToken         string
	ContextIdentifier string
}

// EnvelopeDocument is one document of a listed envelope. AuthToken is a
// secret: String and LogValue leave it out.
type EnvelopeDocument struct {
	ID        string // GUID, upper case
	AuthToken string // GUID as sent
	Name      string // may carry personal data: shown to people, never in metrics
	OrderID   string // digits, or "" when absent or not a number
}

func (d EnvelopeDocument) String() string {
	return fmt.Sprintf("%s (order %s)", d.ID, d.OrderID)
}

// GoString keeps %#v from printing the AuthToken.
func (d EnvelopeDocument) GoString() string {
	return fmt.Sprintf("assuresign.EnvelopeDocument{ID:%q, Name:%q, OrderID:%q}", d.ID, d.Name, d.OrderID)
}

// LogValue keeps slog from printing the AuthToken.
func (d EnvelopeDocument) LogValue() slog.Value { return slog.StringValue(d.String()) }

// EnvelopeListing is a parsed ListEnvelopeDocumentsResponse.
type EnvelopeListing struct {
	EnvelopeID string // upper case; "" when the answer did not say
	Documents  []EnvelopeDocument
	// Skipped counts documents that could not be used: without a GUID DocumentId
	// or AuthToken, nil, or listed twice.
	Skipped int
	// Status is the envelope's own status, when the API says it (REST);
	// StatusUnknown otherwise.
	Status Status
	// Results are the documents' statuses, when the listing's answer gave
	// them (REST): recorded as check results, so they cost no second request.
	Results []Result
}

// Bounds on what a listed document brings along.
const (
	maxDocumentName = 256
	maxOrderID      = 9
)

// ListEnvelopeDocuments asks for the documents of one envelope, retrying
// transient failures within ctx. Every failure is an *Error: a Fault, an HTTP
// error, an answer about another envelope, or (KindNoDocuments) an answer
// without any usable document.
func (c *Client) ListEnvelopeDocuments(ctx context.Context, req EnvelopeRequest) (*EnvelopeListing, error) {
	red := NewRedactor(c.secrets, req.AuthToken, req.ContextIdentifier)
	var listing *EnvelopeListing
	err := c.call(ctx, operation{"ListEnvelopeDocuments", OpListEnvelopeDocuments, c.envelopes, ListEnvelopeDocumentsAction},
		EncodeListEnvelopeDocumentsRequest(req), red,
		func(data []byte) (err error) {
			listing, err = parseListEnvelopeDocumentsResponse(data)
			return err
		})
	if err != nil {
		return nil, err
	}
	want := strings.ToUpper(strings.TrimSpace(req.ID))
	if len(listing.Documents) == 0 && listing.EnvelopeID == "" {
		// A nil result: the service has nothing to say about the envelope.
		return nil, &Error{Kind: KindNoDocuments, Detail: fmt.Sprintf("envelope %s (%d unusable)", Truncate(want, 64), listing.Skipped)}
	}
	// Documents are only watched on the word of an answer that names the
	// envelope asked about: any other could be another customer's.
	if listing.EnvelopeID == "" {
		return nil, &Error{Kind: KindMalformed, Detail: "the answer names no envelope"}
	}
	if listing.EnvelopeID != want {
		return nil, &Error{Kind: KindMalformed, Detail: "the answer lists another envelope, " + Truncate(red.Redact(listing.EnvelopeID), 64)}
	}
	if len(listing.Documents) == 0 {
		return nil, &Error{Kind: KindNoDocuments, Detail: fmt.Sprintf("envelope %s (%d unusable)", Truncate(want, 64), listing.Skipped)}
	}
	tokens := make([]string, len(listing.Documents))
	for i, d := range listing.Documents {
		tokens[i] = d.AuthToken
	}
	// Known from now on: a later answer, this envelope's or another's, may echo them.
	c.secrets.Set(ListedTokensSource(want), tokens)
	for i := range listing.Documents {
		d := &listing.Documents[i]
		d.Name = red.Redact(d.Name)
		if red.Redact(d.OrderID) != d.OrderID {
			d.OrderID = "" // 8 or 9 digits that are a piece of a secret: no label
		}
	}
	return listing, nil
}

// ListedTokensSource names, in Secrets, the AuthTokens an envelope's listing
// brought; its watcher clears it when the envelope leaves the watch list.
func ListedTokensSource(envelopeID string) string { return "envelope " + strings.ToUpper(envelopeID) }

// EncodeListEnvelopeDocumentsRequest builds the SOAP 1.1 envelope for req.
func EncodeListEnvelopeDocumentsRequest(req EnvelopeRequest) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="` + SOAPEnvelopeNS + `"><s:Body>`)
	b.WriteString(`<ListEnvelopeDocuments xmlns="` + EnvelopesNS + `"><ListEnvelopeDocumentsRequest ContextIdentifier="`)
	writeAttr(&b, req.ContextIdentifier)
	b.WriteString(`" EnvelopeId="`)
	writeAttr(&b, req.ID)
	b.WriteString(`" AuthToken="`)
	writeAttr(&b, req.AuthToken)
	b.WriteString(`"/></ListEnvelopeDocuments></s:Body></s:Envelope>`)
	return b.Bytes()
}

// ParseListEnvelopeDocumentsResponse reads a ListEnvelopeDocuments answer, as
// tolerantly as ParseCheckStatusResponse: any prefix, a bare response, a BOM,
// GUIDs of either case. A SOAP Fault is an *Error of KindSOAPFault. An answer
// without documents is returned as such: the client makes it an error.
func ParseListEnvelopeDocumentsResponse(body []byte) (*EnvelopeListing, error) {
	return cleaned(parseListEnvelopeDocumentsResponse(body))
}

func parseListEnvelopeDocumentsResponse(body []byte) (*EnvelopeListing, error) {
	return parseSOAP(body, EnvelopesNS, "ListEnvelopeDocumentsResponse", parseListing)
}

func inEnvelopes(n xml.Name, local string) bool {
	return n.Local == local && (n.Space == EnvelopesNS || n.Space == "")
}

// parseListing reads ListEnvelopeDocumentsResponse's content: the result
// (exactly one, possibly nil), its Documents and their EnvelopeDocument items.
func parseListing(d *xml.Decoder) (*EnvelopeListing, error) {
	l := &EnvelopeListing{}
	seen := map[string]bool{}
	results := 0
	depth := 0 // 0: in the response; 1: in the result; 2: in Documents
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, malformed("", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			isResult := depth == 0 && inEnvelopes(t.Name, "ListEnvelopeDocumentsResult")
			if isResult {
				// A second result would let one envelope's answer carry
				// another's documents.
				if results++; results > 1 {
					return nil, malformed("more than one ListEnvelopeDocumentsResult", nil)
				}
			}
			switch {
			case isResult && !isNilElement(&t):
				for _, a := range t.Attr {
					if envelopeAttr(a.Name) && a.Name.Local == "EnvelopeId" {
						l.EnvelopeID = strings.ToUpper(strings.TrimSpace(a.Value))
					}
				}
				depth = 1
				continue
			case depth == 1 && inEnvelopes(t.Name, "Documents") && !isNilElement(&t):
				depth = 2
				continue
			case depth == 2 && inEnvelopes(t.Name, "EnvelopeDocument"):
				doc, ok := envelopeDocument(&t)
				if ok && !seen[doc.ID] {
					seen[doc.ID] = true
					l.Documents = append(l.Documents, doc)
				} else {
					l.Skipped++
				}
			}
			if err := d.Skip(); err != nil {
				return nil, malformed("", err)
			}
		case xml.EndElement:
			if depth == 0 {
				if results == 0 {
					return nil, malformed("no ListEnvelopeDocumentsResult", nil)
				}
				return l, nil
			}
			depth--
		}
	}
}

func envelopeAttr(n xml.Name) bool { return n.Space == "" || n.Space == EnvelopesNS }

// envelopeDocument reads one EnvelopeDocument's attributes; ok is false when
// it cannot be checked (no GUID id or token, or nil).
func envelopeDocument(se *xml.StartElement) (doc EnvelopeDocument, ok bool) {
	if isNilElement(se) {
		return doc, false
	}
	for _, a := range se.Attr {
		if !envelopeAttr(a.Name) {
			continue
		}
		v := strings.TrimSpace(a.Value)
		switch a.Name.Local {
		case "DocumentId":
			doc.ID = strings.ToUpper(v)
		case "AuthToken":
			doc.AuthToken = v
		case "Name":
			doc.Name = Truncate(strings.ToValidUTF8(v, "\uFFFD"), maxDocumentName)
		case "OrderId":
			if v != "" && len(v) <= maxOrderID && strings.Trim(v, "0123456789") == "" {
				doc.OrderID = v
			}
		}
	}
	return doc, IsGUID(doc.ID) && IsGUID(doc.AuthToken)
}

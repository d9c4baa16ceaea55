package assuresign

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	trakID   = "9f3c2a71-4b8e-4d2a-a1c5-0e6f7b8c9d10"
	trakIDUC = "9F3C2A71-4B8E-4D2A-A1C5-0E6F7B8C9D10"
)

func TestParseNotificationAccepts(t *testing.T) {
	cases := []struct {
		name, ct, body string
	}{
		{"json documentId", "application/json", `{"documentId":"` + trakID + `"}`},
		{"json DocumentID", "application/json; charset=utf-8", `{"DocumentID":"` + trakID + `"}`},
		{"json document_id", "application/json", `{"document_id":"` + trakID + `"}`},
		{"json DocumentId", "application/json", `{"DocumentId":"` + trakID + `"}`},
		{"json key any case", "application/json", `{"DOCUMENTID":"` + trakID + `"}`},
		{"json braces", "application/json", `{"documentId":"{` + trakID + `}"}`},
		{"json padded", "application/json", `{"documentId":"  ` + trakID + ` "}`},
		{"json nested", "application/json",
			`{"event":"completed","envelope":{"name":"x","docs":{"DocumentID":"` + trakID + `"}}}`},
		{"json in array", "application/json", `{"documents":[1,{"documentId":"` + trakID + `"}]}`},
		{"json other keys first", "application/json",
			`{"documentName":"[x]","status":"Completed","n":1.5,"ok":true,"z":null,"documentId":"` + trakID + `"}`},
		{"json vendor type", "application/vnd.trak+json", `{"documentId":"` + trakID + `"}`},
		{"json sniffed", "", ` {"documentId":"` + trakID + `"}`},
		{"json text/plain sniffed", "text/plain", `{"documentId":"` + trakID + `"}`},
		{"json BOM", "application/json", "\ufeff" + `{"documentId":"` + trakID + `"}`},
		{"json trailing junk after id", "application/json", `{"documentId":"` + trakID + `"} garbage`},
		{"xml", "application/xml", `<Notification><DocumentID>` + trakID + `</DocumentID></Notification>`},
		{"xml text/xml DocumentId", "text/xml; charset=utf-8", `<n><DocumentId>` + trakID + `</DocumentId></n>`},
		{"xml any case", "application/xml", `<n><documentid>` + trakID + `</documentid></n>`},
		{"xml namespaced", "application/xml",
			`<t:Notification xmlns:t="urn:trak"><t:Envelope><t:DocumentID>` + trakID + `</t:DocumentID></t:Envelope></t:Notification>`},
		{"xml default namespace", "application/xml",
			`<Notification xmlns="urn:x"><DocumentID>` + trakID + `</DocumentID></Notification>`},
		{"xml whitespace and braces", "application/xml", "<n><DocumentID>\n  {" + trakID + "}\n</DocumentID></n>"},
		{"xml cdata", "application/xml", `<n><DocumentID><![CDATA[` + trakID + `]]></DocumentID></n>`},
		{"xml BOM and declaration", "application/xml",
			"\ufeff" + `<?xml version="1.0" encoding="utf-8"?><n><DocumentID>` + trakID + `</DocumentID></n>`},
		{"xml declared latin-1", "text/xml",
			`<?xml version="1.0" encoding="ISO-8859-1"?><n><DocumentID>` + trakID + `</DocumentID></n>`},
		{"xml sniffed", "", "\n<n><DocumentID>" + trakID + "</DocumentID></n>"},
		{"xml BOM sniffed", "text/plain", "\ufeff<n><DocumentID>" + trakID + "</DocumentID></n>"},
		{"form", "application/x-www-form-urlencoded", "event=completed&document_id=" + trakID},
		{"form documentId", "application/x-www-form-urlencoded", "documentId=" + trakID + "&x=1"},
		{"form DocumentID escaped braces", "application/x-www-form-urlencoded", "DocumentID=%7B" + trakID + "%7D"},
		{"form sniffed", "", "document_id=" + trakID + "\n"},
		{"form unknown type sniffed", "application/octet-stream", "document_id=" + trakID},
		{"bare GUID text", "text/plain", trakID + "\n"},
		// The [Envelope ID] merge field, for envelope events.
		{"json envelope_id", "application/json", `{"event":"declined","envelope_id":"` + trakID + `"}`},
		{"json EnvelopeID", "application/json", `{"EnvelopeID":"` + trakID + `"}`},
		{"xml EnvelopeId", "application/xml", `<n><EnvelopeId>` + trakID + `</EnvelopeId></n>`},
		{"form envelopeId", "application/x-www-form-urlencoded", "envelopeId=" + trakID},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, err := ParseNotification(c.ct, []byte(c.body))
			require.NoError(t, err)
			assert.Equal(t, trakIDUC, id)
		})
	}
}

func TestParseNotificationFirstFoundWins(t *testing.T) {
	other := "00000000-0000-0000-0000-0000000000AA"
	id, err := ParseNotification("application/json",
		[]byte(`{"a":{"documentId":"`+trakID+`"},"DocumentID":"`+other+`"}`))
	require.NoError(t, err)
	assert.Equal(t, trakIDUC, id)

	id, err = ParseNotification("application/xml",
		[]byte(`<n><DocumentID>`+other+`</DocumentID><DocumentID>`+trakID+`</DocumentID></n>`))
	require.NoError(t, err)
	assert.Equal(t, other, id)

	id, err = ParseNotification("application/x-www-form-urlencoded",
		[]byte("DocumentID="+other+"&document_id="+trakID))
	require.NoError(t, err)
	assert.Equal(t, other, id)
}

func TestParseNotificationRejects(t *testing.T) {
	cases := []struct {
		name, ct, body string
		want           error
	}{
		{"empty", "", "", ErrNoDocumentID},
		{"whitespace", "text/plain", " \n ", ErrNoDocumentID},
		{"json no id", "application/json", `{"signatoryId":"` + trakID + `"}`, ErrNoDocumentID},
		{"json not a guid", "application/json", `{"documentId":"[Document ID]"}`, ErrNoDocumentID},
		{"json short guid", "application/json", `{"documentId":"` + trakID[:35] + `"}`, ErrNoDocumentID},
		{"json number", "application/json", `{"documentId":42}`, ErrNoDocumentID},
		{"json object", "application/json", `{"documentId":{"id":"` + trakID + `"}}`, ErrNoDocumentID},
		{"json one brace", "application/json", `{"documentId":"{` + trakID + `"}`, ErrNoDocumentID},
		{"json id only as value", "application/json", `["documentId","` + trakID + `"]`, ErrNoDocumentID},
		{"json malformed", "application/json", `{"documentId":`, ErrMalformedNotification},
		{"json but xml body", "application/json", `<DocumentID>` + trakID + `</DocumentID>`, ErrMalformedNotification},
		{"xml no id", "application/xml", `<n><Id>` + trakID + `</Id></n>`, ErrNoDocumentID},
		{"xml not a guid", "application/xml", `<n><DocumentID>nope</DocumentID></n>`, ErrNoDocumentID},
		{"xml id in child only", "application/xml",
			`<n><DocumentID><v>` + trakID + `</v></DocumentID></n>`, ErrNoDocumentID},
		{"xml overlong text", "application/xml",
			`<n><DocumentID>` + strings.Repeat("A", 300) + `<![CDATA[` + trakID + `]]></DocumentID></n>`, ErrNoDocumentID},
		{"xml malformed", "application/xml", `<n><DocumentID>` + trakID + `</Document></n>`, ErrMalformedNotification},
		{"form no id", "application/x-www-form-urlencoded", "a=1&b=2", ErrNoDocumentID},
		{"form not a guid", "application/x-www-form-urlencoded", "document_id=xyz", ErrNoDocumentID},
		{"form bad escape", "application/x-www-form-urlencoded", "document_id=%zz", ErrNoDocumentID},
		{"text not a guid", "text/plain", "hello", ErrNoDocumentID},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, err := ParseNotification(c.ct, []byte(c.body))
			require.Error(t, err)
			assert.Empty(t, id)
			assert.True(t, errors.Is(err, c.want), "got %v", err)
		})
	}
}

// Errors may reach logs and HTTP answers: they must not carry body content.
func TestParseNotificationErrorsDoNotEchoBody(t *testing.T) {
	const secret = "s3cr3t-payload"
	bodies := []struct{ ct, body string }{
		{"application/json", `{"documentId":"` + secret + `"}`},
		{"application/json", `{"` + secret + `":` + secret},
		{"application/xml", `<n><DocumentID>` + secret + `</DocumentID></n>`},
		{"application/xml", `<` + secret + `><DocumentID>&` + secret + `;</DocumentID></` + secret + `>`},
		{"application/xml", `<n>&` + secret + `;</n>`},
		{"application/x-www-form-urlencoded", "document_id=" + secret},
		{"text/plain", secret},
	}
	for _, b := range bodies {
		_, err := ParseNotification(b.ct, []byte(b.body))
		require.Error(t, err)
		assert.NotContains(t, err.Error(), secret)
		assert.Less(t, len(err.Error()), 100)
	}
}

// encoding/xml has no DTD processing: an external entity is neither fetched
// nor expanded, and an entity bomb is a syntax error, not a memory blow-up.
func TestParseNotificationXMLEntities(t *testing.T) {
	xxe := `<?xml version="1.0"?>
<!DOCTYPE n [<!ENTITY xxe SYSTEM "file:///etc/passwd"><!ENTITY web SYSTEM "http://127.0.0.1:1/x">]>
<n><DocumentID>&xxe;</DocumentID></n>`
	_, err := ParseNotification("application/xml", []byte(xxe))
	require.ErrorIs(t, err, ErrMalformedNotification)
	assert.NotContains(t, err.Error(), "root:")

	// A DOCTYPE alone does not stop a good id being read.
	withDTD := `<!DOCTYPE n [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><n><DocumentID>` + trakID + `</DocumentID><x>&xxe;</x></n>`
	id, err := ParseNotification("application/xml", []byte(withDTD))
	require.NoError(t, err)
	assert.Equal(t, trakIDUC, id)

	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">`)
	b.WriteString(`<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">`)
	for i := 2; i <= 9; i++ {
		prev := "&lol" + string(rune('0'+i-1)) + ";"
		b.WriteString(`<!ENTITY lol` + string(rune('0'+i)) + ` "` + strings.Repeat(prev, 10) + `">`)
	}
	b.WriteString(`]><lolz><DocumentID>&lol9;</DocumentID></lolz>`)

	done := make(chan error, 1)
	go func() {
		_, err := ParseNotification("", []byte(b.String()))
		done <- err
	}()
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrMalformedNotification)
	case <-time.After(5 * time.Second):
		t.Fatal("billion laughs body did not return")
	}
}

func TestParseNotificationContentTypeWins(t *testing.T) {
	// A form type on a JSON-looking body is read as a form: no id there.
	_, err := ParseNotification("application/x-www-form-urlencoded", []byte(`{"documentId":"`+trakID+`"}`))
	require.ErrorIs(t, err, ErrNoDocumentID)
	// A malformed Content-Type is still read by its media type.
	id, err := ParseNotification("application/json;;;=", []byte(`{"documentId":"`+trakID+`"}`))
	require.NoError(t, err)
	assert.Equal(t, trakIDUC, id)
}

package assuresign

import (
	"errors"
	"regexp"
	"testing"
)

var upperGUID = regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$`)

func FuzzParseNotification(f *testing.F) {
	const id = "9f3c2a71-4b8e-4d2a-a1c5-0e6f7b8c9d10"
	seeds := []struct{ ct, body string }{
		{"application/json", `{"documentId":"` + id + `"}`},
		{"application/json", `{"envelope":{"docs":[{"DocumentID":"{` + id + `}"}]},"status":"Completed"}`},
		{"", ` {"document_id":"nope"}`},
		{"application/xml", `<n xmlns="urn:x"><DocumentID>` + id + `</DocumentID></n>`},
		{"text/xml", "\ufeff<?xml version=\"1.0\"?><n><DocumentId><![CDATA[" + id + "]]></DocumentId></n>"},
		{"", `<!DOCTYPE n [<!ENTITY a "&b;&b;"><!ENTITY b "x">]><n><DocumentID>&a;</DocumentID></n>`},
		{"application/x-www-form-urlencoded", "event=completed&document_id=" + id},
		{"", "DocumentID=%7B" + id + "%7D"},
		{"text/plain", id},
		{"text/plain", ""},
	}
	for _, s := range seeds {
		f.Add(s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		got, err := ParseNotification(ct, body)
		if err != nil {
			if got != "" {
				t.Fatalf("id %q returned with error %v", got, err)
			}
			if !errors.Is(err, ErrNoDocumentID) && !errors.Is(err, ErrMalformedNotification) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			// Short errors cannot be echoing the body.
			if len(err.Error()) > 100 {
				t.Fatalf("error too long (%d bytes)", len(err.Error()))
			}
			return
		}
		if !upperGUID.MatchString(got) {
			t.Fatalf("id %q is not an upper-case GUID", got)
		}
	})
}

package rest

import (
	"errors"
	"strings"
	"testing"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
)

// FuzzParseEnvelopeStatus: no input panics, and an accepted answer holds
// upper-case GUIDs and statuses and steps derived from the text as sent. The
// same bodies go to ParseEnvelopeHistory, under the same rules.
func FuzzParseEnvelopeStatus(f *testing.F) {
	f.Add([]byte(`{"envelopeID": "` + envID + `", "envelopeHistoryEvents": [{"id": 1, "date": "2026-12-01T09:30:00.1234567-05:00", "details": "x"}], "documentList": [{"history": [{"date": "2026-12-01T10:00:00"}]}]}`))
	f.Add([]byte(liveBody))
	f.Add([]byte(`{"result": {"envelopeID": "` + envID + `", "status": "COMPLETED", "documentList": []}}`))
	f.Add([]byte(`{"result": {"envelopeID": "` + envID + `", "documentList": [{"documentID": "` + docOne + `", "status": null}]}}`))
	f.Add([]byte(`{"result": {"envelopeID": "` + envID + `", "status": "signeR_AUTHENTICATION_FAILED", "documentList": [{"documentID": "` + docOne + `", "status": {"statusType": "staled", "statusDetails": "step12"}}]}}`))
	f.Add([]byte("\xEF\xBB\xBF" + `{"result": null}`))
	f.Add([]byte(`{"result": {"envelopeID": 1}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if h, err := ParseEnvelopeHistory(body); err != nil {
			if e := (*assuresign.Error)(nil); h != nil || !errors.As(err, &e) || e.Kind != assuresign.KindMalformed {
				t.Fatalf("history: %+v, error %T %v, want KindMalformed alone", h, err, err)
			}
		} else if !assuresign.IsGUID(h.EnvelopeID) || h.EnvelopeID != strings.ToUpper(h.EnvelopeID) {
			t.Fatalf("history: envelope id %q", h.EnvelopeID)
		} else {
			for _, d := range h.Documents {
				if d.After(h.Newest) {
					t.Fatalf("history: a document's date %v after the newest %v", d, h.Newest)
				}
			}
		}
		st, err := ParseEnvelopeStatus(body)
		if err != nil {
			if st != nil {
				t.Fatal("an answer and an error")
			}
			if e := (*assuresign.Error)(nil); !errors.As(err, &e) || e.Kind != assuresign.KindMalformed {
				t.Fatalf("error %T %v, want KindMalformed", err, err)
			}
			return
		}
		if !assuresign.IsGUID(st.EnvelopeID) || st.EnvelopeID != strings.ToUpper(st.EnvelopeID) {
			t.Fatalf("envelope id %q", st.EnvelopeID)
		}
		if st.Status != ParseStatus(st.RawStatus) {
			t.Fatalf("status %v for %q", st.Status, st.RawStatus)
		}
		for _, d := range st.Documents {
			if !assuresign.IsGUID(d.ID) || d.ID != strings.ToUpper(d.ID) {
				t.Fatalf("document id %q", d.ID)
			}
			if d.Status != ParseStatus(d.RawStatus) || d.Step != assuresign.StepNumber(d.StatusDetails) {
				t.Fatalf("document %+v", d)
			}
		}
	})
}

package testenv

import (
	"testing"
)

const testExposition = `# HELP assuresign_document_status Status.
# TYPE assuresign_document_status gauge
assuresign_document_status{document_id="A",status="Created"} 0
assuresign_document_status{document_id="A",status="Completed"} 1
assuresign_document_status{document_id="B",status="Created"} 1
assuresign_document_status{document_id="B",status="Completed"} 0
# HELP assuresign_document_info Labels.
# TYPE assuresign_document_info gauge
assuresign_document_info{document_id="A",customer="acme"} 1
# HELP assuresign_up Up.
# TYPE assuresign_up gauge
assuresign_up 1
# HELP req_seconds Latency.
# TYPE req_seconds histogram
req_seconds_bucket{le="0.5"} 2
req_seconds_bucket{le="+Inf"} 3
req_seconds_sum 1.5
req_seconds_count 3
`

func TestExposition(t *testing.T) {
	x, err := ParseExposition(testExposition)
	if err != nil {
		t.Fatal(err)
	}
	for series, want := range map[string]float64{
		"assuresign_up": 1,
		`assuresign_document_info{document_id="A",customer="acme"}`: 1,
		`req_seconds_bucket{le="0.5"}`:                              2,
		`req_seconds_bucket{le="+Inf"}`:                             3,
		"req_seconds_count":                                         3,
	} {
		if got, ok := x.Value(series); !ok || got != want {
			t.Errorf("Value(%s) = %v, %v; want %v", series, got, ok, want)
		}
		if got := Sample(t, testExposition, series); got != want {
			t.Errorf("Sample(%s) = %v, want %v", series, got, want)
		}
	}
	if _, ok := x.Value(`assuresign_document_info{document_id="A"}`); ok {
		t.Error("Value matched a series by some of its labels")
	}
	if v, ok := x.Find("assuresign_document_info", map[string]string{"document_id": "A"}); !ok || v != 1 {
		t.Errorf("Find by some labels: %v, %v", v, ok)
	}
	if _, ok := x.Find("assuresign_document_info", map[string]string{"document_id": "A", "team": "x"}); ok {
		t.Error("Find matched a label the series lacks")
	}
	if !x.Has("assuresign_document_info", map[string]string{"customer": "acme"}) || x.Has("assuresign_document_info", map[string]string{"document_id": "B"}) {
		t.Error("Has")
	}
	if got := x.Statuses(); len(got) != 2 || got["A"] != "Completed" || got["B"] != "Created" || x.Status("C") != "" {
		t.Errorf("Statuses() = %v", got)
	}

	only, err := ParseExposition(testExposition, "assuresign_up", "req_seconds")
	if err != nil {
		t.Fatal(err)
	}
	if len(only.Families) != 2 || only.Families["assuresign_up"] == nil || only.Families["req_seconds"] == nil {
		t.Errorf("families %v, want assuresign_up and req_seconds", only.Families)
	}
	if v, ok := only.Value("req_seconds_sum"); !ok || v != 1.5 {
		t.Errorf("req_seconds_sum = %v, %v", v, ok)
	}
	if _, err := ParseExposition("up{ 1\n"); err == nil {
		t.Error("bad text parsed")
	}
}

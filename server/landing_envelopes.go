package server

import (
	"html/template"
	"net/url"
	"strings"

	"github.com/assuresign-exporter/assuresign_exporter/refresh"
)

// envelopesShown bounds the envelopes the landing page lists; a filter finds the rest.
const envelopesShown = 50

// envelopeSection is the landing page's view of the watched envelopes: their
// state and documents, names included (the page is the one place that shows
// them; metrics never do). It holds no secret.
type envelopeSection struct {
	Total   int
	Matches int
	Filter  string
	Shown   []refresh.EnvelopeView
}

// newEnvelopeSection keeps the envelopes matching ?envelope= (a part of the
// id, or of a label value, any case), up to envelopesShown; nil when none is watched.
func newEnvelopeSection(all []refresh.EnvelopeView, in url.Values) *envelopeSection {
	if len(all) == 0 {
		return nil
	}
	s := &envelopeSection{Total: len(all), Filter: strings.TrimSpace(in.Get("envelope"))}
	needle := strings.ToUpper(s.Filter)
	for _, e := range all {
		if needle != "" && !envelopeMatches(e, needle) {
			continue
		}
		s.Matches++
		if len(s.Shown) < envelopesShown {
			s.Shown = append(s.Shown, e)
		}
	}
	return s
}

func envelopeMatches(e refresh.EnvelopeView, needle string) bool {
	if strings.Contains(e.ID, needle) {
		return true
	}
	for _, v := range e.Labels {
		if strings.Contains(strings.ToUpper(v), needle) {
			return true
		}
	}
	return false
}

var _ = template.Must(landingTemplate.New("envelopes").Parse(`{{with .Envelopes}}<section id="envelopes"><h2>{{.Total}} envelopes</h2>
<form method="get" action="/#envelopes"><input type="search" name="envelope" value="{{.Filter}}" placeholder="envelope id, or part of a label value" aria-label="Envelope">
<button type="submit">Filter</button>{{if .Filter}} <a href="{{$.With "envelope" ""}}#envelopes">clear</a>{{end}}</form>
<p class="note">{{if .Matches}}Showing {{len .Shown}} of {{.Matches}}{{if .Filter}} matching{{end}}, by id. An envelope's state: any document Declined, else Cancelled, else Expired, else all Completed, else its least advanced document.{{else}}No envelope matches.{{end}}</p>
<div class="wide"><table><tr><th>Envelope ID</th><th>Labels</th><th>State</th><th>Documents (order, id, name, status)</th><th>Listing</th></tr>
{{range .Shown}}<tr class="envelope"><td class="id">{{.ID}}</td><td>{{range $k, $v := .Labels}}<span class="lbl">{{$k}}={{$v}}</span>{{end}}</td><td class="st {{statusClass .Status.String}}">{{.Status}}</td>
<td>{{range .Documents}}<div><span class="nw">{{.OrderID}}</span> <span class="id">{{.ID}}</span> {{.Name}} <span class="st {{statusClass .Status.String}}">{{.Status}}</span></div>{{else}}none listed{{end}}</td>
<td>{{if not .Tried}}not yet listed{{else if .ListOK}}listed {{ago $.Now .LastList}}{{else}}<span class="err">failed: {{.LastError}}</span>{{if not .LastList.IsZero}} (documents as listed {{ago $.Now .LastList}}){{end}}{{end}}</td></tr>
{{end}}</table></div></section>{{end}}`))

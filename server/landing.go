package server

import (
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/collector"
)

// landingLimit bounds the documents table so the page stays light at 100,000 documents.
const landingLimit = 500

// landingPage is the page a person opens first: links, the refresher's state,
// and the watched documents with their last known status and last error.
// It shows no secret: DocumentView carries none.
type landingPage struct {
	Version string
	Links   []link
	store   *collector.Store
	ready   func() bool
	// intervals is nil when the page has no refresher to ask.
	intervals func() []collector.CheckInterval
	logger    *slog.Logger
}

// link is one entry of the landing page's link list.
type link struct{ Address, Text string }

// newLandingPage returns the handler for /.
func newLandingPage(version string, links []link, store *collector.Store, ready func() bool, intervals func() []collector.CheckInterval, logger *slog.Logger) *landingPage {
	return &landingPage{Version: version, Links: links, store: store, ready: ready, intervals: intervals, logger: logger}
}

var landingTemplate = template.Must(template.New("landing").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format(time.RFC3339)
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>AssureSign Exporter</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;font-size:90%}
.err{color:#a00}
</style></head>
<body>
<h1>AssureSign Exporter</h1>
<p>Version {{.Version}}. {{if .Ready}}First refresh round finished.{{else}}Waiting for the first refresh round.{{end}}</p>
<ul>{{range .Links}}<li><a href="{{.Address}}">{{.Text}}</a></li>{{end}}</ul>
<h2>Watched documents</h2>
<p>{{.Total}} watched{{if lt (len .Documents) .Total}}; the first {{len .Documents}} by id are shown{{end}}. Statuses come from the background refresh, never from this page.</p>
<table><tr><th>Document ID</th><th>Labels</th><th>Status</th><th>Step</th><th>Status date</th><th>Last check</th><th>Last error</th></tr>
{{range .Documents}}<tr><td>{{.ID}}</td><td>{{range $k, $v := .Labels}}{{$k}}={{$v}} {{end}}</td><td>{{.Status}}</td><td>{{if .Step}}{{.Step}}{{end}}</td><td>{{when .StatusDate}}</td><td>{{when .LastCheck}}</td><td class="err">{{.LastError}}</td></tr>
{{end}}</table>
{{with .Intervals}}<h2>How often documents are asked</h2>
<p>An open document that sits still is asked less often: its interval doubles for each day without a change, up to the longest below; closed documents wait the terminal interval.</p>
<table><tr><th>Interval</th><th>Documents</th></tr>
{{range .}}<tr><td>{{.Band}}</td><td>{{.Documents}}</td></tr>
{{end}}</table>{{end}}
</body></html>
`))

func (p *landingPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	docs, total := p.store.Snapshot(landingLimit)
	var intervals []collector.CheckInterval
	if p.intervals != nil {
		intervals = p.intervals()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	err := landingTemplate.Execute(w, struct {
		Version   string
		Links     []link
		Ready     bool
		Documents []collector.DocumentView
		Total     int
		Intervals []collector.CheckInterval
	}{p.Version, p.Links, p.ready(), docs, total, intervals})
	if err != nil {
		p.logger.Debug("writing the landing page failed", "err", err)
	}
}

package server

import (
	"fmt"
	"html/template"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/collector"
	"github.com/assuresign-exporter/assuresign_exporter/refresh"
)

const (
	pageSize       = 100 // documents per page of the search
	problemsShown  = 50  // problem documents listed at the top
	refreshSeconds = 30  // the page's automatic refresh, unless ?refresh=off
)

// landingPage answers "is anything wrong?" at a glance: upstream health,
// counts by status, the problem documents first, then a search over all of
// them. The documents come from one pass over the store (collector.Overview),
// bounded by the page size whatever the number of documents. It shows no
// secret: DocumentView carries none, and html/template escapes the rest.
type landingPage struct {
	version    string
	links      []link
	store      *collector.Store
	exporter   Exporter
	now        func() time.Time
	stuckAfter time.Duration
	logger     *slog.Logger
	demo       bool
}

// link is one entry of the landing page's link list.
type link struct{ Address, Text string }

func (p *landingPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	in := r.URL.Query()
	now := p.now()
	// Bounded so the offset cannot overflow; a page past the end is the last.
	pageNo, _ := strconv.Atoi(in.Get("page"))
	pageNo = min(max(pageNo, 1), math.MaxInt/pageSize)
	q := collector.Query{
		Now: now, StuckAfter: p.stuckAfter, Search: in.Get("q"), Status: in.Get("status"),
		Problem: collector.ParseProblem(in.Get("problem")),
		Offset:  (pageNo - 1) * pageSize, Limit: pageSize, ProblemLimit: problemsShown,
	}
	o := p.store.Overview(q)
	if q.Offset > 0 && q.Offset >= o.Matches {
		// Past the end: the last page, as many pages as the matches fill
		// (the first when none match).
		pageNo = max((o.Matches+pageSize-1)/pageSize, 1)
		q.Offset = (pageNo - 1) * pageSize
		o = p.store.Overview(q)
	}
	v := landingView{
		Version: p.version, Links: p.links, Ready: p.exporter.Ready(), Now: now, O: o, In: in, Demo: p.demo,
		Refresh: in.Get("refresh") != "off", StuckAfter: p.stuckAfter,
		Filtered: q.Search != "" || q.Status != "" || q.Problem != collector.NoProblem,
		From:     min(q.Offset+1, o.Matches), To: q.Offset + len(o.Page), Page: pageNo,
	}
	v.Upstream = p.exporter.Upstream()
	v.Intervals = p.exporter.CheckIntervals()
	v.Envelopes = newEnvelopeSection(p.exporter.Envelopes(), in)
	for i, st := range assuresign.Statuses {
		v.Statuses = append(v.Statuses, statusCount{st.String(), o.ByStatus[i]})
	}
	for _, pr := range collector.Problems {
		v.ProblemCounts = append(v.ProblemCounts, problemCount{pr, o.Problems[pr]})
		v.ProblemTotal += o.Problems[pr]
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := landingTemplate.Execute(w, v); err != nil {
		p.logger.Debug("writing the landing page failed", "err", err)
	}
}

type landingView struct {
	Version       string
	Links         []link
	Ready         bool
	Now           time.Time
	Upstream      refresh.Upstream
	O             collector.Overview
	In            url.Values
	Refresh       bool
	StuckAfter    time.Duration
	Statuses      []statusCount
	ProblemCounts []problemCount
	ProblemTotal  int
	Filtered      bool
	From, To      int
	Page          int
	Intervals     []refresh.CheckInterval // nil: not shown
	Demo          bool
	Envelopes     *envelopeSection // nil: not shown
}

type statusCount struct {
	Status string
	Count  int
}

type problemCount struct {
	Problem collector.Problem
	Count   int
}

// With returns the page's query with key set to value ("" removes it) and
// back on the first page: a link that keeps the other filters.
func (v landingView) With(kv ...string) string {
	q := url.Values{}
	for k, vs := range v.In {
		q[k] = vs
	}
	q.Del("page")
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			q.Del(kv[i])
		} else {
			q.Set(kv[i], kv[i+1])
		}
	}
	if len(q) == 0 {
		return "/"
	}
	return "?" + q.Encode()
}

// PageLink is the link to page n of the current search.
func (v landingView) PageLink(n int) string { return v.With("page", strconv.Itoa(n)) }

func (v landingView) HasNext() bool { return v.To < v.O.Matches }

// statusClass colours a status: problems stand out.
func statusClass(status string) string {
	switch status {
	case "Declined", "Expired", "Cancelled", "SignerAuthenticationFailed":
		return "bad"
	case "Completed":
		return "ok"
	case "Created", "SigningStepInProgress":
		return "active"
	}
	return "muted"
}

var problemTitles = map[collector.Problem]string{
	collector.ProblemDeclined:             "Declined",
	collector.ProblemExpired:              "Expired",
	collector.ProblemCancelled:            "Cancelled",
	collector.ProblemSignerAuthentication: "Signer authentication failed",
	collector.ProblemStuck:                "Stuck",
	collector.ProblemCheckFailing:         "Check failing",
}

// age says how long d is, in its largest whole unit: "3 days", "1 hour".
func age(d time.Duration) string {
	unit := func(n int64, name string) string {
		if n == 1 {
			return "1 " + name
		}
		return fmt.Sprintf("%d %ss", n, name)
	}
	switch {
	case d < time.Second:
		return "a moment" // or a clock ahead of ours
	case d < time.Minute:
		return unit(int64(d/time.Second), "second")
	case d < time.Hour:
		return unit(int64(d/time.Minute), "minute")
	case d < 48*time.Hour:
		return unit(int64(d/time.Hour), "hour")
	}
	return unit(int64(d/(24*time.Hour)), "day")
}

// describe says where a document stands, in words, with its age.
func describe(d collector.DocumentView, now time.Time) string {
	since := ""
	if !d.StatusDate.IsZero() {
		since = age(now.Sub(d.StatusDate))
	}
	switch {
	case d.LastCheck.IsZero() && d.Status == "Unknown":
		return "not checked yet"
	case d.Status == "Unknown":
		return "no status known"
	case since == "":
		return d.Status
	case d.Status == "SigningStepInProgress" && d.Step > 0:
		return fmt.Sprintf("in step %d for %s", d.Step, since)
	case d.Status == "SigningStepInProgress":
		return "signing for " + since
	case d.Status == "Created":
		return "created, not sent for signing, for " + since
	case d.Status == "SignerAuthenticationFailed":
		return "signer authentication failed " + since + " ago"
	}
	return d.Status + " " + since + " ago"
}

var landingTemplate = template.Must(template.New("landing").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format(time.RFC3339)
	},
	"ago":         func(now, t time.Time) string { return age(now.Sub(t)) + " ago" },
	"in":          func(now, t time.Time) string { return "in " + age(t.Sub(now)) },
	"age":         age,
	"describe":    describe,
	"statusClass": statusClass,
	"title":       func(p collector.Problem) string { return problemTitles[p] },
	"add":         func(a, b int) int { return a + b },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{{if .Refresh}}<meta http-equiv="refresh" content="` + strconv.Itoa(refreshSeconds) + `">{{end}}
<title>{{if .ProblemTotal}}({{.ProblemTotal}}) {{end}}AssureSign Exporter</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:.7em 1.5em;display:flex;gap:1.5em;align-items:baseline;flex-wrap:wrap}
header h1{font-size:1.2em;margin:0}header a{color:#c9d4ff}header .links a{margin-right:1em}
main{padding:1em 1.5em;max-width:90em}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:.8em 1em;margin-bottom:1em}
h2{font-size:1.05em;margin:.1em 0 .6em}
.health span{margin-right:1.2em}
.badge{display:inline-block;border-radius:4px;padding:.05em .5em;font-weight:600}
.up{background:#1e7b34;color:#fff}.down{background:#b3261e;color:#fff}.hold{background:#f0ad00;color:#1d2330}
.tiles{display:flex;flex-wrap:wrap;gap:.5em}
.tile{display:block;min-width:8.5em;padding:.4em .7em;border-radius:5px;text-decoration:none;border:1px solid transparent}
.tile b{display:block;font-size:1.5em}
.tile.bad{background:#fde8e7;color:#8c1d18;border-color:#f1b5b1}.tile.ok{background:#e5f4e8;color:#1e5b2c}
.tile.active{background:#e6eefc;color:#1f4aa8}.tile.muted{background:#eef0f3;color:#5b6270}
.tile.zero{opacity:.45}.tile.sel{outline:2px solid #1d2330}
.bad.tile.nonzero{border-width:2px;border-color:#b3261e}
table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #e4e7ec;padding:.3em .5em;text-align:left;font-size:90%;vertical-align:top}
th{background:#f0f2f5}
td.id{font-family:ui-monospace,monospace;font-size:85%;white-space:nowrap}
.st{font-weight:600}.st.bad{color:#b3261e}.st.ok{color:#1e7b34}.st.active{color:#1f4aa8}.st.muted{color:#5b6270}
.lbl{display:inline-block;background:#eef0f3;border-radius:3px;padding:0 .3em;margin:0 .2em .1em 0;font-size:90%}
.err{color:#a00}.nw,.lbl{white-space:nowrap}
form{display:flex;gap:.5em;flex-wrap:wrap;margin-bottom:.6em}
input[type=search]{min-width:22em;padding:.3em}
.pager a{margin-right:1em}.note{color:#5b6270;font-size:90%}
.demo{background:#f0ad00;color:#1d2330}
.wide{overflow-x:auto}
@media (max-width:40em){header,main{padding-left:.6em;padding-right:.6em}section{padding:.6em}input[type=search]{min-width:0;flex:1 1 12em}td.id{white-space:normal;word-break:break-all}}
</style></head>
<body>
<header><h1>AssureSign Exporter</h1><span>{{.Version}}</span>{{if .Demo}}<span class="badge demo" id="demo" title="--demo: a built-in simulator stands in for AssureSign">Demo: simulated AssureSign, made-up documents</span>{{end}}
<span class="links">{{range .Links}}<a href="{{.Address}}">{{.Text}}</a>{{end}}</span></header>
<main>
<section class="health" id="upstream"><h2>Upstream</h2>
{{with .Upstream}}<span>AssureSign: {{if .Up}}<span class="badge up">up</span>{{else}}<span class="badge down">{{if $.Ready}}down{{else}}not yet checked{{end}}</span>{{end}}</span>
<span>Data: {{if .LastSuccess.IsZero}}no successful round yet{{else}}last complete round {{ago $.Now .LastSuccess}}{{end}}</span>
<span>Next round: {{if .NextRound.IsZero}}after the first{{else if .NextRound.After $.Now}}{{in $.Now .NextRound}}{{else}}now{{end}}</span>
{{if not .HeldUntil.IsZero}}<span class="badge hold">AssureSign asked to wait (Retry-After): no requests until {{when .HeldUntil}}, {{in $.Now .HeldUntil}}</span>{{end}}
{{with .Push}}<span id="push">DocumentTRAK: {{if .Trusted}}<span class="badge up">trusted</span> open documents reconciled every {{age .ReconcileInterval}}{{else}}<span class="badge hold">not trusted</span> every document on the normal schedule{{end}};
last notification {{if .LastNotification.IsZero}}none yet{{else}}{{ago $.Now .LastNotification}}{{end}}</span>
{{if .Missed}}<span class="badge down" id="push-missed">{{.Missed}} missed {{if eq .Missed 1}}change{{else}}changes{{end}}: the last, {{.LastMissedID}} to {{.LastMissedStatus}}, found {{ago $.Now .LastMissed}} by a check, not announced</span>{{end}}{{end}}
{{end}}<span>{{if .Ready}}First round finished.{{else}}<b>First round in progress: checked {{.O.Checked}} of {{.O.Total}}.</b>{{end}}</span>
</section>

<section id="statuses"><h2>{{.O.Total}} documents by status</h2><div class="tiles">
{{range .Statuses}}<a class="tile {{statusClass .Status}} {{if .Count}}nonzero{{else}}zero{{end}}{{if eq .Status ($.In.Get "status")}} sel{{end}}" href="{{$.With "status" .Status "problem" ""}}#documents"><b>{{.Count}}</b>{{.Status}}</a>
{{end}}</div></section>

<section id="problems"><h2>{{if .ProblemTotal}}Problems: {{.ProblemTotal}}{{else}}No problems{{end}}</h2>
<div class="tiles">{{range .ProblemCounts}}{{if .Count}}<a class="tile bad nonzero" href="{{$.With "problem" .Problem.String "status" ""}}#documents"><b>{{.Count}}</b>{{title .Problem}}</a>
{{end}}{{end}}</div>
{{if .O.ProblemDocuments}}<p class="note">Stuck: created or at one signing step for more than {{age .StuckAfter}}. {{if lt (len .O.ProblemDocuments) .ProblemTotal}}The newest {{len .O.ProblemDocuments}} are listed; follow a count above for all.{{end}} Newest first, by status date.</p>
<div class="wide"><table><tr><th>Problem</th><th>Document ID</th><th>Labels</th><th>Where it stands</th><th>Last check</th><th>Last error</th></tr>
{{range .O.ProblemDocuments}}<tr class="problem"><td class="st bad">{{title .Problem}}</td><td class="id">{{.ID}}</td><td>{{range $k, $v := .Labels}}<span class="lbl">{{$k}}={{$v}}</span>{{end}}</td><td>{{describe . $.Now}}</td><td class="nw">{{if .LastCheck.IsZero}}never{{else}}{{ago $.Now .LastCheck}}{{end}}</td><td class="err">{{.LastError}}</td></tr>
{{end}}</table></div>{{end}}
</section>

{{template "envelopes" .}}
<section id="documents"><h2>Documents</h2>
<form method="get" action="/#documents"><input type="search" name="q" value="{{.In.Get "q"}}" placeholder="id, part of a label value, or label=value" aria-label="Search">
<select name="status" aria-label="Status"><option value="">any status</option>{{range .Statuses}}<option{{if eq .Status ($.In.Get "status")}} selected{{end}}>{{.Status}}</option>{{end}}</select>
<select name="problem" aria-label="Problem"><option value="">any problem or none</option>{{range .ProblemCounts}}<option value="{{.Problem.String}}"{{if eq .Problem.String ($.In.Get "problem")}} selected{{end}}>{{title .Problem}}</option>{{end}}</select>
{{if not .Refresh}}<input type="hidden" name="refresh" value="off">{{end}}
<button type="submit">Search</button>{{if .Filtered}} <a href="{{.With "q" "" "status" "" "problem" ""}}">clear</a>{{end}}</form>
<p class="note" id="matches">{{if .O.Matches}}Showing {{.From}}–{{.To}} of {{.O.Matches}}{{if .Filtered}} matching{{end}}, by id.{{else}}No document matches.{{end}} Statuses come from the background refresh, never from this page.</p>
<div class="wide"><table><tr><th>Document ID</th><th>Labels</th><th>Status</th><th>Where it stands</th><th>Status date</th><th>Last check</th><th>Last error</th></tr>
{{range .O.Page}}<tr><td class="id">{{.ID}}</td><td>{{range $k, $v := .Labels}}<span class="lbl">{{$k}}={{$v}}</span>{{end}}</td><td class="st {{statusClass .Status}}">{{.Status}}</td><td>{{describe . $.Now}}</td><td class="nw">{{when .StatusDate}}</td><td class="nw">{{if .LastCheck.IsZero}}never{{else}}{{ago $.Now .LastCheck}}{{end}}</td><td class="err">{{.LastError}}</td></tr>
{{end}}</table></div>
<p class="pager">{{if gt .Page 1}}<a href="{{.PageLink (add .Page -1)}}#documents">← previous</a>{{end}}{{if .HasNext}}<a href="{{.PageLink (add .Page 1)}}#documents">next →</a>{{end}}</p>
</section>
{{with .Intervals}}<section id="intervals"><h2>How often documents are asked</h2>
<p class="note">An open document that sits still is asked less often: its interval doubles for each day without a change, up to the longest below; closed documents wait the terminal interval.</p>
<table><tr><th>Interval</th><th>Documents</th></tr>
{{range .}}<tr><td>{{.Band}}</td><td>{{.Documents}}</td></tr>
{{end}}</table></section>{{end}}
<p class="note">{{if .Refresh}}This page refreshes every ` + strconv.Itoa(refreshSeconds) + ` seconds. <a href="{{.With "refresh" "off"}}">Stop refreshing</a>{{else}}Automatic refresh is off. <a href="{{.With "refresh" ""}}">Turn it on</a>{{end}}</p>
</main></body></html>
`))

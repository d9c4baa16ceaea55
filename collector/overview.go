package collector

import (
	"cmp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
)

// Problem is what may be wrong with a document, most urgent first; a document
// has the first that applies.
type Problem int

// Problems, in the order the landing page lists them.
const (
	NoProblem Problem = iota
	ProblemDeclined
	ProblemExpired
	ProblemCancelled
	ProblemSignerAuthentication
	ProblemStuck        // Created or in a signing step for longer than StuckAfter
	ProblemCheckFailing // its last check failed or answered with an error
	problemEnd
)

// Problems lists every Problem but NoProblem, in order.
var Problems = []Problem{ProblemDeclined, ProblemExpired, ProblemCancelled, ProblemSignerAuthentication, ProblemStuck, ProblemCheckFailing}

var problemNames = [problemEnd]string{"", "declined", "expired", "cancelled", "signer_authentication_failed", "stuck", "check_failing"}

// String returns the problem's name, as a query parameter takes it.
func (p Problem) String() string { return problemNames[p] }

// ParseProblem maps a name from String back to its Problem; NoProblem when none matches.
func ParseProblem(name string) Problem {
	for p, n := range problemNames {
		if n != "" && n == name {
			return Problem(p)
		}
	}
	return NoProblem
}

// Query selects and pages the documents an Overview lists.
type Query struct {
	Now        time.Time
	StuckAfter time.Duration // Created or SigningStepInProgress for longer is stuck
	// Search matches, case-insensitively, part of a document's id or of a
	// label value, or, as "name=value", a label exactly. Empty matches all.
	Search  string
	Status  string  // a status name (assuresign.Status.String()); "" for any
	Problem Problem // NoProblem for any
	Offset  int
	Limit   int // documents in the page
	// ProblemLimit bounds the problem documents listed (all are counted).
	ProblemLimit int
}

// Overview is a secret-free summary of every watched document, taken in one
// pass in id order: only the problem documents are sorted per request.
type Overview struct {
	Total    int
	Checked  int             // documents with an answer or a failed check
	ByStatus []int           // in assuresign.Statuses order
	Problems [problemEnd]int // documents with each Problem
	// ProblemDocuments lists up to ProblemLimit documents with a problem,
	// newest first: by StatusDate, latest first (unknown last), then in
	// Problem order and by id.
	ProblemDocuments []DocumentView
	Matches          int            // documents the query matches
	Page             []DocumentView // the matches from Offset, at most Limit
}

// Overview summarises the store and runs q over it.
func (s *Store) Overview(q Query) Overview {
	search, label, value, byLabel := strings.TrimSpace(q.Search), "", "", false
	if name, v, ok := strings.Cut(search, "="); ok {
		label, value, byLabel = strings.TrimSpace(name), strings.TrimSpace(v), true
	}
	statusIndex := -1
	for i, st := range assuresign.Statuses {
		if st.String() == q.Status {
			statusIndex = i
		}
	}
	type problemDoc struct {
		id string
		d  *document
		p  Problem
	}
	var problems []problemDoc // viewed once sorted, only those shown

	s.mu.RLock()
	defer s.mu.RUnlock()
	o := Overview{Total: len(s.order), ByStatus: make([]int, len(assuresign.Statuses))}
	for _, id := range s.order {
		d := s.docs[id]
		si := statusPos[d.status]
		o.ByStatus[si]++
		if !d.lastCheck.IsZero() || d.lastError != "" {
			o.Checked++
		}
		p := d.problem(q.Now, q.StuckAfter)
		if p != NoProblem {
			o.Problems[p]++
			problems = append(problems, problemDoc{id, d, p})
		}
		switch {
		case q.Status != "" && si != statusIndex,
			q.Problem != NoProblem && p != q.Problem,
			byLabel && d.watched.Labels[label] != value,
			!byLabel && search != "" && !d.matches(id, search):
			continue
		}
		o.Matches++
		if o.Matches > q.Offset && len(o.Page) < q.Limit {
			o.Page = append(o.Page, d.view(id, p))
		}
	}
	slices.SortStableFunc(problems, func(a, b problemDoc) int { // stable: ids stay in order
		return cmp.Or(b.d.statusDate.Compare(a.d.statusDate), cmp.Compare(a.p, b.p))
	})
	for _, pd := range problems[:min(len(problems), max(q.ProblemLimit, 0))] {
		o.ProblemDocuments = append(o.ProblemDocuments, pd.d.view(pd.id, pd.p))
	}
	return o
}

func (d *document) problem(now time.Time, stuckAfter time.Duration) Problem {
	switch d.status {
	case assuresign.StatusDeclined:
		return ProblemDeclined
	case assuresign.StatusExpired:
		return ProblemExpired
	case assuresign.StatusCancelled:
		return ProblemCancelled
	case assuresign.StatusSignerAuthenticationFailed:
		return ProblemSignerAuthentication
	case assuresign.StatusCreated, assuresign.StatusSigningStepInProgress:
		if stuckAfter > 0 && !d.statusDate.IsZero() && now.Sub(d.statusDate) > stuckAfter {
			return ProblemStuck
		}
	}
	if d.lastError != "" {
		return ProblemCheckFailing
	}
	return NoProblem
}

// matches reports whether search is part of the id or of a label value,
// ignoring case.
func (d *document) matches(id, search string) bool {
	if containsFold(id, search) {
		return true
	}
	for _, v := range d.watched.Labels {
		if containsFold(v, search) {
			return true
		}
	}
	return false
}

// containsFold is strings.Contains ignoring case, without allocating: it runs
// for every document on every search.
func containsFold(s, sub string) bool {
	n := len(sub)
	for i := 0; i+n <= len(s); {
		if strings.EqualFold(s[i:i+n], sub) {
			return true
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return false
}

func (d *document) view(id string, p Problem) DocumentView {
	status := d.status.String()
	if d.status == assuresign.StatusUnknown && d.rawStatus != "" {
		status = "Unknown (" + d.rawStatus + ")"
	}
	return DocumentView{
		ID: id, Labels: d.watched.Labels, Status: status, Step: d.step,
		StatusDate: d.statusDate, LastCheck: d.lastCheck, LastError: d.lastError, Problem: p,
	}
}

package collector

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fixedSchedule gives open documents one interval and closed ones another:
// the store's tests need a Schedule, not the refresh's.
type fixedSchedule struct{ open, terminal time.Duration }

func (f fixedSchedule) Next(status assuresign.Status, _, _ time.Time) time.Duration {
	if status.Terminal() {
		return f.terminal
	}
	return f.open
}

// answer records res for its document as a round does: the check is chosen
// (due gives the mark count then), then its answer applied. It returns how
// long a pending notification waited.
func answer(s *Store, res assuresign.Result, now time.Time, interval, terminalInterval time.Duration) time.Duration {
	_, _, asked := s.Due(now, 0, false, 1, "")
	return s.Apply(res, now, fixedSchedule{open: interval, terminal: terminalInterval}, asked).Notified
}

// statusOf returns the document as the landing page sees it, times in UTC.
func statusOf(t testing.TB, s *Store, id string) DocumentView {
	t.Helper()
	docs, _ := s.Snapshot(0)
	for _, d := range docs {
		if d.ID == id {
			// Parsed dates carry a fixed zone: compare instants.
			d.StatusDate, d.LastCheck = d.StatusDate.UTC(), d.LastCheck.UTC()
			return d
		}
	}
	t.Fatalf("document %s is not in the store", id)
	return DocumentView{}
}

package collector

import (
	"maps"
	"slices"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
)

// State is what the store knows that must survive a restart. It holds no
// secret and no label from the watch file: only what AssureSign said and when.
type State struct {
	Documents []DocumentState `json:"documents"`
}

// DocumentState is one document's part of State.
type DocumentState struct {
	ID           string            `json:"id"`
	Status       string            `json:"status,omitempty"` // StatusType as AssureSign sent it
	StatusDate   time.Time         `json:"status_date,omitzero"`
	Step         int               `json:"step,omitempty"`
	Exceptions   map[string]uint64 `json:"exceptions,omitempty"` // by severity
	LastCheck    time.Time         `json:"last_check,omitzero"`
	NextCheck    time.Time         `json:"next_check,omitzero"`
	LastChange   time.Time         `json:"last_change,omitzero"`
	CheckSuccess *bool             `json:"check_success,omitempty"` // nil before any answer
}

// StateFileLimit bounds the size of a saved State of at most maxDocuments
// documents, so that reading one can be refused before it exhausts memory. A
// document takes about 400 bytes (TestStateFileLimit); the bound allows 2 KiB.
func StateFileLimit(maxDocuments int) int64 { return 1<<20 + int64(maxDocuments)*2<<10 }

// State returns the store's state and its generation, which changes whenever
// the state does.
func (s *Store) State() (uint64, State) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := State{Documents: make([]DocumentState, 0, len(s.order))}
	for _, id := range s.order {
		st.Documents = append(st.Documents, s.docs[id].state(id))
	}
	// Documents waiting for their envelope's listing are kept, not lost.
	for _, id := range slices.Sorted(maps.Keys(s.parked)) {
		st.Documents = append(st.Documents, s.parked[id].state(id))
	}
	return s.generation.Load(), st
}

// state is d's part of State.
func (d *document) state(id string) DocumentState {
	ds := DocumentState{
		ID: id, Status: d.rawStatus, StatusDate: d.statusDate, Step: d.step,
		LastCheck: d.lastCheck, NextCheck: d.nextCheck, LastChange: d.lastChange,
	}
	for i, n := range d.exceptions {
		if n > 0 {
			if ds.Exceptions == nil {
				ds.Exceptions = map[string]uint64{}
			}
			ds.Exceptions[severityIndex[i].String()] = n
		}
	}
	if d.answered {
		checkOK := d.checkOK
		ds.CheckSuccess = &checkOK
	}
	return ds
}

// Restore joins a saved state with the watch list set before: documents no
// longer watched are dropped (with park, they wait, restored, for SetWatchList
// to bring them back, an envelope's listing, until DropParked), those it does
// not know stay due at once. A closed document is next checked its (terminal)
// interval after its last check; an open one when it was due. Times the schedule
// could not have produced (a file written while the clock was wrong, or
// edited) are clamped: a last check or change no later than now, a next check
// no later than now plus the document's interval. It returns how many
// documents were restored, dropped and clamped.
func (s *Store) Restore(st State, sched Schedule, now time.Time, park bool) (restored, dropped, clamped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ds := range st.Documents {
		d, ok := s.docs[ds.ID]
		switch {
		case ok:
			restored++
		case park && assuresign.IsGUID(ds.ID):
			restored++ // pending its envelope's listing
			d = &document{}
			if s.parked == nil {
				s.parked = map[string]*document{}
			}
			s.parked[ds.ID] = d
		default:
			dropped++
			continue
		}
		d.rawStatus, d.status = ds.Status, assuresign.ParseStatus(ds.Status)
		d.statusDate, d.step = ds.StatusDate, ds.Step
		d.lastCheck, d.lastChange = earliest(ds.LastCheck, now), earliest(ds.LastChange, now)
		for i, sev := range severityIndex {
			d.exceptions[i] = ds.Exceptions[sev.String()]
		}
		if ds.CheckSuccess != nil {
			d.answered, d.checkOK = true, *ds.CheckSuccess
		}
		d.nextCheck = ds.NextCheck
		if d.status.Terminal() && !d.lastCheck.IsZero() {
			d.nextCheck = d.lastCheck.Add(sched.Next(d.status, d.lastChange, now))
		}
		latest := now.Add(sched.Next(d.status, d.lastChange, now))
		if !d.lastCheck.Equal(ds.LastCheck) || !d.lastChange.Equal(ds.LastChange) || ds.NextCheck.After(latest) {
			clamped++
		}
		d.nextCheck = earliest(d.nextCheck, latest)
		// Known and scheduled: no longer checked at once, unless it never was.
		d.urgent = d.lastCheck.IsZero()
		if ok {
			s.changed(d)
		}
	}
	s.publish()
	return restored, dropped, clamped
}

// earliest returns the earlier of t and limit.
func earliest(t, limit time.Time) time.Time {
	if t.After(limit) {
		return limit
	}
	return t
}

// DropParked forgets the restored documents no listing brought back and
// returns how many.
func (s *Store) DropParked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.parked)
	s.parked = nil
	if n > 0 {
		s.generation.Add(1)
	}
	return n
}

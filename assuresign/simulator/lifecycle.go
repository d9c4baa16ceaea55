package simulator

import (
	"context"
	"math/rand"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/internal/guid"
)

// Life-cycle odds. Each tick an open document moves with probability
// pMove; a move is a closing event or an authentication failure with the
// odds below, otherwise the next step. These per-move odds (not per-tick)
// keep the demo lively: with 40 documents and a 5 s tick, most documents have
// moved and several are closed after 3 to 5 minutes (see the tests).
const (
	pMove        = 0.03
	pStart       = 0.05 // Created to Step 1, per tick
	pDeclined    = 0.05 // from a signing step
	pExpired     = 0.03
	pCancelled   = 0.02
	pAuthFailed  = 0.04 // from a signing step; back to the same step 1 or 2 ticks later
	pStaled      = 0.02 // from Created only: setup never finalized
	pWarning     = 0.01 // per tick, for an open document without exceptions
	maxPlanSteps = 4
)

var warnings = []string{
	"A reminder e-mail to a signatory could not be delivered.",
	"The signatory's mobile number could not receive a text message; e-mail was used instead.",
	"The document's expiration date is within 24 hours.",
}

// plan is a document's hidden life-cycle state.
type plan struct {
	steps    int // signing steps before Completed (1..maxPlanSteps)
	resumeIn int // ticks left in SignerAuthenticationFailed
}

func (s *Simulator) planFor(k string, d *Document, rng *rand.Rand) *plan {
	p, ok := s.plans[k]
	if !ok {
		from := min(max(d.Step, 1), maxPlanSteps)
		p = &plan{steps: from + rng.Intn(maxPlanSteps-from+1)}
		if d.Status == assuresign.StatusSignerAuthenticationFailed {
			p.resumeIn = 1 + rng.Intn(2)
		}
		s.plans[k] = p
	}
	return p
}

// Advance moves the life cycle on by one tick: each open document may move
// on, and every change sets its StatusDate to now. Terminal and held
// documents, and documents with a RawStatus or StatusUnknown (test fixtures),
// never change.
// Documents are visited in ID order, so a seeded rng replays exactly.
func (s *Simulator) Advance(rng *rand.Rand, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.sortedKeys() {
		d := s.docs[k]
		if d.Hold || d.RawStatus != "" || d.Status == assuresign.StatusUnknown || d.Status.Terminal() {
			continue
		}
		p := s.planFor(k, d, rng)
		set := func(st assuresign.Status, step int) {
			before := *d
			d.Status, d.Step, d.StatusDate, d.Exceptions = st, step, now, nil
			s.changed(before, *d)
		}
		switch d.Status {
		case assuresign.StatusCreated:
			if rng.Float64() >= pStart {
				break
			}
			switch r := rng.Float64(); {
			case r < pExpired:
				set(assuresign.StatusExpired, 0)
			case r < pExpired+pCancelled:
				set(assuresign.StatusCancelled, 0)
			case r < pExpired+pCancelled+pStaled:
				set(assuresign.StatusStaled, 0)
			default:
				set(assuresign.StatusSigningStepInProgress, 1)
			}
			continue
		case assuresign.StatusSigningStepInProgress:
			if rng.Float64() >= pMove {
				break
			}
			step := max(d.Step, 1)
			switch r := rng.Float64(); {
			case r < pDeclined:
				set(assuresign.StatusDeclined, step)
			case r < pDeclined+pExpired:
				set(assuresign.StatusExpired, step)
			case r < pDeclined+pExpired+pCancelled:
				set(assuresign.StatusCancelled, step)
			case r < pDeclined+pExpired+pCancelled+pAuthFailed:
				set(assuresign.StatusSignerAuthenticationFailed, step)
				p.resumeIn = 1 + rng.Intn(2)
			case step >= p.steps:
				set(assuresign.StatusCompleted, step)
			default:
				set(assuresign.StatusSigningStepInProgress, step+1)
			}
			continue
		case assuresign.StatusSignerAuthenticationFailed:
			switch r := rng.Float64(); {
			case r < pMove*pExpired:
				set(assuresign.StatusExpired, d.Step)
				continue
			case r < pMove*(pExpired+pCancelled):
				set(assuresign.StatusCancelled, d.Step)
				continue
			}
			p.resumeIn--
			if p.resumeIn <= 0 {
				set(assuresign.StatusSigningStepInProgress, max(d.Step, 1))
				continue
			}
		}
		// No status change this tick: now and then a warning.
		if len(d.Exceptions) == 0 && rng.Float64() < pWarning {
			d.Exceptions = []assuresign.Exception{{Severity: assuresign.SeverityWarning, Message: warnings[rng.Intn(len(warnings))]}}
		}
	}
}

// RunLifecycle calls Advance every tick, with a rand seeded by seed, until
// ctx ends.
func (s *Simulator) RunLifecycle(ctx context.Context, tick time.Duration, seed int64) {
	rng := rand.New(rand.NewSource(seed)) //nolint:gosec // G404: a reproducible simulation, not a secret
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.Advance(rng, now)
		}
	}
}

// DemoDocuments returns n documents with random upper-case GUIDs and
// AuthTokens (deterministic for a seed): most Created or at a signing step,
// some closed, a few with a failed signer authentication or a warning.
// StatusDates fall in the three days before now.
func DemoDocuments(n int, seed int64) []Document {
	rng := rand.New(rand.NewSource(seed)) //nolint:gosec // G404: reproducible demo data, not secrets
	now := time.Now()
	docs := make([]Document, 0, n)
	for range n {
		d := Document{ID: guid.New(rng), AuthToken: guid.New(rng)}
		d.StatusDate = now.Add(-time.Duration(rng.Int63n(int64(72 * time.Hour))))
		switch r := rng.Float64(); {
		case r < 0.40:
			d.Status = assuresign.StatusCreated
		case r < 0.82:
			d.Status, d.Step = assuresign.StatusSigningStepInProgress, 1+rng.Intn(3)
		case r < 0.86:
			d.Status, d.Step = assuresign.StatusSignerAuthenticationFailed, 1+rng.Intn(2)
		case r < 0.94:
			d.Status, d.Step = assuresign.StatusCompleted, 1+rng.Intn(maxPlanSteps)
		case r < 0.96:
			d.Status, d.Step = assuresign.StatusDeclined, 1
		case r < 0.98:
			d.Status = assuresign.StatusExpired
		default:
			d.Status = assuresign.StatusCancelled
		}
		if !d.Status.Terminal() && rng.Float64() < 0.05 {
			d.Exceptions = []assuresign.Exception{{Severity: assuresign.SeverityWarning, Message: warnings[rng.Intn(len(warnings))]}}
		}
		docs = append(docs, d)
	}
	return docs
}

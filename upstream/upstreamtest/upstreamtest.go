// Package upstreamtest has fakes of upstream.API for tests that choose
// AssureSign's answers themselves rather than run the simulator.
package upstreamtest

import (
	"context"
	"errors"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/upstream"
)

// ErrNotAnswered is what a fake returns for an operation it was not given.
var ErrNotAnswered = errors.New("upstreamtest: operation not answered by this fake")

// Base answers every operation with ErrNotAnswered; a fake embeds it and
// defines the operations it answers.
type Base struct{}

func (Base) CheckStatus(context.Context, []assuresign.Check) ([]assuresign.Result, error) {
	return nil, ErrNotAnswered
}

func (Base) ListEnvelopeDocuments(context.Context, assuresign.EnvelopeRequest) (*assuresign.EnvelopeListing, error) {
	return nil, ErrNotAnswered
}

func (Base) Endpoint() string          { return "http://upstreamtest.invalid/CheckStatus" }
func (Base) EnvelopesEndpoint() string { return "http://upstreamtest.invalid/Envelopes" }
func (Base) Hint(error) string         { return "" }

// CheckFunc is an upstream.API whose status checks f answers.
type CheckFunc func(ctx context.Context, checks []assuresign.Check) ([]assuresign.Result, error)

func (f CheckFunc) CheckStatus(ctx context.Context, checks []assuresign.Check) ([]assuresign.Result, error) {
	return f(ctx, checks)
}

func (CheckFunc) ListEnvelopeDocuments(ctx context.Context, req assuresign.EnvelopeRequest) (*assuresign.EnvelopeListing, error) {
	return Base{}.ListEnvelopeDocuments(ctx, req)
}

func (CheckFunc) Endpoint() string          { return Base{}.Endpoint() }
func (CheckFunc) EnvelopesEndpoint() string { return Base{}.EnvelopesEndpoint() }
func (CheckFunc) Hint(err error) string     { return Base{}.Hint(err) }

// WithListing is API with its envelope listings answered by List instead.
type WithListing struct {
	upstream.API
	List func(ctx context.Context, req assuresign.EnvelopeRequest) (*assuresign.EnvelopeListing, error)
}

func (w WithListing) ListEnvelopeDocuments(ctx context.Context, req assuresign.EnvelopeRequest) (*assuresign.EnvelopeListing, error) {
	return w.List(ctx, req)
}

var (
	_ upstream.API = Base{}
	_ upstream.API = CheckFunc(nil)
	_ upstream.API = WithListing{}
)

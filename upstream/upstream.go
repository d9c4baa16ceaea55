// Package upstream is what the exporter asks AssureSign, whichever of its APIs
// answers. The refresh, --check and the demo use only API; each AssureSign
// API is one implementation of it (the SOAP services: *assuresign.Client;
// the v3.7 REST API: *rest.Client), so
// a new one is a new package, not edits across the tree.
package upstream

import (
	"context"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/rest"
)

// API is one AssureSign API. Its failures are *assuresign.Error, whose text
// holds no secret the exporter knows.
type API interface {
	// CheckStatus answers for one batch of documents: one Result per check,
	// in order, a missing one with Result.Err set. An API that answers for
	// more at no cost (REST: every document of an envelope asked about) may
	// append their results after those.
	CheckStatus(ctx context.Context, checks []assuresign.Check) ([]assuresign.Result, error)
	// ListEnvelopeDocuments lists one envelope's documents, and their
	// statuses when the same answer gives them (REST: EnvelopeListing.Results).
	ListEnvelopeDocuments(ctx context.Context, req assuresign.EnvelopeRequest) (*assuresign.EnvelopeListing, error)
	// Endpoint is the URL status checks go to, and EnvelopesEndpoint the
	// one envelope listings go to, for logs and --check.
	Endpoint() string
	EnvelopesEndpoint() string
	// Hint says what to look at first when a request failed with err.
	Hint(err error) string
}

var (
	_ API = (*assuresign.Client)(nil)
	_ API = (*rest.Client)(nil)
)

package watchlist

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	restEnvelope = "5B2C9F4E-1A2B-4C3D-8E9F-0A1B2C3D4E5F"
	restToken    = "2CE11EF1-8938-DD11-8735-00065B8CE99B"
)

// Under the REST API an envelope needs only its id (a token is accepted),
// and documents: entries are refused with the file, the line and why.
func TestParseEnvelopesOnly(t *testing.T) {
	wl, err := ParseEnvelopesOnly("w.yml", []byte("envelopes:\n  - id: "+restEnvelope+"\n    labels:\n      team: legal\n  - id: "+restToken+"\n    auth_token: "+restEnvelope+"\n"), 0)
	require.NoError(t, err)
	require.Len(t, wl.Envelopes, 2)
	assert.Equal(t, restEnvelope, wl.Envelopes[0].ID)
	assert.Empty(t, wl.Envelopes[0].AuthToken)
	assert.Equal(t, "legal", wl.Envelopes[0].Labels["team"])
	assert.Empty(t, wl.Documents)

	_, err = ParseEnvelopesOnly("w.yml", []byte("envelopes:\n  - id: "+restEnvelope+"\ndocuments:\n  - id: "+restToken+"\n    auth_token: "+restEnvelope+"\n"), 0)
	require.EqualError(t, err, "w.yml:4: documents: the REST API (--assuresign.api=rest) addresses envelopes, not documents: list each document's envelope id under \"envelopes\" instead")

	_, err = ParseEnvelopesOnly("w.yml", []byte("documents: []\nenvelopes:\n  - id: "+restEnvelope+"\n"), 0)
	require.NoError(t, err, "an empty documents: asks for nothing")

	_, err = ParseEnvelopesOnly("w.yml", []byte("envelopes:\n  - id: "+restEnvelope+"\n    context_identifier: "+restToken+"\n"), 0)
	require.EqualError(t, err, "w.yml:3: envelopes[0].context_identifier: the REST API (--assuresign.api=rest) takes the account's ContextIdentifier once, from $ASSURESIGN_CONTEXT_IDENTIFIER or --assuresign.context-identifier-file")

	// The SOAP rules are unchanged: a token is required.
	_, err = Parse("w.yml", []byte("envelopes:\n  - id: "+restEnvelope+"\n"), 0)
	require.EqualError(t, err, "w.yml:2: envelopes[0]: missing required field \"auth_token\"")
}

// Files read under the REST rules apply them to every file.
func TestFilesEnvelopesOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.yml")
	require.NoError(t, os.WriteFile(path, []byte("documents:\n  - id: "+restToken+"\n    auth_token: "+restEnvelope+"\n"), 0o600))
	_, err := NewFile(path, 0, false, prometheus.NewRegistry(), slog.New(slog.DiscardHandler)).EnvelopesOnly().Load()
	require.ErrorContains(t, err, path+":2: documents: the REST API")
	_, err = NewFile(path, 0, false, prometheus.NewRegistry(), slog.New(slog.DiscardHandler)).Load()
	require.NoError(t, err)
}

package check

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/rest"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
	"github.com/assuresign-exporter/assuresign_exporter/upstream"
)

// chkAPIKey is the REST rig's API user's key: a secret like the others.
const chkAPIKey = "5EC2E7AB-ABAB-4ABA-8ABA-5EC2E7ABABAB"

func init() { chkSecrets.Add("REST API key", chkAPIKey) }

// restRig is a simulated account on the REST API, with envelopes of 3 and 2
// documents and a watch file of their ids.
type restRig struct {
	sim       *simulator.Simulator
	srv       *httptest.Server
	watch     string
	envelopes int
	user      simulator.APIUser
}

func newRESTRig(t *testing.T) *restRig {
	t.Helper()
	r := &restRig{sim: simulator.New(chkContext), watch: filepath.Join(t.TempDir(), "watch.yml"),
		user: simulator.APIUser{Username: "api.user", Key: chkAPIKey, ContextUsername: "jane@example.com"}}
	r.sim.SetAPIUser(r.user)
	envelopes, _ := r.sim.PutEnvelopes(3, 2)
	var watch strings.Builder
	watch.WriteString("envelopes:\n")
	for _, env := range envelopes {
		fmt.Fprintf(&watch, "  - {id: %s}\n", env)
	}
	r.envelopes = len(envelopes)
	require.NoError(t, os.WriteFile(r.watch, []byte(watch.String()), 0o600))
	r.srv = httptest.NewServer(r.sim)
	t.Cleanup(r.srv.Close)
	return r
}

// run runs --check on the REST API as the exporter makes it (without
// retries) and returns its exit code and output, having asserted that neither
// it nor the log holds a secret.
func (r *restRig) run(t *testing.T, output string) (int, string) {
	t.Helper()
	return runChecked(t, Config{
		WatchFiles: []string{r.watch}, MaxDocuments: 100, MaxEnvelopeDocuments: 100, ContextIdentifier: chkContext,
		EnvelopesOnly: true, OptionalContext: true,
		Upstream: func(secrets *assuresign.Secrets) (upstream.API, error) {
			secrets.Set("REST API key", []string{chkAPIKey})
			c, err := rest.New(rest.Config{
				BaseURL: r.srv.URL + simulator.RESTBasePath, AuthURL: r.srv.URL + simulator.RESTAuthPath,
				APIUsername: r.user.Username, APIKey: chkAPIKey, ContextUsername: r.user.ContextUsername,
				ContextIdentifier: chkContext, MaxRetries: -1, Known: secrets,
			})
			if err != nil {
				return nil, err
			}
			return c, nil
		},
		BatchSize: 50, Concurrency: 2, Timeout: 5 * time.Second, Output: output,
	})
}

// Under REST an envelope's listing is its status request: --check costs one
// request per envelope, as a refresh round does, not a listing and a check.
func TestCheckRESTOneRequestPerEnvelope(t *testing.T) {
	r := newRESTRig(t)
	code, out := r.run(t, OutputTable)
	assert.Equal(t, OK, code, out)
	assert.Equal(t, r.envelopes, r.sim.Stats().RESTStatuses, "one status request per envelope")
	assert.Contains(t, out, fmt.Sprintf("5 of 5 documents have a status; requests to %s%s%s: %d", r.srv.URL, simulator.RESTBasePath, rest.StatusPath, r.envelopes))
	assert.Regexp(t, `D0C00000-0000-4000-8000-000000000100 +signinG_STEP_PROGRESS +1`, out, "the status as sent")

	code, out = r.run(t, OutputJSON)
	assert.Equal(t, OK, code, out)
	rep := decodeCheckReport(t, []byte(out))
	assert.Equal(t, 5, rep.WithStatus)
	assert.Equal(t, r.envelopes, rep.Requests)
	assert.Equal(t, 2*r.envelopes, r.sim.Stats().RESTStatuses, "two runs, one status request per envelope each")
}

// A refused API user is the set-up's problem, as a wrong ContextIdentifier
// is under SOAP: exit 2, with what to look at.
func TestCheckRESTRefusedAPIUser(t *testing.T) {
	r := newRESTRig(t)
	r.sim.SetAPIUser(simulator.APIUser{Username: r.user.Username, Key: "another-key", ContextUsername: r.user.ContextUsername})

	code, out := r.run(t, OutputTable)
	assert.Equal(t, Unreachable, code, out)
	assert.Contains(t, out, "0 of 2 envelopes listed")
	assert.Contains(t, out, "FAILED: ")
	assert.Contains(t, out, "the API user's credentials were refused")
	assert.Contains(t, out, "likely cause: the API user's credentials were refused: check $ASSURESIGN_API_USERNAME")

	code, out = r.run(t, OutputJSON)
	assert.Equal(t, Unreachable, code, out)
	rep := decodeCheckReport(t, []byte(out))
	assert.Equal(t, "unreachable", rep.Result)
	assert.Equal(t, Unreachable, rep.ExitCode)
	assert.Contains(t, rep.Message, "the API user's credentials were refused")
	assert.Contains(t, rep.LikelyCause, "--assuresign.rest.auth-url")
	assert.Zero(t, rep.EnvelopesListed)
}

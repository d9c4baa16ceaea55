package options

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/alecthomas/kingpin/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/rest"
)

// The API is a flag with SOAP by default; REST takes its URLs from flags
// with the documented defaults.
func TestAPIFlags(t *testing.T) {
	app := kingpin.New("test", "")
	o := AddFlags(app)
	_, err := app.Parse([]string{"--watch.file=w.yml"})
	require.NoError(t, err)
	assert.Equal(t, APISOAP, o.API)
	assert.Equal(t, rest.DefaultBaseURL, o.REST.BaseURL)
	assert.Equal(t, rest.DefaultAuthURL, o.REST.AuthURL)
	_, err = app.Parse([]string{"--watch.file=w.yml", "--assuresign.api=graphql"})
	require.Error(t, err, "an API not in the table")
	_, err = app.Parse([]string{"--watch.file=w.yml", "--assuresign.api=rest"})
	require.NoError(t, err)
	assert.True(t, o.ChosenAPI().ByEnvelope)
}

// Every missing credential is named; the key comes from the file before
// the environment, and is never in the error.
func TestRESTCredentials(t *testing.T) {
	const key = "S3cr3t-K3y-0f-Th3-4P1-Us3r"
	rest := func() *Options { o := goodFlags(t); o.API = APIREST; return &o }
	t.Setenv(APIUsernameEnv, "")
	t.Setenv(ContextUsernameEnv, "")
	t.Setenv(APIKeyEnv, "")
	err := rest().RESTCredentials()
	require.Error(t, err)
	for _, want := range []string{"$" + APIUsernameEnv, "$" + ContextUsernameEnv, "$" + APIKeyEnv, "--assuresign.rest.api-key-file"} {
		assert.Contains(t, err.Error(), want)
	}

	soap := goodFlags(t)
	require.NoError(t, soap.RESTCredentials(), "SOAP needs none of them")

	t.Setenv(APIUsernameEnv, "api.user")
	t.Setenv(ContextUsernameEnv, "jane@example.com")
	t.Setenv(APIKeyEnv, key)
	o := rest()
	require.NoError(t, o.RESTCredentials())
	assert.Equal(t, RESTOptions{BaseURL: goodFlags(t).REST.BaseURL, AuthURL: goodFlags(t).REST.AuthURL,
		APIUsername: "api.user", ContextUsername: "jane@example.com", APIKey: key}, o.REST)

	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, []byte("\n"), 0o600))
	o = rest()
	o.REST.APIKeyFile = empty
	err = o.RESTCredentials()
	require.ErrorContains(t, err, "--assuresign.rest.api-key-file "+empty+" is empty")
	assert.NotContains(t, err.Error(), key)

	o = rest()
	o.REST.APIKeyFile = filepath.Join(dir, "absent")
	require.ErrorContains(t, o.RESTCredentials(), "reading --assuresign.rest.api-key-file")

	file := filepath.Join(dir, "key")
	require.NoError(t, os.WriteFile(file, []byte("from-the-file\n"), 0o600))
	o = rest()
	o.REST.APIKeyFile = file
	require.NoError(t, o.RESTCredentials())
	assert.Equal(t, "from-the-file", o.REST.APIKey)

	t.Setenv(ContextUsernameEnv, "a:b")
	require.ErrorContains(t, rest().RESTCredentials(), "must not contain ':'")
	t.Setenv(APIKeyEnv, "")
	err = rest().RESTCredentials()
	require.ErrorContains(t, err, "must not contain ':'", "named with the missing key")
	assert.ErrorContains(t, err, "the API key is missing")
}

// The table makes each API's client; the REST one knows its key as a secret.
func TestUpstreamTable(t *testing.T) {
	o := goodFlags(t)
	api, err := o.Upstream(Hooks{Secrets: assuresign.NewSecrets()})
	require.NoError(t, err)
	assert.IsType(t, &assuresign.Client{}, api)

	o.API = APIREST
	o.REST = RESTOptions{BaseURL: rest.DefaultBaseURL, AuthURL: rest.DefaultAuthURL, APIUsername: "u", ContextUsername: "c", APIKey: "S3cr3t-K3y-0f-Th3-4P1-Us3r"}
	secrets := assuresign.NewSecrets()
	api, err = o.Upstream(Hooks{Secrets: secrets})
	require.NoError(t, err)
	assert.IsType(t, &rest.Client{}, api)
	assert.Equal(t, rest.DefaultBaseURL+rest.StatusPath, api.Endpoint())
	assert.NotContains(t, assuresign.NewRedactor(secrets).Redact("key S3cr3t-K3y-0f-Th3-4P1-Us3r"), "S3cr3t")

	o.API = "graphql"
	_, err = o.Upstream(Hooks{Secrets: assuresign.NewSecrets()})
	require.EqualError(t, err, `--assuresign.api must be one of rest, soap, not "graphql"`)
}

// The flag's 0 retries is none, which the clients take as a negative (their
// 0 is their default).
func TestClientRetries(t *testing.T) {
	for flag, want := range map[int]int{0: -1, 1: 1, 3: 3} {
		o := goodFlags(t)
		o.MaxRetries = flag
		assert.Equal(t, want, o.clientRetries(), "--assuresign.max-retries=%d", flag)
	}
}

// The key is no part of the options as printed or logged, nor of a struct
// that holds them (the demo's account).
func TestRESTOptionsHideTheKey(t *testing.T) {
	const key = "S3cr3t-K3y-0f-Th3-4P1-Us3r"
	o := RESTOptions{APIUsername: "api.user", APIKey: key}
	holder := struct{ REST RESTOptions }{o}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("options", "rest", o)
	for _, text := range []string{fmt.Sprintf("%v", o), fmt.Sprintf("%+v", o), o.String(), fmt.Sprintf("%#v", o),
		fmt.Sprintf("%+v", holder), fmt.Sprintf("%#v", holder), logged.String()} {
		assert.NotContains(t, text, key)
		assert.Contains(t, text, "api.user")
	}
}

package options

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/rest"
	"github.com/assuresign-exporter/assuresign_exporter/refresh"
	"github.com/assuresign-exporter/assuresign_exporter/upstream"
)

// --assuresign.api's values.
const (
	APISOAP = "soap"
	APIREST = "rest"
)

// API is one row of the table of AssureSign APIs.
type API struct {
	// New makes the API's client from the options.
	New func(o *Options, h Hooks) (upstream.API, error)
	// ByEnvelope: the API addresses envelopes, not documents: watch files
	// are read under its rules (watchlist.ParseEnvelopesOnly) and the
	// refresh asks per envelope (refresh.Config.ByEnvelope).
	ByEnvelope bool
	// OptionalContext: the account's ContextIdentifier may be left out,
	// so watch entries need none either.
	OptionalContext bool
	// Operations are the operation label values its client observes.
	Operations []string
}

// apis are the AssureSign APIs, by --assuresign.api's value: a new API is a
// package implementing upstream.API and a row here.
var apis = map[string]API{
	APISOAP: {New: newSOAP, Operations: refresh.SOAPOperations},
	APIREST: {New: newREST, ByEnvelope: true, OptionalContext: true, Operations: refresh.RESTOperations},
}

// APINames are --assuresign.api's values, sorted.
func APINames() []string { return slices.Sorted(maps.Keys(apis)) }

// ChosenAPI is the row of --assuresign.api.
func (o *Options) ChosenAPI() API { return apis[o.apiName()] }

// checkAPI rejects an --assuresign.api not in the table (kingpin's enum
// does too, but Options are also built without flags).
func (o *Options) checkAPI() error {
	if _, ok := apis[o.apiName()]; !ok {
		return fmt.Errorf("--assuresign.api must be one of %s, not %q", strings.Join(APINames(), ", "), o.API)
	}
	return nil
}

// apiName is --assuresign.api's value; Options built without flags (in
// tests) ask SOAP, the flag's default.
func (o *Options) apiName() string { return cmp.Or(o.API, APISOAP) }

// Hooks are what the caller adds to the client the options configure.
type Hooks struct {
	Secrets *assuresign.Secrets // every secret known, redacted from what AssureSign says
	Logger  *slog.Logger
	// ContextIdentifier is the account's ("" when none): REST sends it in
	// X-AS-UserContext; SOAP per request, from the checks.
	ContextIdentifier string
	Observe           func(operation, outcome string, d time.Duration) // each HTTP attempt
	Dropped           func(item string, n int)                         // ignored items of an answer (SOAP)
}

// Upstream makes the chosen API's client. Nothing is asked yet.
func (o *Options) Upstream(h Hooks) (upstream.API, error) {
	if err := o.checkAPI(); err != nil {
		return nil, err
	}
	return o.ChosenAPI().New(o, h)
}

func newSOAP(o *Options, h Hooks) (upstream.API, error) {
	c, err := assuresign.NewClient(assuresign.Config{
		Endpoint: o.Endpoint, EnvelopesEndpoint: o.EnvelopesEndpoint, MaxBodyBytes: o.MaxResponseBytes,
		MaxRetries: o.clientRetries(), Logger: h.Logger, Secrets: h.Secrets, Observe: h.Observe, Dropped: h.Dropped,
	})
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return c, nil
}

// newREST makes the REST client; RESTCredentials has checked the
// credentials under the flags' names, and rest.New checks them again.
func newREST(o *Options, h Hooks) (upstream.API, error) {
	h.Secrets.Set("REST API key", []string{o.REST.APIKey})
	c, err := rest.New(rest.Config{
		BaseURL: o.REST.BaseURL, AuthURL: o.REST.AuthURL,
		APIUsername: o.REST.APIUsername, APIKey: o.REST.APIKey, ContextUsername: o.REST.ContextUsername,
		ContextIdentifier: h.ContextIdentifier, MaxRetries: o.clientRetries(), MaxBodyBytes: o.MaxResponseBytes,
		Observe: h.Observe, Known: h.Secrets, Logger: h.Logger,
		UnknownStatus: func(v string) {
			if h.Logger != nil {
				h.Logger.Warn("undocumented REST status value; reported as Unknown", "value", assuresign.Truncate(v, 64))
			}
		},
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// RESTOptions are the REST API's settings: URLs and key file from flags,
// credentials from the environment (or the key file).
type RESTOptions struct {
	BaseURL, AuthURL string
	APIKeyFile       string

	APIUsername, ContextUsername string
	APIKey                       string // a secret
}

// String leaves the key out, so that logging the options with %v, %+v or %s
// never prints it.
func (r RESTOptions) String() string {
	return fmt.Sprintf("{BaseURL:%s AuthURL:%s APIKeyFile:%s APIUsername:%s ContextUsername:%s APIKey:<secret>}",
		r.BaseURL, r.AuthURL, r.APIKeyFile, r.APIUsername, r.ContextUsername)
}

// GoString keeps %#v, which bypasses String, from printing the key.
func (r RESTOptions) GoString() string { return "options.RESTOptions" + r.String() }

// LogValue keeps slog's handlers, the JSON one included, from printing the key.
func (r RESTOptions) LogValue() slog.Value { return slog.StringValue(r.String()) }

// RESTCredentials reads the REST API's credentials into o.REST when
// --assuresign.api=rest: $ASSURESIGN_API_USERNAME,
// $ASSURESIGN_CONTEXT_USERNAME, and the key from --assuresign.rest.api-key-file
// or $ASSURESIGN_API_KEY, never from a flag value (it would show in ps).
// Every one missing or unusable is named.
func (o *Options) RESTCredentials() error {
	if o.apiName() != APIREST {
		return nil
	}
	r := &o.REST
	r.APIUsername = strings.TrimSpace(os.Getenv(APIUsernameEnv))
	r.ContextUsername = strings.TrimSpace(os.Getenv(ContextUsernameEnv))
	r.APIKey = strings.TrimSpace(os.Getenv(APIKeyEnv))
	keySource := "$" + APIKeyEnv
	if r.APIKeyFile != "" {
		data, err := os.ReadFile(r.APIKeyFile)
		if err != nil {
			return fmt.Errorf("reading --assuresign.rest.api-key-file: %w", err)
		}
		r.APIKey, keySource = strings.TrimSpace(string(data)), "--assuresign.rest.api-key-file "+r.APIKeyFile
	}
	var problems []string
	if r.APIUsername == "" {
		problems = append(problems, "$"+APIUsernameEnv+" (the API user's name) is empty")
	}
	if r.ContextUsername == "" {
		problems = append(problems, "$"+ContextUsernameEnv+" (the user the API user acts as) is empty")
	}
	if r.APIKey == "" {
		if r.APIKeyFile != "" {
			problems = append(problems, keySource+" is empty")
		} else {
			problems = append(problems, "the API key is missing: set $"+APIKeyEnv+" or --assuresign.rest.api-key-file")
		}
	}
	if strings.Contains(r.ContextUsername, ":") {
		problems = append(problems, "$"+ContextUsernameEnv+" must not contain ':' (it is sent as user:context)")
	}
	if len(problems) > 0 {
		return errors.New("--assuresign.api=rest: " + strings.Join(problems, "; "))
	}
	return nil
}

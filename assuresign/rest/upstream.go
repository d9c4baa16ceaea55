package rest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
)

// StatusPath is the status request's path under the base URL, as logs and
// --check show it.
const StatusPath = "/envelopes/{envelopeID}/status"

// errNoEnvelope answers a document that no envelope listed: the REST API
// has no way to ask about it.
var errNoEnvelope = errors.New("the REST API answers for envelopes: this document is in no watched envelope")

// CheckStatus answers checks through their envelopes: one status request
// per envelope of the batch, one after the other, answering all of that
// envelope's documents. Results come one per check, in order, followed by
// those of the envelopes' other documents, which the refresher records as
// well (they came at no cost). An envelope AssureSign does not know (404)
// fails its own documents only; any other failure fails the batch, as a
// failed SOAP request does.
func (c *Client) CheckStatus(ctx context.Context, checks []assuresign.Check) ([]assuresign.Result, error) {
	answered := map[string]assuresign.Result{}
	var extra []assuresign.Result
	asked := make(map[string]bool, len(checks))
	for _, ch := range checks {
		asked[ch.ID] = true
	}
	done := map[string]bool{}
	for _, ch := range checks {
		env := ch.EnvelopeID
		if env == "" || done[env] {
			continue
		}
		done[env] = true
		st, err := c.EnvelopeStatus(ctx, env)
		var e *assuresign.Error
		if errors.As(err, &e) && e.Kind == assuresign.KindHTTPStatus && e.StatusCode == http.StatusNotFound {
			for _, other := range checks {
				if other.EnvelopeID == env {
					answered[other.ID] = assuresign.Result{ID: other.ID, Err: err}
				}
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, r := range c.results(ctx, st) {
			if asked[r.ID] {
				answered[r.ID] = r
			} else {
				extra = append(extra, r)
			}
		}
	}
	out := make([]assuresign.Result, 0, len(checks)+len(extra))
	for _, ch := range checks {
		r, ok := answered[ch.ID]
		switch {
		case ok:
		case ch.EnvelopeID == "":
			r = assuresign.Result{ID: ch.ID, Err: errNoEnvelope}
		default:
			r = assuresign.Result{ID: ch.ID, Err: &assuresign.Error{Kind: assuresign.KindMissingResult, Detail: "not in its envelope's answer"}}
		}
		out = append(out, r)
	}
	return append(out, extra...), nil
}

// results are an envelope status answer's documents as status results, the
// closed ones dated (dateClosed).
func (c *Client) results(ctx context.Context, st *EnvelopeStatus) []assuresign.Result {
	out := make([]assuresign.Result, len(st.Documents))
	for i, d := range st.Documents {
		out[i] = assuresign.Result{ID: d.ID, RawStatus: d.RawStatus, Status: d.Status, StatusDetails: d.StatusDetails, Step: d.Step}
	}
	c.dateClosed(ctx, st.EnvelopeID, out)
	return out
}

// closedDate is how a closed document was dated.
type closedDate struct {
	status assuresign.Status // the status dated
	at     time.Time         // zero: unknown
	retry  time.Time         // when at is zero: when to ask again
}

const (
	// maxDated bounds the documents whose dating is remembered: past it they
	// are forgotten, and asked about again.
	maxDated = 50000
	// historyRetry is how long a failed history request is not repeated.
	historyRetry = time.Hour
)

// datedByHistory tells the statuses dateClosed dates: those whose alerts last a
// window from their StatusDate.
func datedByHistory(s assuresign.Status) bool {
	return s.Terminal() || s == assuresign.StatusSignerAuthenticationFailed
}

// dateClosed gives the envelope's closed documents (and those whose signer
// failed authentication) a StatusDate, which REST answers lack: without
// one, a document closed long before it was first watched, or before a
// restart without --persistence.file, would page as new. Nothing happens to
// a closed document after it closes, so the newest event of its own history
// when the exporter first sees it closed is when it closed, or soon after.
// The history's documentList is taken in the status answer's order when it
// has as many entries; otherwise, or without a readable date there, the
// envelope's newest event dates it. A document keeps its date while its
// status stays, so it costs one history request per envelope in which
// documents newly closed. After a failed one (counted under
// OpEnvelopeHistory, and logged) they stay undated, which the store dates as
// first seen, and it is asked again after historyRetry.
func (c *Client) dateClosed(ctx context.Context, envelopeID string, results []assuresign.Result) {
	var history *EnvelopeHistory // asked for at most once
	asked := false
	for i := range results {
		r := &results[i]
		if !datedByHistory(r.Status) {
			continue
		}
		now := c.now()
		c.mu.Lock()
		d, ok := c.dated[r.ID]
		c.mu.Unlock()
		if !ok || d.status != r.Status || (d.at.IsZero() && !now.Before(d.retry)) {
			if !asked {
				asked = true
				var err error
				if history, err = c.EnvelopeHistory(ctx, envelopeID); err != nil {
					c.logger.Warn("envelope history failed: its newly closed documents are dated as first seen; asking again in an hour",
						"envelope_id", envelopeID, "err", err)
				}
			}
			d = closedDate{status: r.Status, retry: now.Add(historyRetry)}
			if history != nil {
				d.at = history.Newest
				if len(history.Documents) == len(results) && !history.Documents[i].IsZero() {
					d.at = history.Documents[i]
				}
				if d.at.After(now) {
					d.at = now // a clock ahead of ours
				}
			}
			c.mu.Lock()
			if len(c.dated) >= maxDated {
				clear(c.dated)
			}
			c.dated[r.ID] = d
			c.mu.Unlock()
		}
		r.StatusDate = d.at
	}
}

// ListEnvelopeDocuments lists an envelope's documents with one status
// request, whose documents' statuses come along as the listing's Results
// (no second request for them). The REST API needs no AuthTokens: the
// listed documents carry none. An answer without documents is
// KindNoDocuments, as under SOAP.
func (c *Client) ListEnvelopeDocuments(ctx context.Context, req assuresign.EnvelopeRequest) (*assuresign.EnvelopeListing, error) {
	st, err := c.EnvelopeStatus(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	if len(st.Documents) == 0 {
		return nil, &assuresign.Error{Kind: assuresign.KindNoDocuments}
	}
	l := &assuresign.EnvelopeListing{EnvelopeID: st.EnvelopeID, Status: st.Status, Results: c.results(ctx, st)}
	for _, d := range st.Documents {
		l.Documents = append(l.Documents, assuresign.EnvelopeDocument{ID: d.ID, Name: assuresign.Truncate(d.Name, 256)})
	}
	return l, nil
}

// Endpoint is the envelope status URL, which answers both status checks
// and listings.
func (c *Client) Endpoint() string { return c.base + StatusPath }

// EnvelopesEndpoint is the same URL as Endpoint.
func (c *Client) EnvelopesEndpoint() string { return c.Endpoint() }

// AuthURL is where tokens are fetched.
func (c *Client) AuthURL() string { return c.auth }

// Hint says what to look at first when a request failed with err.
func (c *Client) Hint(err error) string {
	const regions = "the API hosts are www.assuresign.net (US West), na1. (US East), ca1. (Canada), au. (Australia), sb. (the sandbox); tokens come from account.assuresign.net, or a regional account host such as au-account.assuresign.net"
	host := c.base
	if u, perr := url.Parse(c.base); perr == nil {
		host = u.Host
	}
	var dnsErr *net.DNSError
	var e *assuresign.Error
	switch {
	case errors.Is(err, ErrCredentialsRefused):
		return "the API user's credentials were refused: check $ASSURESIGN_API_USERNAME, the API key ($ASSURESIGN_API_KEY or --assuresign.rest.api-key-file) and $ASSURESIGN_CONTEXT_USERNAME, and that --assuresign.rest.auth-url is the account's region (" + regions + ")"
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("the host %s does not resolve: check the region host in --assuresign.rest.url and --assuresign.rest.auth-url (%s)", dnsErr.Name, regions)
	case !errors.As(err, &e):
		return "an unexpected failure"
	}
	switch e.Kind {
	case assuresign.KindTransport:
		return fmt.Sprintf("%s could not be reached: check the region host in --assuresign.rest.url (%s), and any proxy or firewall", host, regions)
	case assuresign.KindTimeout:
		return fmt.Sprintf("%s did not answer within --assuresign.timeout: a wrong host, a firewall dropping packets, or AssureSign is slow", host)
	case assuresign.KindHTTPStatus:
		switch {
		case e.StatusCode == http.StatusNotFound:
			return "no such envelope, or a wrong path: check the envelope id in the watch file, and that --assuresign.rest.url ends in /api/documentnow/v3.7"
		case e.StatusCode == http.StatusForbidden:
			return "the API user may not see this envelope: the context user name ($ASSURESIGN_CONTEXT_USERNAME) or the account's ContextIdentifier may be another account's"
		case e.StatusCode == http.StatusTooManyRequests:
			return "AssureSign asks to slow down (one request per envelope): try again later, with a longer --refresh.interval or --refresh.max-interval"
		case e.StatusCode >= 500:
			return "AssureSign (or a proxy) is failing: try again later; if it lasts, check --assuresign.rest.url"
		}
	case assuresign.KindContentType, assuresign.KindMalformed:
		return "the URL did not answer as the REST API does (an HTML page, say): a wrong path or host, a proxy, or maintenance"
	case assuresign.KindTooLarge:
		return "the answer is larger than --assuresign.max-response-bytes: raise the limit"
	case assuresign.KindNoDocuments:
		return "the envelope has no documents yet"
	}
	return "see the error above"
}

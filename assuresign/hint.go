package assuresign

import (
	"errors"
	"fmt"
	"net"
	"net/url"
)

// Hint says what to look at first when a request failed with err.
func (c *Client) Hint(err error) string {
	host := c.endpoint
	if u, perr := url.Parse(c.endpoint); perr == nil {
		host = u.Host
	}
	const regions = "www.assuresign.net is US West, na1. US East, ca1. Canada, sb. the sandbox"
	var dnsErr *net.DNSError
	var e *Error
	switch {
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("the host %s does not resolve: check the region host in --assuresign.endpoint: %s", host, regions)
	case !errors.As(err, &e):
		return "an unexpected failure"
	}
	switch e.Kind {
	case KindTransport:
		return fmt.Sprintf("%s could not be reached: check the region host in --assuresign.endpoint (%s), and any proxy or firewall", host, regions)
	case KindTimeout:
		return fmt.Sprintf("%s did not answer within --assuresign.timeout: a wrong host, a firewall dropping packets, or AssureSign is slow", host)
	case KindSOAPFault:
		return "AssureSign refused the request: a wrong ContextIdentifier, or an endpoint of another DocumentNOW operation"
	case KindHTTPStatus:
		switch {
		case e.StatusCode == 404 || e.StatusCode == 405:
			return "the endpoint path is likely wrong: CheckStatus is expected at /Services/DocumentNOW/v2/DocumentNOW.svc/CheckStatus/text (a sandbox may need /Documents before /Services)"
		case e.StatusCode == 401 || e.StatusCode == 403:
			return "refused by the server or a proxy in front of it: a wrong ContextIdentifier, or a network that may not call AssureSign"
		case e.StatusCode == 429:
			return "AssureSign asks to slow down: try again later, with fewer requests (a larger --assuresign.batch-size)"
		case e.StatusCode >= 500:
			return "AssureSign (or a proxy) is failing: try again later; if it lasts, check the endpoint path"
		}
	case KindContentType, KindMalformed:
		return "the endpoint did not answer as CheckStatus does (an HTML page, say): a wrong path or host, a proxy, or maintenance"
	case KindTooLarge:
		return "the answer is larger than --assuresign.max-response-bytes: lower --assuresign.batch-size or raise the limit"
	}
	return "see the error above"
}

package refresh

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/rest"
	"github.com/assuresign-exporter/assuresign_exporter/exposition"
)

// Metrics are the exporter's own metrics, served after the documents' samples.
type Metrics struct {
	up                  prometheus.Gauge
	lastSuccess         prometheus.Gauge
	refreshDuration     prometheus.Gauge
	apiRequests         *prometheus.CounterVec
	apiDuration         *prometheus.HistogramVec
	results             *prometheus.CounterVec
	dropped             *prometheus.CounterVec
	holdUntil           prometheus.Gauge
	envelopeListings    *prometheus.CounterVec
	notificationLatency prometheus.Histogram // nil when the webhook is off

	// DocumentTRAK's health; registered with the webhook only.
	missedChanges        *prometheus.CounterVec
	lastMissed           prometheus.Gauge
	notificationsUnmoved prometheus.Counter
	lastNotification     prometheus.Gauge
	pushTrusted          prometheus.Gauge
}

// NewMetrics registers the exporter's metrics with reg. watched reports the
// watch list's length at scrape time; refreshInterval is exported so alerts on
// stale data can follow the configuration; webhook registers the notification
// latency, which only a webhook can observe. operations are the chosen API's
// (SOAPOperations when none are given), exported at 0 before their first
// request.
func NewMetrics(reg prometheus.Registerer, watched func() int, refreshInterval time.Duration, webhook bool, operations ...string) *Metrics {
	if len(operations) == 0 {
		operations = SOAPOperations
	}
	m := &Metrics{
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assuresign_up",
			Help: "1 when every request of the last scheduled refresh round got a well-formed answer from AssureSign; a document answered without a status does not lower it (see assuresign_document_check_success).",
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assuresign_last_refresh_success_timestamp_seconds",
			Help: "When a scheduled refresh round last completed without any failure, in Unix seconds.",
		}),
		refreshDuration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assuresign_refresh_duration_seconds",
			Help: "How long the last refresh round took.",
		}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assuresign_api_requests_total",
			Help: "HTTP requests sent to AssureSign, retries included, by operation and outcome.",
		}, []string{"operation", "result"}),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "assuresign_api_request_duration_seconds",
			Help:    "Duration of HTTP requests to AssureSign, by operation.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"operation"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assuresign_document_results_total",
			Help: "Per-document outcomes of successful status requests (CheckStatus, or the REST API's envelope status): ok, missing (no result for a document asked about), no_status (a result with exceptions only) or unknown_status (a StatusType outside the documented eight).",
		}, []string{"result"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assuresign_response_items_dropped_total",
			Help: "Items of AssureSign's answers ignored to keep one answer from flooding the log and counters: unrequested_result (a result for a document not asked about), exception (beyond the exceptions counted per document and answer) or envelope_document (a listed document another envelope has, or whose id is an envelope's; counted once).",
		}, []string{"item"}),
		holdUntil: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assuresign_upstream_hold_until_timestamp_seconds",
			Help: "Until when requests to AssureSign are held back as its latest Retry-After (on a 429 or 503) asked, in Unix seconds; 0 before any.",
		}),
	}
	m.envelopeListings = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "assuresign_envelope_listings_total",
		Help: "ListEnvelopeDocuments calls made for watched envelopes, retries not counted, by result: ok, too_many_documents (the listing would exceed --watch.max-documents or --watch.max-envelope-documents) or the failure's kind as in assuresign_api_requests_total, plus no_documents (an answer without any usable document).",
	}, []string{"result"})
	for _, r := range EnvelopeListingResults {
		m.envelopeListings.WithLabelValues(r)
	}
	reg.MustRegister(m.envelopeListings)
	if webhook {
		m.notificationLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "assuresign_webhook_notification_to_update_seconds",
			Help:    "Time from a DocumentTRAK notification to the named document's status being updated.",
			Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		})
		m.missedChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assuresign_webhook_missed_changes_total",
			Help: "Status changes a check found that no DocumentTRAK notification announced, into a status of --webhook.notified-statuses, by that status: push is broken or an event is not configured.",
		}, []string{"status"})
		m.lastMissed = prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assuresign_webhook_last_missed_change_timestamp_seconds",
			Help: "When a check last found a status change DocumentTRAK did not announce, in Unix seconds; 0 before any.",
		})
		m.notificationsUnmoved = prometheus.NewCounter(prometheus.CounterOpts{
			Name: "assuresign_webhook_notifications_without_change_total",
			Help: "DocumentTRAK notifications whose check found nothing moved (status, step and status date as before).",
		})
		m.lastNotification = prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assuresign_webhook_last_notification_timestamp_seconds",
			Help: "When the last DocumentTRAK notification arrived, or the exporter started when none has since, in Unix seconds.",
		})
		m.pushTrusted = prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assuresign_webhook_push_trusted",
			Help: "1 while DocumentTRAK is trusted (a notification within --webhook.health-window and no missed change within it): open documents are then checked every --webhook.reconcile-interval.",
		})
		reg.MustRegister(m.notificationLatency, m.missedChanges, m.lastMissed, m.notificationsUnmoved, m.lastNotification, m.pushTrusted)
	}
	for _, op := range operations {
		for _, o := range assuresign.Outcomes {
			m.apiRequests.WithLabelValues(op, o)
		}
		m.apiDuration.WithLabelValues(op)
	}
	for _, r := range []string{"ok", "missing", "no_status", "unknown_status"} {
		m.results.WithLabelValues(r)
	}
	for _, item := range []string{"unrequested_result", "exception", "envelope_document"} {
		m.dropped.WithLabelValues(item)
	}
	reg.MustRegister(m.up, m.lastSuccess, m.refreshDuration, m.apiRequests, m.apiDuration, m.results, m.dropped, m.holdUntil,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "assuresign_watched_documents",
			Help: "Documents this exporter watches: the watch list's, or with --total-shards above 1 this shard's share of them.",
		}, func() float64 { return float64(watched()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "assuresign_refresh_interval_seconds",
			Help: "The configured interval between scheduled refresh rounds.",
		}, func() float64 { return refreshInterval.Seconds() }),
	)
	return m
}

// initPush exports the missed changes of every notified status at 0, and the
// start as the last notification's time until one arrives.
func (m *Metrics) initPush(statuses []assuresign.Status, started time.Time) {
	if m.missedChanges == nil {
		return
	}
	for _, s := range statuses {
		m.missedChanges.WithLabelValues(s.String())
	}
	m.lastNotification.Set(exposition.UnixSeconds(started))
}

// DroppedItems counts items of an answer that were ignored; it is the client's Dropped hook.
func (m *Metrics) DroppedItems(item string, n int) { m.dropped.WithLabelValues(item).Add(float64(n)) }

// The operations each API's client observes: only the chosen API's are
// exported before their first request, so that no series stays 0 for ever.
var (
	SOAPOperations = []string{assuresign.OpCheckStatus, assuresign.OpListEnvelopeDocuments}
	RESTOperations = []string{rest.OpAuthenticate, rest.OpEnvelopeStatus, rest.OpEnvelopeHistory}
)

// NewTokenExpiryCollector exposes expiry (the REST client's TokenExpiry)
// as assuresign_rest_token_expiry_timestamp_seconds, 0 before the first
// token.
func NewTokenExpiryCollector(expiry func() time.Time) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "assuresign_rest_token_expiry_timestamp_seconds",
		Help: "When the REST API's current bearer token expires, in Unix seconds (it is renewed 5 minutes before); 0 before the first. Only with --assuresign.api=rest.",
	}, func() float64 {
		if t := expiry(); !t.IsZero() {
			return exposition.UnixSeconds(t)
		}
		return 0
	})
}

// ObserveRequest counts one HTTP attempt of operation; it is the client's Observe hook.
func (m *Metrics) ObserveRequest(operation, outcome string, d time.Duration) {
	m.apiRequests.WithLabelValues(operation, outcome).Inc()
	m.apiDuration.WithLabelValues(operation).Observe(d.Seconds())
}

var checkIntervalDesc = prometheus.NewDesc("assuresign_documents_by_check_interval",
	"Watched documents by how often they are checked now: open ones by their interval (it doubles for each day a document sits still, from --refresh.interval up to --refresh.max-interval), closed ones under band=\"terminal\".",
	[]string{"band"}, nil)

// checkIntervalCollector exposes the documents per check interval as the
// refresher last counted them (after each round, not at scrape time).
type checkIntervalCollector func() []CheckInterval

// NewCheckIntervalCollector exposes intervals (Refresher.CheckIntervals) as
// assuresign_documents_by_check_interval.
func NewCheckIntervalCollector(intervals func() []CheckInterval) prometheus.Collector {
	return checkIntervalCollector(intervals)
}

func (c checkIntervalCollector) Describe(ch chan<- *prometheus.Desc) { ch <- checkIntervalDesc }

func (c checkIntervalCollector) Collect(ch chan<- prometheus.Metric) {
	for _, b := range c() {
		ch <- prometheus.MustNewConstMetric(checkIntervalDesc, prometheus.GaugeValue, float64(b.Documents), b.Band)
	}
}

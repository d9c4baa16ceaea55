package collector

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
)

// Metrics are the exporter's own metrics, served after the documents' samples.
type Metrics struct {
	up                  prometheus.Gauge
	lastSuccess         prometheus.Gauge
	refreshDuration     prometheus.Gauge
	apiRequests         *prometheus.CounterVec
	apiDuration         prometheus.Histogram
	results             *prometheus.CounterVec
	notificationLatency prometheus.Histogram // nil when the webhook is off
}

// NewMetrics registers the exporter's metrics with reg. watched reports the
// watch list's length at scrape time; refreshInterval is exported so alerts on
// stale data can follow the configuration; webhook registers the notification
// latency, which only a webhook can observe.
func NewMetrics(reg prometheus.Registerer, watched func() int, refreshInterval time.Duration, webhook bool) *Metrics {
	m := &Metrics{
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assuresign_up",
			Help: "1 when the last refresh round reached AssureSign and got valid answers for every document it asked about.",
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
			Help: "CheckStatus HTTP requests sent to AssureSign, retries included, by outcome.",
		}, []string{"result"}),
		apiDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "assuresign_api_request_duration_seconds",
			Help:    "Duration of CheckStatus HTTP requests to AssureSign.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assuresign_document_results_total",
			Help: "Per-document outcomes of successful CheckStatus requests: ok, missing (no result for a document asked about) or unknown_status (a StatusType outside the documented eight).",
		}, []string{"result"}),
	}
	if webhook {
		m.notificationLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "assuresign_webhook_notification_to_update_seconds",
			Help:    "Time from a DocumentTRAK notification to the named document's status being updated.",
			Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		})
		reg.MustRegister(m.notificationLatency)
	}
	for _, o := range assuresign.Outcomes {
		m.apiRequests.WithLabelValues(o)
	}
	for _, r := range []string{"ok", "missing", "unknown_status"} {
		m.results.WithLabelValues(r)
	}
	reg.MustRegister(m.up, m.lastSuccess, m.refreshDuration, m.apiRequests, m.apiDuration, m.results,
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

// ObserveRequest counts one CheckStatus HTTP attempt; it is the client's Observe hook.
func (m *Metrics) ObserveRequest(outcome string, d time.Duration) {
	m.apiRequests.WithLabelValues(outcome).Inc()
	m.apiDuration.Observe(d.Seconds())
}

// RegisterShardMetrics exports the shard layout, as kube-state-metrics does,
// so that alerts can find a missing shard or shards that disagree.
func RegisterShardMetrics(reg prometheus.Registerer, shard, total int) {
	ordinal := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "assuresign_shard_ordinal",
		Help: "This exporter's shard (--shard), also as the shard label.",
	}, []string{"shard"})
	ordinal.WithLabelValues(strconv.Itoa(shard)).Set(float64(shard))
	totalShards := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "assuresign_total_shards",
		Help: "Number of shards the watch list is split into (--total-shards).",
	})
	totalShards.Set(float64(total))
	reg.MustRegister(ordinal, totalShards)
}

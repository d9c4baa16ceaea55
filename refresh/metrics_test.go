package refresh

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/collector"
	"github.com/assuresign-exporter/assuresign_exporter/internal/storetest"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

// Every metric the exporter keeps of its own, the webhook's included, lints
// clean beside the documents' families and shares no name with them. (That
// /metrics serves them together, with their values, is tested in package
// server.)
func TestSelfMetricsLintBesideTheDocuments(t *testing.T) {
	reg := prometheus.NewRegistry()
	store := collector.NewStore(collector.StoreConfig{})
	store.SetWatchList(storetest.WatchList(testenv.DocA, testenv.DocB, testenv.DocC))
	m := NewMetrics(reg, store.Len, 5*time.Minute, true)
	m.ObserveRequest(assuresign.OpCheckStatus, "ok", 120*time.Millisecond)
	m.ObserveRequest(assuresign.OpCheckStatus, "http_5xx", 3*time.Second)
	r := NewRefresher(Config{Interval: 5 * time.Minute, TerminalInterval: time.Hour, BatchSize: 2, Concurrency: 1, Timeout: time.Second,
		Now:  testenv.NewClock(testenv.T0.Add(time.Hour)).Now,
		Push: PushConfig{Enabled: true, NotifiedStatuses: DefaultNotifiedStatuses, HealthWindow: 6 * time.Hour, ReconcileInterval: 6 * time.Hour}}, store, storetest.AnswerAll(assuresign.StatusCreated, testenv.T0), m, testenv.DiscardLogger())
	r.round(t.Context(), false)

	mfs, err := reg.Gather()
	require.NoError(t, err)
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	assert.Equal(t, []string{
		"assuresign_api_request_duration_seconds",
		"assuresign_api_requests_total",
		"assuresign_document_results_total",
		"assuresign_envelope_listings_total",
		"assuresign_last_refresh_success_timestamp_seconds",
		"assuresign_refresh_duration_seconds",
		"assuresign_refresh_interval_seconds",
		"assuresign_response_items_dropped_total",
		"assuresign_up",
		"assuresign_upstream_hold_until_timestamp_seconds",
		"assuresign_watched_documents",
		"assuresign_webhook_last_missed_change_timestamp_seconds",
		"assuresign_webhook_last_notification_timestamp_seconds",
		"assuresign_webhook_missed_changes_total",
		"assuresign_webhook_notification_to_update_seconds",
		"assuresign_webhook_notifications_without_change_total",
		"assuresign_webhook_push_trusted",
	}, names)

	for _, fam := range collector.DocumentFamilies() {
		assert.NotContains(t, names, fam.Name)
	}

	all := storetest.Documents(store, reg)
	problems, err := testutil.GatherAndLint(all)
	require.NoError(t, err)
	assert.Empty(t, problems)
	n, err := testutil.GatherAndCount(all, "assuresign_api_requests_total", "assuresign_api_request_duration_seconds", "assuresign_document_results_total")
	require.NoError(t, err)
	assert.Equal(t, 2*(len(assuresign.Outcomes)+1)+4, n, "two operations: check_status and list_envelope_documents")
}

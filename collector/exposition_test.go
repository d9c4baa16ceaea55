package collector

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/internal/storetest"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

// These tests read what a Store publishes; how /metrics serves it
// (negotiation, gzip, errors, concurrency) is tested in package server.

// fixedStore holds three documents in known states:
//   - A: at signing step 2, with a warning, and labels that need escaping;
//   - B: Completed, then answered with exceptions only (of every severity);
//   - C: never checked.
func fixedStore() *Store {
	s := NewStore(StoreConfig{})
	s.SetWatchList(&watchlist.List{Documents: []watchlist.Entry{
		{ID: testenv.DocA, AuthToken: testenv.SecretTokenA, Labels: map[string]string{"customer": "acme", "note": "say \"hi\" \\ C:\\dir\nline 2"}},
		{ID: testenv.DocB, AuthToken: testenv.SecretTokenB},
		{ID: testenv.DocC, AuthToken: testenv.SecretTokenC, ContextIdentifier: testenv.SecretDocContext},
	}})
	answer(s, assuresign.Result{
		ID: testenv.DocA, RawStatus: "SigningStepInProgress", Status: assuresign.StatusSigningStepInProgress, Step: 2,
		StatusDate: time.Date(2024, 3, 1, 11, 0, 0, 0, time.UTC),
		Exceptions: []assuresign.Exception{{Severity: assuresign.SeverityWarning, Message: "reminder not delivered"}},
	}, time.Date(2024, 3, 1, 12, 0, 30, 250_000_000, time.UTC), time.Hour, 24*time.Hour)
	answer(s, assuresign.Result{
		ID: testenv.DocB, RawStatus: "Completed", Status: assuresign.StatusCompleted,
		StatusDate: time.Date(2024, 2, 29, 8, 30, 0, 500_000_000, time.FixedZone("EST", -5*3600)).In(time.UTC),
	}, testenv.T0, time.Hour, 24*time.Hour)
	answer(s, assuresign.Result{ID: testenv.DocB, Exceptions: []assuresign.Exception{
		{Severity: assuresign.SeverityError, Message: "e"},
		{Severity: assuresign.SeverityFatal, Message: "f"},
		{Severity: assuresign.SeverityFatal, Message: "f"},
		{Severity: assuresign.SeverityUnknown, Message: "u"},
	}}, testenv.T0, time.Hour, 24*time.Hour)
	return s
}

// fixedExposition is fixedStore's exposition, byte for byte.
var fixedExposition = strings.NewReplacer("{A}", testenv.DocA, "{B}", testenv.DocB, "{C}", testenv.DocC, "{CachedHelp}", CachedHelp).Replace(`# HELP assuresign_document_status Document status as a state set: 1 for the current StatusType, 0 for the others.{CachedHelp}
# TYPE assuresign_document_status gauge
assuresign_document_status{document_id="{A}",status="Created"} 0
assuresign_document_status{document_id="{A}",status="SigningStepInProgress"} 1
assuresign_document_status{document_id="{A}",status="Completed"} 0
assuresign_document_status{document_id="{A}",status="Expired"} 0
assuresign_document_status{document_id="{A}",status="Declined"} 0
assuresign_document_status{document_id="{A}",status="Cancelled"} 0
assuresign_document_status{document_id="{A}",status="Staled"} 0
assuresign_document_status{document_id="{A}",status="SignerAuthenticationFailed"} 0
assuresign_document_status{document_id="{A}",status="Unknown"} 0
assuresign_document_status{document_id="{B}",status="Created"} 0
assuresign_document_status{document_id="{B}",status="SigningStepInProgress"} 0
assuresign_document_status{document_id="{B}",status="Completed"} 1
assuresign_document_status{document_id="{B}",status="Expired"} 0
assuresign_document_status{document_id="{B}",status="Declined"} 0
assuresign_document_status{document_id="{B}",status="Cancelled"} 0
assuresign_document_status{document_id="{B}",status="Staled"} 0
assuresign_document_status{document_id="{B}",status="SignerAuthenticationFailed"} 0
assuresign_document_status{document_id="{B}",status="Unknown"} 0
assuresign_document_status{document_id="{C}",status="Created"} 0
assuresign_document_status{document_id="{C}",status="SigningStepInProgress"} 0
assuresign_document_status{document_id="{C}",status="Completed"} 0
assuresign_document_status{document_id="{C}",status="Expired"} 0
assuresign_document_status{document_id="{C}",status="Declined"} 0
assuresign_document_status{document_id="{C}",status="Cancelled"} 0
assuresign_document_status{document_id="{C}",status="Staled"} 0
assuresign_document_status{document_id="{C}",status="SignerAuthenticationFailed"} 0
assuresign_document_status{document_id="{C}",status="Unknown"} 1
# HELP assuresign_document_status_timestamp_seconds StatusDate of the document's current status, in Unix seconds.{CachedHelp}
# TYPE assuresign_document_status_timestamp_seconds gauge
assuresign_document_status_timestamp_seconds{document_id="{A}"} 1.7092908e+09
assuresign_document_status_timestamp_seconds{document_id="{B}"} 1.7092134005e+09
# HELP assuresign_document_signing_step Signing step number while the document is SigningStepInProgress.{CachedHelp}
# TYPE assuresign_document_signing_step gauge
assuresign_document_signing_step{document_id="{A}"} 2
# HELP assuresign_document_exceptions_total StatusCheckException items received for the document, by severity.{CachedHelp}
# TYPE assuresign_document_exceptions_total counter
assuresign_document_exceptions_total{document_id="{A}",severity="Warning"} 1
assuresign_document_exceptions_total{document_id="{A}",severity="Error"} 0
assuresign_document_exceptions_total{document_id="{A}",severity="Fatal"} 0
assuresign_document_exceptions_total{document_id="{B}",severity="Warning"} 0
assuresign_document_exceptions_total{document_id="{B}",severity="Error"} 1
assuresign_document_exceptions_total{document_id="{B}",severity="Fatal"} 2
assuresign_document_exceptions_total{document_id="{B}",severity="Unknown"} 1
assuresign_document_exceptions_total{document_id="{C}",severity="Warning"} 0
assuresign_document_exceptions_total{document_id="{C}",severity="Error"} 0
assuresign_document_exceptions_total{document_id="{C}",severity="Fatal"} 0
# HELP assuresign_document_last_check_timestamp_seconds When a status result for the document last arrived, in Unix seconds.{CachedHelp}
# TYPE assuresign_document_last_check_timestamp_seconds gauge
assuresign_document_last_check_timestamp_seconds{document_id="{A}"} 1.70929443025e+09
assuresign_document_last_check_timestamp_seconds{document_id="{B}"} 1.7092944e+09
# HELP assuresign_document_check_success 1 when AssureSign's last answer about the document carried its status, 0 when it did not (no result, or only exceptions: a wrong AuthToken or ContextIdentifier, a deleted document, another region).{CachedHelp}
# TYPE assuresign_document_check_success gauge
assuresign_document_check_success{document_id="{A}"} 1
assuresign_document_check_success{document_id="{B}"} 0
# HELP assuresign_document_info Watched document with the labels given in the watch file.{CachedHelp}
# TYPE assuresign_document_info gauge
assuresign_document_info{document_id="{A}",customer="acme",note="say \"hi\" \\ C:\\dir\nline 2"} 1
assuresign_document_info{document_id="{B}"} 1
assuresign_document_info{document_id="{C}"} 1
`)

func TestDocumentExpositionIsExact(t *testing.T) {
	s := fixedStore()
	assert.Equal(t, fixedExposition, storetest.Scrape(t, s, false))
	// The same as Prometheus reads it (testutil wants the labels sorted, as
	// a registry sorts them).
	sorted := strings.Replace(fixedExposition, `{document_id="`+testenv.DocA+`",customer="acme",`, `{customer="acme",document_id="`+testenv.DocA+`",`, 1)
	require.NotEqual(t, fixedExposition, sorted)
	require.NoError(t, testutil.GatherAndCompare(storetest.Documents(s), strings.NewReader(sorted)))
	problems, err := testutil.GatherAndLint(storetest.Documents(s))
	require.NoError(t, err)
	assert.Empty(t, problems)
}

// In OpenMetrics the samples are the same bytes; only the counter family is
// named without _total in its descriptors.
func TestDocumentExpositionAsOpenMetrics(t *testing.T) {
	s := fixedStore()
	text := storetest.Scrape(t, s, false)
	assert.NotContains(t, text, "# EOF")
	assert.Contains(t, text, "# TYPE assuresign_document_exceptions_total counter\n")

	om := storetest.Scrape(t, s, true)
	require.NoError(t, testenv.CheckOpenMetrics(om))
	assert.Contains(t, om, "# TYPE assuresign_document_exceptions counter\n")
	assert.NotContains(t, om, "# TYPE assuresign_document_exceptions_total")
	assert.Contains(t, om, "\nassuresign_document_exceptions_total{document_id=\""+testenv.DocB+"\",severity=\"Fatal\"} 2\n")
	assert.Contains(t, om, "\nassuresign_document_info{document_id=\""+testenv.DocA+"\",customer=\"acme\",note=\"say \\\"hi\\\" \\\\ C:\\\\dir\\nline 2\"} 1\n")
	want := strings.NewReplacer(
		"# HELP assuresign_document_exceptions_total ", "# HELP assuresign_document_exceptions ",
		"# TYPE assuresign_document_exceptions_total ", "# TYPE assuresign_document_exceptions ",
	).Replace(fixedExposition) + "# EOF\n"
	assert.Equal(t, want, om)
}

func TestSigningStepOnlyWhileInProgress(t *testing.T) {
	s := fixedStore()
	g := storetest.Documents(s)
	steps := func() int {
		n, err := testutil.GatherAndCount(g, "assuresign_document_signing_step")
		require.NoError(t, err)
		return n
	}
	require.Equal(t, 1, steps())
	for _, tc := range []struct {
		status assuresign.Status
		step   int
		want   int
	}{
		{assuresign.StatusSignerAuthenticationFailed, 2, 0}, // the simulator keeps the step; the exposition does not
		{assuresign.StatusSigningStepInProgress, 3, 1},
		{assuresign.StatusSigningStepInProgress, 0, 0}, // no StatusDetails
		{assuresign.StatusCompleted, 0, 0},
	} {
		answer(s, assuresign.Result{ID: testenv.DocA, RawStatus: tc.status.String(), Status: tc.status, Step: tc.step, StatusDate: testenv.T0}, testenv.T0, time.Hour, time.Hour)
		assert.Equal(t, tc.want, steps(), "%s step %d", tc.status, tc.step)
		assert.Equal(t, tc.status.String(), testenv.AssertStateSets(t, g)[testenv.DocA])
	}
}

func TestDocumentFamiliesSayTheyAreCached(t *testing.T) {
	mfs, err := storetest.Documents(fixedStore()).Gather()
	require.NoError(t, err)
	require.Len(t, mfs, len(DocumentFamilies()))
	for _, mf := range mfs {
		assert.True(t, strings.HasSuffix(mf.GetHelp(), "Cached from the last background refresh; a scrape never calls AssureSign."), mf.GetName())
	}
}

// TestPublishDuringRefresh publishes and writes while results and reloads
// land, for the race detector (published expositions are written without
// the store's lock), and checks every one is a consistent exposition.
func TestPublishDuringRefresh(t *testing.T) {
	s := NewStore(StoreConfig{})
	ids := make([]string, 50)
	for i := range ids {
		ids[i] = testenv.GUID(0x5C4A, i)
	}
	s.SetWatchList(storetest.WatchList(ids...))
	g := storetest.Documents(s)
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			st := assuresign.Statuses[i%len(assuresign.Statuses)]
			answer(s, assuresign.Result{ID: ids[i%len(ids)], RawStatus: st.String(), Status: st, Step: i % 4, StatusDate: testenv.T0}, testenv.T0, time.Hour, time.Hour)
			if i%200 == 0 {
				s.SetWatchList(storetest.WatchList(ids[:len(ids)-i/200%5]...))
			}
			runtime.Gosched()
		}
	}()
	defer func() {
		close(stop)
		<-stopped
	}()
	for range 20 {
		states := testenv.AssertStateSets(t, g)
		assert.GreaterOrEqual(t, len(states), len(ids)-4)
		require.NoError(t, testenv.CheckOpenMetrics(storetest.Scrape(t, s, true)))
	}
}

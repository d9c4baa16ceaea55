package demo

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
)

func TestDemoCheckProgram(t *testing.T) {
	for exe, want := range map[string]string{
		"/tmp/go-build2159638305/b001/exe/assuresign_exporter":   "go run .",
		"/home/me/.cache/go-build/4f/4f0c-d/assuresign_exporter": "go run .",
		"/usr/local/bin/assuresign_exporter":                     "/usr/local/bin/assuresign_exporter",
		"/home/me/go-builds/assuresign_exporter":                 "/home/me/go-builds/assuresign_exporter",
		"/opt/my exporter/assuresign_exporter":                   "'/opt/my exporter/assuresign_exporter'",
		"/home/me/src/assuresign_exporter/assuresign_exporter":   "/home/me/src/assuresign_exporter/assuresign_exporter",
	} {
		assert.Equal(t, want, checkProgram(exe), exe)
	}
}

// The demo's /admin/notifications takes the standalone simulator's JSON,
// and refuses anything else with a reason.
func TestDemoNotificationsHandler(t *testing.T) {
	var received atomic.Int32
	webhook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		received.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer webhook.Close()
	sim := simulator.New("ctx")
	const id = "DE30DE30-0000-4000-8000-000000000001"
	sim.Put(simulator.Document{ID: id, Status: assuresign.StatusSigningStepInProgress, Step: 1})
	sim.SetNotifier(webhook.URL, "tok")
	post := func(body string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		notificationsHandler(sim)(w, httptest.NewRequest(http.MethodPost, notificationsPath, strings.NewReader(body)))
		return w
	}
	step := func(n int) int32 {
		sim.Update(id, func(d *simulator.Document) { d.Step = n })
		sim.WaitNotifications()
		return received.Swap(0)
	}

	for body, want := range map[string]string{
		`{"stop":"yes"}`:                "cannot unmarshal",
		`{"halt":true}`:                 `unknown field "halt"`,
		`{"drop_statuses":["Signed"]}`:  `drop_statuses: "Signed" is not a status`,
		`not json`:                      "invalid character",
		`{"drop_statuses":["Declined"]`: "unexpected EOF",
	} {
		w := post(body)
		assert.Equal(t, http.StatusBadRequest, w.Code, body)
		assert.Contains(t, w.Body.String(), want, body)
	}
	assert.Equal(t, int32(1), step(2), "delivered")
	assert.Equal(t, http.StatusNoContent, post(`{"stop":true}`).Code)
	assert.Equal(t, int32(0), step(3), "stopped")
	assert.Equal(t, http.StatusNoContent, post(`{}`).Code)
	assert.Equal(t, int32(1), step(4), "all again")
}

package reliability

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

const (
	loadDocs     = 10_000
	loadScrapers = 32
	loadDuration = 30 * time.Second
)

// TestLoad runs 32 concurrent scrapers (half asking for gzip) for 30 seconds
// against the exporter watching 10,000 documents (a 16 MB scrape), while
// refresh rounds run every 2s and the simulator moves documents through their
// life cycle. The binary is the normal build, so the figures are production's;
// TestRaceSoak runs the -race build through the same concurrent paths.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	docs := newDocs(loadDocs, "load")
	dir, ctxPath, sim := newAccount(t, docs, "--lifecycle", "1s", "--seed", "7")
	watch := filepath.Join(dir, "watch.yml")
	testenv.ReplaceFile(t, watch, watchYAML(docs))
	e := startExporter(t, exporterOpts{watchFile: watch, endpoint: sim.Endpoint(), contextFile: ctxPath,
		flags: map[string]string{
			"refresh.interval": "2s", "refresh.terminal-interval": "2s", "assuresign.timeout": "10s",
			"log.level": "info", // debug would log every round; the secret scan covers debug elsewhere
		}})
	testenv.Eventually(t, 90*time.Second, "the first round over 10,000 documents", func() (bool, string) {
		code, _, err := e.get("/-/ready")
		time.Sleep(100 * time.Millisecond)
		return err == nil && code == 200, fmt.Sprintf("/-/ready: %d %v", code, err)
	})
	first := e.scrapeScanned(true)
	known := 0
	for _, st := range first.statuses {
		if st != "Unknown" {
			known++
		}
	}
	if first.up() != 1 || known != loadDocs {
		t.Fatalf("after the first round: up=%v, %d of %d statuses known", first.up(), known, loadDocs)
	}
	e.client.CloseIdleConnections()
	goroutinesBefore := int(e.scrapeScanned(false).value("go_goroutines"))
	okBefore := first.requests("ok")
	rssBefore := rssMiB(t, e.pid())

	// Half the scrapers ask for gzip, as Prometheus does; half do not.
	plain := newClient(t, nil, 60*time.Second)
	gz := newClient(t, nil, 60*time.Second)
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failures  []string
		rss       []float64
		wg        sync.WaitGroup
	)
	deadline := time.Now().Add(loadDuration)
	for w := range loadScrapers {
		client := plain
		if w%2 == 1 {
			client = gz
		}
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				start := time.Now()
				err := func() error {
					req, err := http.NewRequest(http.MethodGet, e.URL+"/metrics", nil)
					if err != nil {
						return err
					}
					gzipped := w%2 == 1
					if gzipped {
						req.Header.Set("Accept-Encoding", "gzip") // kept compressed: unpacked below
					}
					res, err := client.Do(req)
					if err != nil {
						return err
					}
					defer res.Body.Close()
					if res.StatusCode != 200 {
						return fmt.Errorf("status %s", res.Status)
					}
					// Verify while streaming: a 16 MB body would make a
					// race-built client the bottleneck if buffered.
					var body io.Reader = res.Body
					check := &scrapeCheck{}
					if gzipped {
						if res.Header.Get("Content-Encoding") != "gzip" {
							return fmt.Errorf("not gzipped")
						}
						if w != 1 || i%2 != 0 { // one scraper unpacks; the rest must get a whole chunked stream
							_, err := io.Copy(io.Discard, body)
							return err
						}
						zr, err := gzip.NewReader(body)
						if err != nil {
							return err
						}
						body = zr
					}
					if _, err := io.Copy(check, body); err != nil {
						return err
					}
					return check.verify()
				}()
				d := time.Since(start)
				mu.Lock()
				latencies = append(latencies, d)
				if err != nil {
					failures = append(failures, err.Error())
				}
				mu.Unlock()
			}
		})
	}
	wg.Go(func() { // RSS once a second
		for time.Now().Before(deadline) {
			r := rssMiB(t, e.pid())
			mu.Lock()
			rss = append(rss, r)
			mu.Unlock()
			time.Sleep(time.Second)
		}
	})
	wg.Wait()
	loadEnd := float64(time.Now().UnixNano()) / 1e9
	plain.CloseIdleConnections()
	gz.CloseIdleConnections()

	// Whole bodies, plain and gzipped, are scanned for secrets once the load is over.
	last := e.scrapeScanned(true)
	if res, body, err := e.request(http.MethodGet, "/metrics", http.Header{"Accept-Encoding": {"gzip"}}, nil); err != nil || res.StatusCode != 200 {
		t.Errorf("gzipped scrape: %v %v", res, err)
	} else if zr, err := gzip.NewReader(bytes.NewReader(body)); err != nil {
		t.Errorf("gzipped scrape: %v", err)
	} else if raw, err := io.ReadAll(zr); err != nil {
		t.Errorf("gzipped scrape: %v", err)
	} else {
		captureOutput(t, "GET /metrics gzipped, 10,000 documents", raw)
	}
	changes := 0
	for id, st := range last.statuses {
		if first.statuses[id] != st {
			changes++
		}
	}
	okDuring := last.requests("ok") - okBefore
	rounds := okDuring / float64((loadDocs+49)/50)
	var goroutinesEnd int
	testenv.Eventually(t, 15*time.Second, "the exporter's goroutines to settle", func() (bool, string) {
		e.client.CloseIdleConnections()
		goroutinesEnd = int(e.scrapeScanned(false).value("go_goroutines"))
		return goroutinesEnd <= goroutinesBefore+2, fmt.Sprintf("%d goroutines, %d before", goroutinesEnd, goroutinesBefore)
	})

	slices.Sort(latencies)
	fig := LoadFigure{
		Documents: loadDocs, Scrapers: loadScrapers, Duration: loadDuration,
		Served: len(latencies) - len(failures), Failed: len(failures),
		GoroutinesBefore: goroutinesBefore, GoroutinesEnd: goroutinesEnd,
		Rounds: rounds, StatusChanges: changes,
	}
	if n := len(latencies); n > 0 {
		fig.P50, fig.P99, fig.Max = latencies[n/2], latencies[n*99/100], latencies[n-1]
	}
	// Memory: before the load, 15s in (once every scraper's buffers exist and
	// the heap has found its size), and at the end.
	fig.RSSBeforeMiB = rssBefore
	if len(rss) > 16 {
		fig.RSSMidMiB, fig.RSSEndMiB = rss[15], rss[len(rss)-1]
	}
	// After the load, the refresher catches up.
	fig.CatchUp = testenv.Eventually(t, 60*time.Second, "a full refresh round after the load", func() (bool, string) {
		s := e.scrapeScanned(false)
		return s.up() == 1 && s.lastSuccess() > loadEnd, fmt.Sprintf("up=%v, last success %.0fs before the load ended", s.up(), loadEnd-s.lastSuccess())
	})
	Figures.SetLoad(fig)
	t.Logf("RSS each second during the load (MiB): %.0f", rss)

	if len(failures) > 0 {
		t.Errorf("%d of %d scrapes failed; first: %s", len(failures), len(latencies), failures[0])
	}
	if okDuring <= 0 {
		t.Errorf("no refresh request completed during the load")
	}
	if changes == 0 {
		t.Errorf("no status changed during the load: the life cycle did not reach /metrics")
	}
	if fig.RSSEndMiB > fig.RSSMidMiB*1.15+8 {
		t.Errorf("RSS grew from %.1f MiB (15s in) to %.1f MiB (end) during the load", fig.RSSMidMiB, fig.RSSEndMiB)
	}
	if !e.Alive() {
		t.Fatalf("the exporter exited")
	}
	_ = sim
}

// scrapeCheck counts, while a scrape streams through it, the documents'
// info samples and the assuresign_up sample, across chunk boundaries.
type scrapeCheck struct {
	infos, ups int
	tail       []byte
}

var (
	infoPattern = []byte("\nassuresign_document_info{")
	upPattern   = []byte("\nassuresign_up ")
)

func (c *scrapeCheck) Write(p []byte) (int, error) {
	// Matches straddling the boundary: the last n bytes before it and the
	// first n after it, n one less than the pattern, can hold no whole match.
	straddling := func(pat []byte) int {
		n := len(pat) - 1
		tail := c.tail[max(0, len(c.tail)-n):]
		join := append(slices.Clip(tail), p[:min(n, len(p))]...)
		return bytes.Count(join, pat)
	}
	c.infos += straddling(infoPattern) + bytes.Count(p, infoPattern)
	c.ups += straddling(upPattern) + bytes.Count(p, upPattern)
	const keep = 32 // longer than either pattern
	c.tail = append(c.tail, p[max(0, len(p)-keep):]...)
	c.tail = c.tail[max(0, len(c.tail)-keep):]
	return len(p), nil
}

func (c *scrapeCheck) verify() error {
	if c.infos != loadDocs {
		return fmt.Errorf("%d documents in the scrape, want %d", c.infos, loadDocs)
	}
	if c.ups != 1 {
		return fmt.Errorf("%d assuresign_up samples in the scrape", c.ups)
	}
	return nil
}

// TestRaceSoak runs the -race build through every concurrent path at once for
// 12 seconds: scrapes (text, gzip, OpenMetrics), the landing page, refresh
// rounds every second over documents the simulator moves every 200ms,
// reloads (SIGHUP and HTTP) switching between two overlapping lists, and
// webhook notifications. The race detector must report nothing.
func TestRaceSoak(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short")
	}
	const soak = 12 * time.Second
	docs := newDocs(500, "race soak")
	dir, ctxPath, sim := newAccount(t, docs, "--lifecycle", "200ms", "--seed", "3")
	listA, listB := watchYAML(docs[:400]), watchYAML(docs[100:])
	watch := filepath.Join(dir, "watch.yml")
	testenv.ReplaceFile(t, watch, listA)
	token := "whk-" + strings.ToLower(testenv.RandomGUID()[:18]) + "-soak"
	secrets.Add("webhook bearer token", token)
	tokenFile := filepath.Join(dir, "token")
	testenv.ReplaceFile(t, tokenFile, []byte(token))
	e := startExporter(t, exporterOpts{watchFile: watch, endpoint: sim.Endpoint(), contextFile: ctxPath, race: true,
		flags: map[string]string{"assuresign.batch-size": "20", "webhook.bearer-token-file": tokenFile, "log.level": "info"}})
	testenv.Eventually(t, 60*time.Second, "the first round", func() (bool, string) {
		s := e.scrape()
		return s.up() == 1, fmt.Sprintf("up=%v", s.up())
	})

	var (
		mu                                sync.Mutex
		served, failed, reloads, notified int
		firstErr                          string
		wg                                sync.WaitGroup
	)
	count := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failed++
			if firstErr == "" {
				firstErr = err.Error()
			}
			return
		}
		served++
	}
	deadline := time.Now().Add(soak)
	for _, h := range []http.Header{
		{}, {"Accept-Encoding": {"gzip"}}, {"Accept": {"application/openmetrics-text; version=1.0.0"}}, {"X-Landing": {"1"}},
	} {
		for range 2 {
			wg.Go(func() {
				path := "/metrics"
				if h.Get("X-Landing") != "" {
					path = "/"
				}
				for time.Now().Before(deadline) {
					res, body, err := e.request(http.MethodGet, path, h, nil)
					if err == nil && res.StatusCode != 200 {
						err = fmt.Errorf("GET %s: %s", path, res.Status)
					}
					if err == nil && res.Header.Get("Content-Encoding") == "gzip" {
						var zr *gzip.Reader
						if zr, err = gzip.NewReader(bytes.NewReader(body)); err == nil {
							_, err = io.Copy(io.Discard, zr)
						}
					}
					count(err)
				}
			})
		}
	}
	wg.Go(func() { // reloads: SIGHUP and HTTP in turn, switching lists
		for i := 0; time.Now().Before(deadline); i++ {
			list := listA
			if i%2 == 1 {
				list = listB
			}
			testenv.ReplaceFile(t, watch, list)
			if i%3 == 0 {
				_ = e.Cmd.Process.Signal(syscall.SIGHUP)
			} else if code, body := e.reload(); code != 200 {
				count(fmt.Errorf("reload: %d %s", code, body))
			}
			mu.Lock()
			reloads++
			mu.Unlock()
			time.Sleep(300 * time.Millisecond)
		}
	})
	wg.Go(func() { // notifications for documents on either list
		hdr := http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}}
		for i := 0; time.Now().Before(deadline); i++ {
			body := fmt.Appendf(nil, `{"DocumentID":%q}`, docs[(i*37)%len(docs)].ID)
			res, _, err := e.request(http.MethodPost, webhookPath, hdr, body)
			if err == nil && res.StatusCode != 202 {
				err = fmt.Errorf("webhook: %s", res.Status)
			}
			count(err)
			mu.Lock()
			notified++
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	})
	wg.Wait()
	log := e.Output.String()
	races := strings.Count(log, "WARNING: DATA RACE")
	if races > 0 {
		t.Errorf("%d data races:\n%s", races, log)
	}
	if strings.Contains(log, "panic:") {
		t.Errorf("a panic in the log:\n%s", log)
	}
	if failed > 0 {
		t.Errorf("%d of %d requests failed; first: %s", failed, served+failed, firstErr)
	}
	if !e.Alive() {
		t.Fatalf("the exporter exited:\n%s", log)
	}
	Figures.Fact("race soak (-race build, 12s)", "%d data races; %d requests ok (scrapes, landing, webhook), %d failed; %d reloads; %d notifications",
		races, served, failed, reloads, notified)
}

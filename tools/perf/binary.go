package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
)

// binResult is what one run of the real binary measured.
type binResult struct {
	n, scrapes   int
	startToReady time.Duration
	refreshGauge float64       // assuresign_refresh_duration_seconds after the first round
	simWall      time.Duration // first request in to last answer out, at the simulator
	simRequests  int
	simDocuments int
	maxInFlight  int
	cpuReady     time.Duration // the exporter's CPU time at ready: load and first round
	rssReady     int64         // bytes
	rssAfter     int64
	heapInuse    float64 // go_memstats_heap_inuse_bytes at the end
	heapGoal     float64 // go_memstats_next_gc_bytes at the end
	hwm          int64
	bodyBytes    int // uncompressed /metrics
	gzipBytes    int
	// scrape durations to the last and to the first byte, by
	// "exporter"/"memory" and "gzip"/"identity"
	times, firstByte map[string][]time.Duration
	// each target's CPU time over its timed scrapes, by variantKey
	scrapeCPU map[string]time.Duration
	// the client's reads over the timed scrapes, by target
	reads map[string]int
}

// timedHandler records when the first request arrived, when the last answer
// left and how many requests were in flight at most.
type timedHandler struct {
	h                     http.Handler
	mu                    sync.Mutex
	first, last           time.Time
	inFlight, maxInFlight int
}

func (t *timedHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t.mu.Lock()
	if t.first.IsZero() {
		t.first = time.Now()
	}
	t.inFlight++
	t.maxInFlight = max(t.maxInFlight, t.inFlight)
	t.mu.Unlock()
	t.h.ServeHTTP(w, r)
	t.mu.Lock()
	t.inFlight--
	t.last = time.Now()
	t.mu.Unlock()
}

// serve serves h on a free loopback port until ctx ends.
func serve(ctx context.Context, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() { <-ctx.Done(); srv.Close() }()
	return ln.Addr().String(), nil
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// runBinary starts the exporter on n documents held by a simulator with
// latency, waits for its first round, then scrapes it side by side with a
// server holding the same bytes in memory.
func runBinary(ctx context.Context, o options, bin, dir string, n, scrapes int) (*binResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := &binResult{n: n, scrapes: scrapes, times: map[string][]time.Duration{}, firstByte: map[string][]time.Duration{}, scrapeCPU: map[string]time.Duration{}, reads: map[string]int{}}

	log.Printf("%d documents: generating documents and the watch file", n)
	contextID := "C0FFEE00-1234-4ABC-9DEF-0123456789AB"
	sim := simulator.New(contextID)
	docs := simulator.DemoDocuments(n, int64(n))
	watchPath := filepath.Join(dir, fmt.Sprintf("watch-%d.yml", n))
	f, err := os.OpenFile(watchPath, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	_, _ = w.WriteString("documents:\n") // a failed write sticks to w; Flush reports it
	customers := []string{"acme", "globex", "initech", "umbrella"}
	teams := []string{"sales", "legal"}
	for i, d := range docs {
		sim.Put(d)
		fmt.Fprintf(w, "  - id: %s\n    auth_token: %s\n    labels:\n      customer: %s\n      team: %s\n",
			d.ID, d.AuthToken, customers[i%len(customers)], teams[i%len(teams)])
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		return nil, err
	}
	sim.SetLatency(o.latency)
	timed := &timedHandler{h: sim}
	simAddr, err := serve(ctx, timed)
	if err != nil {
		return nil, err
	}

	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, fmt.Sprintf("exporter-%d.log", n))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin,
		"--watch.file="+watchPath,
		"--assuresign.endpoint=http://"+simAddr+assuresign.DefaultCheckStatusPath,
		"--assuresign.batch-size="+strconv.Itoa(o.batch),
		"--assuresign.concurrency="+strconv.Itoa(o.concurrency),
		"--watch.max-documents=200000",
		"--refresh.interval=1h",
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Env = append(os.Environ(), "ASSURESIGN_CONTEXT_IDENTIFIER="+contextID)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	log.Printf("%d documents: starting the exporter", n)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); close(exited) }()
	defer stop(cmd, exited)
	fail := func(err error) (*binResult, error) {
		out, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("%w\nexporter log:\n%s", err, tail(out, 2000))
	}

	client := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}, Timeout: time.Minute}
	base := "http://" + addr
	for {
		if err := ctx.Err(); err != nil {
			return fail(fmt.Errorf("waiting for /-/ready: %w", err))
		}
		select {
		case err := <-exited:
			return fail(fmt.Errorf("the exporter exited: %w", err))
		case <-time.After(20 * time.Millisecond):
		}
		resp, err := client.Get(base + "/-/ready")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			break
		}
	}
	res.startToReady = time.Since(start)
	pid := cmd.Process.Pid
	if res.rssReady, _, err = memory(pid); err != nil {
		return fail(err)
	}
	if res.cpuReady, err = cpuTime(pid); err != nil {
		return fail(err)
	}
	timed.mu.Lock()
	res.simWall = timed.last.Sub(timed.first)
	res.maxInFlight = timed.maxInFlight
	timed.mu.Unlock()
	st := sim.Stats()
	res.simRequests, res.simDocuments = st.Requests, st.Documents
	log.Printf("%d documents: ready after %s; first round %s at the simulator (%d requests)", n, res.startToReady.Round(time.Millisecond), res.simWall.Round(time.Millisecond), st.Requests)

	// The body once, uncompressed: what the in-memory server will serve.
	metricsURL := base + "/metrics"
	body, contentType, err := fetch(ctx, client, metricsURL, false)
	if err != nil {
		return fail(err)
	}
	res.bodyBytes = len(body)
	if res.refreshGauge, err = sampleValue(body, "assuresign_refresh_duration_seconds"); err != nil {
		return fail(err)
	}
	up, err := sampleValue(body, "assuresign_up")
	if err != nil {
		return fail(fmt.Errorf("assuresign_up after the first round: %w", err))
	}
	if up != 1 {
		return fail(fmt.Errorf("assuresign_up is %v after the first round", up))
	}
	zipped, _, err := fetch(ctx, client, metricsURL, true)
	if err != nil {
		return fail(err)
	}
	res.gzipBytes = len(zipped)
	unzipped, err := gunzip(zipped)
	if err != nil {
		return fail(fmt.Errorf("the gzipped scrape: %w", err))
	}
	if !bytes.Equal(docSection(unzipped), docSection(body)) || len(docSection(body)) == 0 {
		return fail(errors.New("the gzipped scrape's documents differ from the plain one's"))
	}

	floor, err := startFloor(ctx, dir, body, zipped, contentType)
	if err != nil {
		return fail(err)
	}
	defer stop(floor.cmd, floor.exited)
	targets := []struct {
		name, addr string
		pid        int
	}{{"exporter", addr, pid}, {"memory", floor.addr, floor.cmd.Process.Pid}}
	// Each target gets a scraper of its own per connection mode: on "kept",
	// one connection it keeps, as Prometheus scrapes; on "new", a new
	// connection a scrape, as curl and many tools arrive.
	scrapers := map[string][2]*scraper{}
	for _, mode := range connModes {
		for t, tg := range targets {
			s := newScraper(tg.addr, "/metrics", mode == "kept")
			defer s.Close()
			c := scrapers[mode]
			c[t] = s
			scrapers[mode] = c
		}
	}
	log.Printf("%d documents: %d interleaved pairs of scrapes (exporter, floor) for each of 4 variants (%.1f MB, %.1f MB gzipped)", n, scrapes, float64(len(body))/1e6, float64(len(zipped))/1e6)
	for i := -1; i < scrapes; i++ { // i == -1 warms up
		for _, mode := range connModes {
			for _, gz := range []bool{true, false} {
				// A pair: the exporter and the floor back to back, in turns first.
				for k := range targets {
					t := (k + max(i, 0)) % len(targets)
					tg := targets[t]
					cpu0, _ := cpuTime(tg.pid)
					s, err := scrapers[mode][t].scrape(ctx, gz)
					if err == nil {
						err = s.check(gz, map[bool]int{true: len(zipped), false: len(body)}[gz])
					}
					if err != nil {
						return fail(fmt.Errorf("scraping %s (%s connection): %w", tg.name, mode, err))
					}
					if i < 0 {
						continue
					}
					key := variantKey(tg.name, mode, gz)
					cpu1, _ := cpuTime(tg.pid)
					res.scrapeCPU[key] += cpu1 - cpu0
					res.times[key] = append(res.times[key], s.last)
					res.firstByte[key] = append(res.firstByte[key], s.first)
					res.reads[key] += s.reads
				}
			}
		}
	}
	if res.rssAfter, res.hwm, err = memory(pid); err != nil {
		return fail(err)
	}
	if last, _, err := fetch(ctx, client, metricsURL, false); err == nil {
		res.heapInuse, _ = sampleValue(last, "go_memstats_heap_inuse_bytes")
		res.heapGoal, _ = sampleValue(last, "go_memstats_next_gc_bytes")
	}
	return res, nil
}

// connModes are the two ways a scraper connects: one kept connection
// (Prometheus) or a new one each scrape (curl and many tools).
var connModes = []string{"kept", "new"}

// exporterScrapes is how many scrapes the exporter has answered when its
// memory is read after a run of pairs: the plain and the gzipped body
// fetched once, then one scrape a connection mode and encoding in each pair
// round, the warm-up included (the floor's half of each pair is not the
// exporter's).
func exporterScrapes(pairs int) int { return 2 + len(connModes)*2*(pairs+1) }

func variantKey(target, mode string, gz bool) string { return target + "/" + mode + "/" + encoding(gz) }

func encoding(gz bool) string {
	if gz {
		return "gzip"
	}
	return "identity"
}

// floorEnv, when set in the environment, makes this program the floor: a
// server of its own process (so its CPU is measured alike) that writes the
// exporter's response bytes from memory, the gzipped ones already compressed.
// Nothing can answer the same scrape faster.
const floorEnv = "ASSURESIGN_PERF_FLOOR"

type floorProcess struct {
	addr   string
	cmd    *exec.Cmd
	exited chan error
}

// startFloor writes the bodies into dir and starts this program as the floor.
func startFloor(ctx context.Context, dir string, plain, zipped []byte, contentType string) (*floorProcess, error) {
	for name, b := range map[string][]byte{"plain": plain, "gzip": zipped, "content-type": []byte(contentType)} {
		if err := os.WriteFile(filepath.Join(dir, "floor-"+name), b, 0o600); err != nil {
			return nil, err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), floorEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	f := &floorProcess{cmd: cmd, exited: make(chan error, 1)}
	line, err := bufio.NewReader(out).ReadString('\n')
	go func() { f.exited <- cmd.Wait(); close(f.exited) }()
	if err != nil {
		stop(cmd, f.exited)
		return nil, fmt.Errorf("the floor server did not start: %w", err)
	}
	f.addr = strings.TrimSpace(line)
	return f, nil
}

// serveFloor is the floor process: it prints its address and serves.
func serveFloor(dir string) error {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, "floor-"+name))
		if err != nil {
			log.Fatal(err)
		}
		return b
	}
	plain, zipped, contentType := read("plain"), read("gzip"), string(read("content-type"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr())
	return http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Add("Vary", "Accept-Encoding")
		body, piece := plain, floorWriteSize
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			h.Set("Content-Encoding", "gzip")
			body, piece = zipped, len(zipped)
		}
		// Its length too, so the body goes out unchunked: the fastest a
		// server can send it, whether or not the exporter says its length.
		h.Set("Content-Length", strconv.Itoa(len(body)))
		// Each body the fastest way measured on loopback: the plain one in
		// pieces, which a client reads as they come (one write of 17 MB was
		// slower than the exporter's stored segments), the gzipped one whole.
		for len(body) > 0 {
			n := min(len(body), piece)
			if _, err := w.Write(body[:n]); err != nil {
				return
			}
			body = body[n:]
		}
	}))
}

// floorWriteSize is the size of the floor's writes of a plain body.
const floorWriteSize = 256 << 10

// prometheusAccept is the Accept header Prometheus 3 sends by default.
const prometheusAccept = "application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=underscores;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"

func newScrape(ctx context.Context, url string, gz bool) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	// What Prometheus asks for: OpenMetrics, so the in-memory server's copy
	// (fetched the same way) matches every scrape's format.
	req.Header.Set("Accept", prometheusAccept)
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	return req, nil
}

func fetch(ctx context.Context, client *http.Client, url string, gz bool) ([]byte, string, error) {
	req, err := newScrape(ctx, url, gz)
	if err != nil {
		return nil, "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, resp.Header.Get("Content-Type"), nil
}

func gunzip(b []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// docSection is the documents' part of a scrape: up to the first family
// after assuresign_document_info (the exporter's own metrics vary).
func docSection(b []byte) []byte {
	i := bytes.Index(b, []byte("# HELP assuresign_document_info "))
	if i < 0 {
		return nil
	}
	j := bytes.Index(b[i+1:], []byte("\n# HELP "))
	if j < 0 {
		return nil
	}
	return b[:i+1+j+1]
}

// sampleValue returns the value of an unlabelled sample.
func sampleValue(body []byte, name string) (float64, error) {
	for line := range bytes.Lines(body) {
		if v, ok := bytes.CutPrefix(line, []byte(name+" ")); ok {
			return strconv.ParseFloat(string(bytes.TrimSpace(v)), 64)
		}
	}
	return 0, fmt.Errorf("no %s sample", name)
}

// memory returns the process's VmRSS and VmHWM in bytes.
func memory(pid int) (rss, hwm int64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.Lines(string(data)) {
		k, v, _ := strings.Cut(line, ":")
		kb, perr := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch {
		case k == "VmRSS" && perr == nil:
			rss = kb << 10
		case k == "VmHWM" && perr == nil:
			hwm = kb << 10
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return rss, hwm, nil
}

// cpuTime is the time the process's threads have run, in nanoseconds (the
// first field of each /proc/PID/task/TID/schedstat), where /proc/PID/stat
// counts 10 ms ticks: a scrape takes about a millisecond.
func cpuTime(pid int) (time.Duration, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, err
	}
	var total time.Duration
	for _, t := range tasks {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue // the thread has exited
		}
		f := strings.Fields(string(data))
		if len(f) == 0 {
			return 0, fmt.Errorf("unexpected /proc/%d/task/%s/schedstat", pid, t.Name())
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, err
		}
		total += time.Duration(ns)
	}
	return total, nil
}

// stop ends the exporter: SIGTERM, then SIGKILL after 10 s.
func stop(cmd *exec.Cmd, exited <-chan error) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	kill := time.AfterFunc(10*time.Second, func() { _ = cmd.Process.Kill() })
	defer kill.Stop()
	// Wait until Wait has returned (the channel closes then, also when the
	// exporter exited earlier and its status was read). After a signal the
	// exit status is not news.
	for range exited {
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

type dist struct{ median, p99, max time.Duration }

func distOf(ds []time.Duration) dist {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return dist{}
	}
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1 // nearest rank
		return s[min(max(i, 0), len(s)-1)]
	}
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return dist{med, rank(0.99), s[len(s)-1]}
}

// ms shows hundredths of a millisecond below 10 ms: a gzip scrape on
// loopback takes less than one.
func ms(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.1f ms", float64(d)/1e6)
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// binaryRows turns the binary runs into rows.
func binaryRows(o options, runs []*binResult) []row {
	var rows []row
	for _, r := range runs {
		requests := ceilDiv(r.n, o.batch)
		ideal := time.Duration(ceilDiv(requests, o.concurrency)) * o.latency
		wall := time.Duration(r.refreshGauge * float64(time.Second))
		target, ok := fmt.Sprintf("≤ 1.3 × %s = %s (ceil(%s/%d/%d) × %s)", ideal.Round(time.Millisecond), (ideal*13/10).Round(time.Millisecond),
			thousands(r.n), o.batch, o.concurrency, o.latency), okIf(wall <= ideal*13/10 && r.simRequests == requests)
		if r.n != 10000 {
			ok = "reported"
		}
		rows = append(rows, row{
			what: fmt.Sprintf("round wall time, %s documents, real binary (latency %s, batch %d, concurrency %d)", thousands(r.n), o.latency, o.batch, o.concurrency),
			measured: fmt.Sprintf("%.3f s (assuresign_refresh_duration_seconds); %.3f s at the simulator = %.2fx ideal; %d requests for %d documents (%.0fx fewer than one per document), ≤ %d in flight; ready %.1f s after start, exporter CPU %.1f s by then",
				r.refreshGauge, r.simWall.Seconds(), float64(wall)/float64(ideal), r.simRequests, r.simDocuments,
				float64(r.simDocuments)/float64(max(r.simRequests, 1)), r.maxInFlight, r.startToReady.Seconds(), r.cpuReady.Seconds()),
			target: target,
			ok:     ok,
		})
	}
	for _, r := range runs {
		for _, mode := range connModes {
			for _, gz := range []bool{true, false} {
				rows = append(rows, scrapeRow(r, mode, gz))
			}
		}
	}
	for _, r := range runs {
		row := row{
			what: fmt.Sprintf("resident memory, %s documents, real binary", thousands(r.n)),
			measured: fmt.Sprintf("VmRSS %s after ready, %s after %d scrapes (VmHWM %s)",
				mib(r.rssReady), mib(r.rssAfter), exporterScrapes(r.scrapes), mib(r.hwm)) +
				fmt.Sprintf("; Go heap in use %s, next GC at %s", mib(int64(r.heapInuse)), mib(int64(r.heapGoal))),
		}
		worst := max(r.rssReady, r.rssAfter)
		switch r.n {
		case 10000:
			row.target, row.ok = "≤ 64 MiB", okIf(worst <= 64<<20)
		case 100000:
			row.target, row.ok = "≤ 400 MiB", okIf(worst <= 400<<20)
		default:
			row.target, row.ok = "reported", "reported"
		}
		rows = append(rows, row)
	}
	return rows
}

// scrapeRow compares the exporter's scrapes with the floor's, on one kind
// of connection, in one encoding.
func scrapeRow(r *binResult, mode string, gz bool) row {
	enc := encoding(gz)
	ek, mk := variantKey("exporter", mode, gz), variantKey("memory", mode, gz)
	e, m := distOf(r.times[ek]), distOf(r.times[mk])
	ef, mf := distOf(r.firstByte[ek]), distOf(r.firstByte[mk])
	ratio := float64(e.median) / float64(m.median)
	size := fmt.Sprintf("%.1f MB", float64(r.bodyBytes)/1e6)
	if gz {
		size = fmt.Sprintf("%.2f MB gzipped from %.1f MB", float64(r.gzipBytes)/1e6, float64(r.bodyBytes)/1e6)
	}
	perScrape := func(key string) string {
		return ms(r.scrapeCPU[key] / time.Duration(max(r.scrapes, 1)))
	}
	connection := map[string]string{"kept": "one kept connection", "new": "a new connection each"}[mode]
	out := row{
		what: fmt.Sprintf("scrape, %s documents, %s, %s, real binary (%d interleaved pairs with the floor: the same bytes written from memory%s by a process of its own)",
			thousands(r.n), enc, connection, r.scrapes, map[bool]string{true: ", already compressed,", false: ""}[gz]),
		measured: fmt.Sprintf("median %s, p99 %s, max %s; floor median %s, max %s: **%.2fx** (%s; first byte after %s, floor %s; CPU a scrape: exporter %s, floor %s; client reads a scrape: %.1f, floor %.1f; exporter VmRSS %s)",
			ms(e.median), ms(e.p99), ms(e.max), ms(m.median), ms(m.max), ratio, size, ms(ef.median), ms(mf.median),
			perScrape(ek), perScrape(mk), float64(r.reads[ek])/float64(max(r.scrapes, 1)), float64(r.reads[mk])/float64(max(r.scrapes, 1)),
			mib(max(r.rssReady, r.rssAfter))),
	}
	limit := map[bool]float64{true: 1.3, false: 1.2}[gz]
	switch {
	case r.n == 10000:
		out.target, out.ok = fmt.Sprintf("median ≤ %.1fx the floor", limit), okIf(ratio <= limit)
	case r.n == 100000 && gz:
		out.target, out.ok = fmt.Sprintf("slowest of %d ≤ 100 ms", r.scrapes), okIf(e.max <= 100*time.Millisecond)
	default:
		out.target, out.ok = "reported", "reported"
	}
	return out
}

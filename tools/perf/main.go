// Command perf is the load driver behind `make bench`. It measures the
// exporter against the targets in docs/performance.md and prints them as a
// markdown table (what | measured | target | ok):
//
//   - round wall time, scrape latency and resident memory from the real
//     binary, built into a temporary directory and pointed at a simulator
//     served on loopback with 50 ms of latency per request;
//   - CheckStatus response parse throughput.
//
// The upstream requests per round and per simulated day come from the real
// scheduler on a fake clock, inside package refresh, as benchmarks:
// go test ./refresh -run '^$' -bench Day -benchtime 1x.
//
// It exits non-zero only when it cannot measure (a build or start failure, a
// wrong answer), never for a missed target: CI does not judge the figures.
//
//	go run ./tools/perf              # from the module root
//	go run ./tools/perf -large 0     # skip the 100,000-document run
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

type options struct {
	repo         string
	bin          string
	small, large int
	scrapesSmall int
	scrapesLarge int
	latency      time.Duration
	batch        int
	concurrency  int
	timeout      time.Duration
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// thousands formats n with commas.
func thousands(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// row is one line of the result table. ok is "yes", "**no**" or "reported".
type row struct{ what, measured, target, ok string }

func okIf(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

func main() {
	if dir := os.Getenv(floorEnv); dir != "" {
		if err := serveFloor(dir); err != nil {
			log.Fatal(err)
		}
		return
	}
	var o options
	flag.StringVar(&o.repo, "repo", "", "module root to build the exporter from (default: found from the working directory)")
	flag.StringVar(&o.bin, "bin", "", "use this exporter binary instead of building one")
	flag.IntVar(&o.small, "small", 10000, "documents in the first binary run (0 skips it)")
	flag.IntVar(&o.large, "large", 100000, "documents in the second binary run (0 skips it)")
	flag.IntVar(&o.scrapesSmall, "scrapes-small", 100, "interleaved pairs per variant in the first run")
	flag.IntVar(&o.scrapesLarge, "scrapes-large", 20, "interleaved pairs per variant in the second run")
	flag.DurationVar(&o.latency, "latency", 50*time.Millisecond, "simulator latency per request")
	flag.IntVar(&o.batch, "batch", 100, "--assuresign.batch-size for the binary")
	flag.IntVar(&o.concurrency, "concurrency", 4, "--assuresign.concurrency for the binary")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long")
	flag.Parse()
	log.SetFlags(log.Ltime)
	log.SetPrefix("perf: ")

	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	startLoad, start := loadAverage(), time.Now()
	rows, err := run(ctx, o)
	printTable(os.Stdout, rows)
	fmt.Printf("\nLoad average (1, 5, 15 min): %s at the start, %s at the end; the driver took %s.\n",
		startLoad, loadAverage(), time.Since(start).Round(time.Second))
	if err != nil {
		log.Printf("error: %v", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) ([]row, error) {
	var rows []row

	log.Printf("timing CheckStatus response parsing")
	pr, err := measureParse()
	if err != nil {
		return rows, err
	}
	rows = append(rows, pr)

	if o.small <= 0 && o.large <= 0 {
		return rows, nil
	}
	dir, err := os.MkdirTemp("", "assuresign-perf-")
	if err != nil {
		return rows, err
	}
	defer os.RemoveAll(dir)
	bin := o.bin
	if bin == "" {
		if bin, err = build(ctx, o.repo, dir); err != nil {
			return rows, err
		}
	}
	var runs []*binResult
	for _, r := range []struct{ n, scrapes int }{{o.small, o.scrapesSmall}, {o.large, o.scrapesLarge}} {
		if r.n <= 0 {
			continue
		}
		res, err := runBinary(ctx, o, bin, dir, r.n, r.scrapes)
		if err != nil {
			return append(rows, binaryRows(o, runs)...), fmt.Errorf("%d documents: %w", r.n, err)
		}
		runs = append(runs, res)
	}
	return append(rows, binaryRows(o, runs)...), nil
}

// build compiles the exporter into dir.
func build(ctx context.Context, repo, dir string) (string, error) {
	if repo == "" {
		var err error
		if repo, err = moduleRoot(); err != nil {
			return "", err
		}
	}
	bin := filepath.Join(dir, "assuresign_exporter")
	log.Printf("building the exporter from %s", repo)
	// Plain flags, so the build shares the cache with go test and go build.
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
}

// moduleRoot finds the directory holding go.mod from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory; pass -repo")
		}
		dir = parent
	}
}

func printTable(w io.Writer, rows []row) {
	fmt.Fprintf(w, "\nMachine: %s\n\n", machine())
	fmt.Fprintln(w, "| what | measured | target | ok |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", r.what, r.measured, r.target, r.ok)
	}
}

// machine describes where the figures were taken.
func machine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb int64
				if _, err := fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb); err == nil {
					mem = fmt.Sprintf(", %.1f GiB memory", float64(kb)/(1<<20))
				}
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s)%s, %s %s/%s", runtime.NumCPU(), model, mem, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// loadAverage is /proc/loadavg's first three fields: other work on the
// machine skews every timing here.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLatestRunIsTheDriversOutput holds docs/performance.md's latest run to
// what the driver prints: the same rows, in the same words, numbers aside.
// When the driver's output changes, the figures must be taken again.
func TestLatestRunIsTheDriversOutput(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "performance.md"))
	if err != nil {
		t.Fatal(err)
	}
	latest, _, _ := strings.Cut(string(doc[strings.Index(string(doc), "## Latest run\n"):]), "\n### ")
	var documented []string
	for line := range strings.Lines(latest) {
		if cells := strings.Split(line, " | "); strings.HasPrefix(line, "| ") && len(cells) == 4 && cells[0] != "| what" {
			documented = append(documented, shape(strings.TrimPrefix(cells[0], "| ")+" | "+cells[1]+" | "+cells[2]))
		}
	}
	var runs []*binResult
	for _, n := range []int{10000, 100000} {
		r := &binResult{n: n, scrapes: 20, times: map[string][]time.Duration{}, firstByte: map[string][]time.Duration{},
			scrapeCPU: map[string]time.Duration{}, reads: map[string]int{}, refreshGauge: 1.5, rssReady: 50 << 20, rssAfter: 60 << 20}
		for _, target := range []string{"exporter", "memory"} {
			for _, mode := range connModes {
				for _, gz := range []bool{true, false} {
					k := variantKey(target, mode, gz)
					r.times[k], r.firstByte[k] = []time.Duration{time.Millisecond}, []time.Duration{time.Millisecond}
				}
			}
		}
		runs = append(runs, r)
	}
	o := options{latency: 50 * time.Millisecond, batch: 100, concurrency: 4}
	var printed []string
	for _, r := range binaryRows(o, runs) {
		printed = append(printed, shape(r.what+" | "+r.measured+" | "+r.target))
	}
	// The parse row comes first; the rows of the binary's runs follow.
	if len(documented) != 1+len(printed) {
		t.Fatalf("docs/performance.md's latest run has %d rows, the driver prints %d", len(documented), 1+len(printed))
	}
	for i, p := range printed {
		if documented[1+i] != p {
			t.Errorf("row %d of docs/performance.md's latest run:\n%s\nthe driver prints:\n%s", 2+i, documented[1+i], p)
		}
	}
}

// shape is a row with its numbers and verdicts taken out.
func shape(s string) string {
	s = regexp.MustCompile(`\*\*[\d.]+x\*\*`).ReplaceAllString(s, "R")
	return regexp.MustCompile(`\d[\d,]*(\.\d+)?`).ReplaceAllString(s, "N")
}

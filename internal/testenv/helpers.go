package testenv

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// DiscardLogger logs nothing.
func DiscardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// GUID returns a distinct upper-case GUID for n, in a family named by prefix.
func GUID(prefix uint32, n int) string {
	return fmt.Sprintf("%08X-%04X-4%03X-8%03X-%012X", prefix, n>>16&0xffff, n>>4&0xfff, n&0xfff, n)
}

// GatherText gathers g in the text format.
func GatherText(t testing.TB, g prometheus.Gatherer) string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gathering: %v", err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatalf("writing %s: %v", mf.GetName(), err)
		}
	}
	return b.String()
}

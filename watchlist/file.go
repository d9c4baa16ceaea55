package watchlist

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// File is the watch file on disk: it loads the list and notices changes. A
// file that fails to load changes nothing; the caller keeps its last good list.
type File struct {
	path         string
	maxDocuments int
	// requireContext says no exporter-wide ContextIdentifier is set, so every
	// document must carry its own.
	requireContext bool
	logger         *slog.Logger

	reloadSuccessful prometheus.Gauge
	reloadTimestamp  prometheus.Gauge

	mu sync.Mutex // one load at a time, so the gauges follow the last one
}

// NewFile returns a File and registers its reload metrics with reg; nothing
// is read until Load.
func NewFile(path string, maxDocuments int, requireContext bool, reg prometheus.Registerer, logger *slog.Logger) *File {
	f := &File{
		path: path, maxDocuments: maxDocuments, requireContext: requireContext, logger: logger,
		reloadSuccessful: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assuresign_watchlist_last_reload_successful",
			Help: "1 when the last watch-file load succeeded; on failure the previous list stays in use.",
		}),
		reloadTimestamp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assuresign_watchlist_last_reload_success_timestamp_seconds",
			Help: "When the watch file was last loaded successfully, in Unix seconds.",
		}),
	}
	reg.MustRegister(f.reloadSuccessful, f.reloadTimestamp)
	return f
}

// Path returns the watch file's path.
func (f *File) Path() string { return f.path }

// Load reads and checks the file. On error the caller keeps its last good list.
func (f *File) Load() (*List, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	wl, err := Load(f.path, f.maxDocuments)
	if err == nil && f.requireContext {
		for _, d := range wl.Documents {
			if d.ContextIdentifier == "" {
				err = fmt.Errorf("%s: document %s has no context_identifier, and no exporter-wide ContextIdentifier is set (ASSURESIGN_CONTEXT_IDENTIFIER or --assuresign.context-identifier-file)", f.path, d.ID)
				break
			}
		}
	}
	if err != nil {
		f.reloadSuccessful.Set(0)
		return nil, err
	}
	if fi, statErr := os.Stat(f.path); statErr == nil && fi.Mode().Perm()&0o077 != 0 {
		f.logger.Warn("watch file is readable by group or others, and it holds AuthTokens; chmod 600 it", "file", f.path, "mode", fi.Mode().Perm().String())
	}
	f.reloadSuccessful.Set(1)
	now := time.Now()
	f.reloadTimestamp.Set(float64(now.Unix()) + float64(now.Nanosecond())/1e9)
	f.logger.Info("watch file loaded", "file", f.path, "documents", len(wl.Documents))
	return wl, nil
}

// Watch calls changed whenever the file seems to have changed, polling every
// interval until ctx ends. Polling the path (not an inotify watch on the file)
// follows the symlink swap Kubernetes uses to update mounted ConfigMaps and Secrets.
func (f *File) Watch(ctx context.Context, interval time.Duration, changed func()) {
	last := stamp(f.path)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if s := stamp(f.path); s != last {
				last = s
				changed()
			}
		}
	}
}

type fileStamp struct {
	modTime time.Time
	size    int64
	inode   uint64
	err     string
}

func stamp(path string) fileStamp {
	fi, err := os.Stat(path) // follows symlinks: a swapped link shows a new inode
	if err != nil {
		return fileStamp{err: err.Error()}
	}
	return fileStamp{modTime: fi.ModTime(), size: fi.Size(), inode: inode(fi)}
}

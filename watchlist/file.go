package watchlist

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Files is the watch list on disk: one or more files, named by paths or glob
// patterns, loaded into one list. A file that fails to load keeps its last
// good version; the others' changes still apply.
type Files struct {
	patterns     []string
	maxDocuments int // over all the files together
	// requireContext says no exporter-wide ContextIdentifier is set, so every
	// document must carry its own.
	requireContext bool
	// envelopesOnly applies the REST API's rules (see ParseEnvelopesOnly).
	envelopesOnly bool
	logger        *slog.Logger

	reloadSuccessful prometheus.Gauge
	reloadTimestamp  prometheus.Gauge
	files, failed    prometheus.Gauge

	mu   sync.Mutex          // one load at a time, so the gauges follow the last one
	good map[string]loadedAs // the last good version of each file, by path
}

// loadedAs is a file's parsed list and the stamp it had when read, so an
// unchanged file is not parsed again.
type loadedAs struct {
	stamp fileStamp
	list  *List
}

// NewFile returns a Files for one path or glob pattern; see NewFiles.
func NewFile(pattern string, maxDocuments int, requireContext bool, reg prometheus.Registerer, logger *slog.Logger) *Files {
	return NewFiles([]string{pattern}, maxDocuments, requireContext, reg, logger)
}

// EnvelopesOnly makes f read its files under the REST API's rules (see
// ParseEnvelopesOnly) and returns f.
func (f *Files) EnvelopesOnly() *Files {
	f.envelopesOnly = true
	return f
}

// NewFiles returns a Files over every file the patterns name. A pattern with
// glob meta characters may match none; a plain path must exist. It registers
// the reload metrics with reg; nothing is read until Load.
func NewFiles(patterns []string, maxDocuments int, requireContext bool, reg prometheus.Registerer, logger *slog.Logger) *Files {
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	f := &Files{
		patterns: patterns, maxDocuments: maxDocuments, requireContext: requireContext, logger: logger,
		reloadSuccessful: gauge("assuresign_watchlist_last_reload_successful",
			"1 when the last watch-file load succeeded; on failure the previous list stays in use."),
		reloadTimestamp: gauge("assuresign_watchlist_last_reload_success_timestamp_seconds",
			"When the watch file was last loaded successfully, in Unix seconds."),
		files: gauge("assuresign_watchlist_files", "Watch files the --watch.file paths and patterns matched at the last load."),
		failed: gauge("assuresign_watchlist_files_failed",
			"Watch files that failed to load at the last load; each keeps its last good version, if it had one."),
		good: map[string]loadedAs{},
	}
	reg.MustRegister(f.reloadSuccessful, f.reloadTimestamp, f.files, f.failed)
	return f
}

// CheckPatterns reports a malformed glob pattern, the one error that Load
// would otherwise only find later.
func CheckPatterns(patterns []string) error {
	for _, p := range patterns {
		if _, err := filepath.Match(p, ""); err != nil {
			return fmt.Errorf("--watch.file %q: %w", p, err)
		}
	}
	return nil
}

// match returns the paths the patterns name now, sorted, each once.
func (f *Files) match() []string {
	var paths []string
	for _, p := range f.patterns {
		if !hasMeta(p) {
			paths = append(paths, p) // must exist: a missing one is that file's error
			continue
		}
		m, _ := filepath.Glob(p) // the only error is a bad pattern: CheckPatterns
		paths = append(paths, m...)
	}
	sort.Strings(paths)
	return slices.Compact(paths)
}

func hasMeta(p string) bool {
	return slices.ContainsFunc([]byte(p), func(c byte) bool { return c == '*' || c == '?' || c == '[' || c == '\\' })
}

// Load reads the files and returns their documents as one list. A file that
// fails keeps its last good version (none at the first load) and its error is
// returned beside the list; the caller uses the list and logs the error, or, at
// start-up, stops. A document id in two files, or more documents in all than
// the limit, fails the whole load: the list is nil and the caller keeps its own.
func (f *Files) Load() (*List, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	paths := f.match()
	next := make(map[string]loadedAs, len(paths))
	var errs []error
	for _, p := range paths {
		s := stamp(p)
		if prev, ok := f.good[p]; ok && prev.stamp == s && s.err == "" {
			next[p] = prev
			continue
		}
		wl, err := f.loadOne(p)
		if err != nil {
			errs = append(errs, err)
			if prev, ok := f.good[p]; ok {
				next[p] = prev
				f.logger.Warn("watch file failed to load; keeping its last good version", "file", p, "documents", len(prev.list.Documents))
			}
			continue
		}
		next[p] = loadedAs{s, wl}
	}
	f.files.Set(float64(len(paths)))
	f.failed.Set(float64(len(errs)))
	merged, err := f.merge(paths, next)
	if err != nil {
		f.reloadSuccessful.Set(0)
		return nil, errors.Join(append(errs, err)...)
	}
	f.good = next
	if len(errs) > 0 {
		f.reloadSuccessful.Set(0)
		return merged, errors.Join(errs...)
	}
	f.reloadSuccessful.Set(1)
	f.reloadTimestamp.SetToCurrentTime()
	f.logger.Info("watch list loaded", "files", len(paths), "documents", len(merged.Documents), "envelopes", len(merged.Envelopes))
	return merged, nil
}

// loadOne parses one file and checks what the exporter needs of it.
func (f *Files) loadOne(path string) (*List, error) {
	wl, err := load(path, f.maxDocuments, f.envelopesOnly)
	if err != nil {
		return nil, err
	}
	if f.requireContext {
		for _, entries := range []struct {
			kind string
			list []Entry
		}{{"document", wl.Documents}, {"envelope", wl.Envelopes}} {
			for _, d := range entries.list {
				if d.ContextIdentifier == "" {
					return nil, fmt.Errorf("%s: %s %s has no context_identifier, and no exporter-wide ContextIdentifier is set (ASSURESIGN_CONTEXT_IDENTIFIER or --assuresign.context-identifier-file)", path, entries.kind, d.ID)
				}
			}
		}
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		f.logger.Warn("watch file is readable by group or others, and it holds AuthTokens; chmod 600 it", "file", path, "mode", fi.Mode().Perm().String())
	}
	return wl, nil
}

// merge joins the files' lists in path order, refusing an id in two files
// and more documents than the limit.
func (f *Files) merge(paths []string, lists map[string]loadedAs) (*List, error) {
	n, envelopes := 0, 0
	for _, l := range lists {
		n += len(l.list.Documents)
		envelopes += len(l.list.Envelopes)
	}
	if f.maxDocuments > 0 && n > f.maxDocuments {
		return nil, fmt.Errorf("watch list: the %d files hold %d documents, more than --watch.max-documents=%d", len(lists), n, f.maxDocuments)
	}
	if f.maxDocuments > 0 && n+envelopes > f.maxDocuments {
		return nil, fmt.Errorf("watch list: the %d files hold %d documents and %d envelopes of at least one document each, more than --watch.max-documents=%d", len(lists), n, envelopes, f.maxDocuments)
	}
	merged := &List{Documents: make([]Entry, 0, n)}
	from := make(map[string]string, n)                 // id -> file
	envelopeFrom := make(map[string]string, envelopes) // id -> file
	labelNames := map[string]bool{}
	// add appends a file's entries of one kind; an id in two files is an error naming both.
	add := func(kind string, into *[]Entry, entries []Entry, seen map[string]string, p string) error {
		for _, e := range entries {
			if first, dup := seen[e.ID]; dup {
				return fmt.Errorf("watch list: %s %s is in both %s and %s", kind, e.ID, first, p)
			}
			seen[e.ID] = p
			*into = append(*into, e)
		}
		return nil
	}
	for _, p := range paths {
		l, ok := lists[p]
		if !ok {
			continue
		}
		if err := add("document", &merged.Documents, l.list.Documents, from, p); err != nil {
			return nil, err
		}
		if err := add("envelope", &merged.Envelopes, l.list.Envelopes, envelopeFrom, p); err != nil {
			return nil, err
		}
		for _, name := range l.list.LabelNames {
			labelNames[name] = true
		}
	}
	merged.LabelNames = slices.Sorted(maps.Keys(labelNames))
	return merged, nil
}

// Watch calls changed whenever a file seems to have changed, appeared or gone,
// polling every interval until ctx ends. Polling the paths (not an inotify
// watch on the files) follows the symlink swap Kubernetes uses to update
// mounted ConfigMaps and Secrets.
func (f *Files) Watch(ctx context.Context, interval time.Duration, changed func()) {
	last := f.stamps()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if s := f.stamps(); !maps.Equal(s, last) {
				last = s
				changed()
			}
		}
	}
}

// stamps stamps every file the patterns match now; the set of keys tells
// files appearing and disappearing.
func (f *Files) stamps() map[string]fileStamp {
	paths := f.match()
	s := make(map[string]fileStamp, len(paths))
	for _, p := range paths {
		s[p] = stamp(p)
	}
	return s
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

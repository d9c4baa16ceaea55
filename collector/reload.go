package collector

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// WatchFile loads the watch file into the Store. A file that fails to load
// leaves the previous list, and its statuses, in place.
type WatchFile struct {
	path         string
	maxDocuments int
	// hasContext says an exporter-wide ContextIdentifier is set, so documents may omit theirs.
	hasContext bool
	store      *Store
	refresher  *Refresher
	metrics    *Metrics
	logger     *slog.Logger

	mu sync.Mutex
}

// NewWatchFile returns a WatchFile; nothing is read until Load.
func NewWatchFile(path string, maxDocuments int, hasContext bool, store *Store, refresher *Refresher, metrics *Metrics, logger *slog.Logger) *WatchFile {
	return &WatchFile{path: path, maxDocuments: maxDocuments, hasContext: hasContext, store: store, refresher: refresher, metrics: metrics, logger: logger}
}

// Load reads the file and, if it is valid, makes it the watch list. Documents it
// adds are checked within moments, not at the next round.
func (w *WatchFile) Load() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	wl, err := LoadWatchList(w.path, w.maxDocuments)
	if err == nil && !w.hasContext {
		for _, d := range wl.Documents {
			if d.ContextIdentifier == "" {
				err = fmt.Errorf("%s: document %s has no context_identifier, and no exporter-wide ContextIdentifier is set (ASSURESIGN_CONTEXT_IDENTIFIER or --assuresign.context-identifier-file)", w.path, d.ID)
				break
			}
		}
	}
	if err != nil {
		w.metrics.reloadSuccessful.Set(0)
		return err
	}
	if fi, statErr := os.Stat(w.path); statErr == nil && fi.Mode().Perm()&0o077 != 0 {
		w.logger.Warn("watch file is readable by group or others, and it holds AuthTokens; chmod 600 it", "file", w.path, "mode", fi.Mode().Perm().String())
	}
	toCheck := w.store.SetWatchList(wl)
	w.metrics.reloadSuccessful.Set(1)
	w.metrics.reloadTimestamp.Set(unixSeconds(time.Now()))
	w.logger.Info("watch file loaded", "file", w.path, "documents", len(wl.Documents), "to_check_now", toCheck)
	if toCheck > 0 && w.refresher != nil {
		w.refresher.Wake()
	}
	return nil
}

// Watch calls changed whenever the file seems to have changed, polling every
// interval until ctx ends. Polling the path (not an inotify watch on the file)
// follows the symlink swap Kubernetes uses to update mounted ConfigMaps and Secrets.
func (w *WatchFile) Watch(ctx context.Context, interval time.Duration, changed func()) {
	last := stamp(w.path)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if s := stamp(w.path); s != last {
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

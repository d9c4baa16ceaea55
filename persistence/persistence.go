// Package persistence keeps what the exporter knows in a file, so a restart
// neither forgets statuses nor asks AssureSign about closed documents again.
//
// The file is a header line, "assuresign_exporter-state <version>
// crc32c=<hex> length=<bytes>", then the state as JSON. It is written
// atomically, as Prometheus' Pushgateway and Alertmanager do: a temporary file
// in the same directory, fsync, rename, fsync of the directory.
package persistence

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	magic   = "assuresign_exporter-state"
	version = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Save writes v to path atomically, mode 0600: a reader sees the old file or
// the new one, never a part of either.
func Save(path string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	_, err = fmt.Fprintf(tmp, "%s %d crc32c=%08x length=%d\n", magic, version, crc32.Checksum(body, castagnoli), len(body))
	if err == nil {
		_, err = tmp.Write(body)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// The rename is durable only once the directory is.
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Load reads into v what Save wrote to path, refusing a file of more than
// maxBytes. A missing file gives an error matching fs.ErrNotExist; any other
// error says why the file cannot be used.
func Load(path string, v any, maxBytes int64) error {
	data, err := read(path, maxBytes)
	if err != nil {
		return err
	}
	line, body, ok := bytes.Cut(data, []byte("\n"))
	if !ok {
		return errors.New("truncated: no complete header line")
	}
	f := strings.Fields(string(line))
	if len(f) == 0 || f[0] != magic {
		return errors.New("not an assuresign_exporter state file")
	}
	if len(f) < 2 || f[1] != strconv.Itoa(version) {
		return fmt.Errorf("unknown version %q (this exporter reads version %d)", strings.Join(f[1:min(2, len(f))], ""), version)
	}
	var (
		sum  uint32
		size int
	)
	if len(f) != 4 {
		return errors.New("malformed header")
	}
	if _, err := fmt.Sscanf(f[2]+" "+f[3], "crc32c=%x length=%d", &sum, &size); err != nil {
		return fmt.Errorf("malformed header: %w", err)
	}
	switch {
	case len(body) < size:
		return fmt.Errorf("truncated: %d of %d bytes", len(body), size)
	case len(body) > size:
		return fmt.Errorf("corrupt: %d bytes where the header says %d", len(body), size)
	case crc32.Checksum(body, castagnoli) != sum:
		return errors.New("corrupt: checksum mismatch")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("corrupt: %w", err)
	}
	return nil
}

// read reads path whole, if it is a regular file of at most maxBytes: a FIFO
// would block the open for ever, and a device such as /dev/zero never ends.
func read(path string, maxBytes int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	if fi.Size() > maxBytes {
		return nil, fmt.Errorf("file is %d bytes, more than the limit of %d", fi.Size(), maxBytes)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxBytes+1)) // it may have grown since the stat
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > maxBytes {
		return nil, fmt.Errorf("file is more than the limit of %d bytes", maxBytes)
	}
	return data, nil
}

// CheckWritable reports whether a file can be written next to path, so a
// directory that is not writable is an error at start-up, not a loss later.
func CheckWritable(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".probe*")
	if err != nil {
		return fmt.Errorf("the persistence file's directory is not writable: %w", err)
	}
	_ = tmp.Close()
	return os.Remove(tmp.Name())
}

// Writer saves a state whenever it changed, at most once per interval, and
// once more at shutdown.
type Writer struct {
	path     string
	interval time.Duration
	state    func() (generation uint64, v any)
	logger   *slog.Logger
	written  uint64 // generation last saved
	success  prometheus.Gauge
	failures prometheus.Counter
}

// NewWriter returns a Writer of path; state returns the state to save and a
// generation that changes whenever it does. generation is the one loaded at
// start (0 for none), not written again until it changes.
func NewWriter(path string, interval time.Duration, generation uint64, state func() (uint64, any), reg prometheus.Registerer, logger *slog.Logger) *Writer {
	w := &Writer{
		path: path, interval: interval, state: state, logger: logger, written: generation,
		success: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assuresign_persistence_last_write_success_timestamp_seconds",
			Help: "When the persistence file was last written successfully, in Unix seconds; 0 before the first write.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "assuresign_persistence_write_failures_total",
			Help: "Failed writes of the persistence file; the state is written again at the next interval.",
		}),
	}
	reg.MustRegister(w.success, w.failures)
	return w
}

// Run saves changes every interval until ctx ends, then waits for stopped
// (the writers of the state have finished) and saves a last time.
func (w *Writer) Run(ctx context.Context, stopped <-chan struct{}) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			w.save()
		case <-ctx.Done():
			<-stopped
			w.save()
			return
		}
	}
}

func (w *Writer) save() {
	gen, v := w.state()
	if gen == w.written {
		return
	}
	if err := Save(w.path, v); err != nil {
		w.failures.Inc()
		w.logger.Error("writing the persistence file failed; what changed since its last write would be lost in a restart", "file", w.path, "err", err)
		return
	}
	w.written = gen
	w.success.SetToCurrentTime()
}

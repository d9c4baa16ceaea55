package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Process is a started command.
type Process struct {
	Cmd    *exec.Cmd
	Output *SyncBuffer // stdout and stderr
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
	// stopped says Stop was called: an exit after it is no surprise.
	stopped atomic.Bool
}

// Start starts cmd with its stdout and stderr in Output. At cleanup it stops
// the process if it still runs (SIGTERM, then SIGKILL after 10s) and, if the
// test failed, logs the end of its output. Cleanups run last registered
// first, so one that the caller registers after Start runs before that stop.
func Start(t testing.TB, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{Cmd: cmd, Output: &SyncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Output, p.Output
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", strings.Join(cmd.Args, " "), err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.Stop(10 * time.Second)
		if t.Failed() {
			name := p.name()
			out := p.Output.String()
			const keep = 24 << 10
			if len(out) > keep {
				out = "[...]\n" + out[len(out)-keep:]
			}
			t.Logf("---- output of %s (%s) ----\n%s---- end of %s ----", name, strings.Join(cmd.Args, " "), out, name)
		}
	})
	return p
}

func (p *Process) name() string { return filepath.Base(p.Cmd.Path) }

// Alive reports whether the process still runs.
func (p *Process) Alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Err waits for the process to exit and returns cmd.Wait's error.
func (p *Process) Err() error {
	<-p.exited
	return p.err
}

// Died returns an error when the process has exited without Stop being
// called, and nil while it runs or after Stop.
func (p *Process) Died() error {
	if p.Alive() || p.stopped.Load() {
		return nil
	}
	return fmt.Errorf("%s exited unexpectedly: %v", p.name(), p.Cmd.ProcessState)
}

// Signal sends sig to the process, failing t if it cannot be sent.
func (p *Process) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		t.Fatalf("sending %s to %s: %v", sig, p.name(), err)
	}
}

// ExitCode waits up to timeout for the process to exit and returns its exit
// code; it fails t if the process is still running then, or was killed by a
// signal.
func (p *Process) ExitCode(t testing.TB, timeout time.Duration) int {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.exited:
	case <-timer.C:
		t.Fatalf("%s did not exit within %s", p.name(), timeout)
	}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		if exit.ExitCode() < 0 {
			t.Fatalf("%s: %v", p.name(), exit)
		}
		return exit.ExitCode()
	}
	if p.err != nil {
		t.Fatalf("%s: %v", p.name(), p.err)
	}
	return 0
}

// Stop sends SIGTERM and waits up to grace for the process to exit, then
// kills it. It reports whether the process exited by itself (true also when
// it had exited before).
func (p *Process) Stop(grace time.Duration) bool {
	p.stopped.Store(true)
	if !p.Alive() {
		return true
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.exited:
		return true
	case <-timer.C:
		_ = p.Cmd.Process.Kill()
		<-p.exited
		return false
	}
}

// WaitOutput waits for re to match the output and returns the match. It fails
// the test if the process exits without printing it, or after timeout.
func (p *Process) WaitOutput(t testing.TB, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	var m []string
	Eventually(t, timeout, fmt.Sprintf("%s to print %q", p.name(), re), func() (bool, string) {
		exited := !p.Alive() // the output is complete: no match now is final
		if m = re.FindStringSubmatch(p.Output.String()); m != nil {
			return true, ""
		}
		if exited {
			t.Fatalf("%s exited (%v) without printing %q", p.name(), p.err, re)
		}
		return false, "not yet"
	})
	return m
}

package testenv

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
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
}

// Start starts cmd with its stdout and stderr in Output. At cleanup it kills
// the process if it still runs and, if the test failed, logs the end of its
// output. Cleanups run last registered first, so one that the caller
// registers after Start (a graceful Stop, say) runs before the kill.
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
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			name := filepath.Base(cmd.Path)
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

// Exited is closed once the process has exited and its output is complete.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err waits for the process to exit and returns cmd.Wait's error.
func (p *Process) Err() error {
	<-p.exited
	return p.err
}

// Stop sends SIGTERM and waits up to grace for the process to exit, then
// kills it. It reports whether the process exited by itself (true also when
// it had exited before).
func (p *Process) Stop(grace time.Duration) bool {
	select {
	case <-p.exited:
		return true
	default:
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
	deadline := time.Now().Add(timeout)
	for {
		var exited bool
		select {
		case <-p.exited: // the output is complete: no match now is final
			exited = true
		default:
		}
		if m := re.FindStringSubmatch(p.Output.String()); m != nil {
			return m
		}
		if exited {
			t.Fatalf("%s exited (%v) without printing %q", filepath.Base(p.Cmd.Path), p.err, re)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not print %q within %s", filepath.Base(p.Cmd.Path), re, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

//go:build unix

package redistest

import (
	"bytes"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Actions of redisSignal.
const (
	redisSignalPause = iota
	redisSignalResume
)

// redisSignal stops (SIGSTOP) or continues (SIGCONT) p. Where /proc exists
// it waits until the kernel reports the new state, so that a test's next
// command cannot slip in before the stop.
func redisSignal(p *os.Process, action int) error {
	sig, want := syscall.SIGCONT, func(state byte) bool { return state != 'T' }
	if action == redisSignalPause {
		sig, want = syscall.SIGSTOP, func(state byte) bool { return state == 'T' }
	}
	if err := p.Signal(sig); err != nil {
		return fmt.Errorf("signal %v to pid %d: %w", sig, p.Pid, err)
	}
	statPath := fmt.Sprintf("/proc/%d/stat", p.Pid)
	deadline := time.Now().Add(redisReadyTimeout)
	for {
		stat, err := os.ReadFile(statPath)
		if err != nil {
			return nil // no procfs: trust the signal
		}
		// "pid (comm) S ...": the state follows the last ')'.
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && want(stat[i+2]) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pid %d did not change state after %v", p.Pid, sig)
		}
		time.Sleep(time.Millisecond)
	}
}

//go:build !unix

package redistest

import (
	"errors"
	"os"
)

// Actions of redisSignal.
const (
	redisSignalPause = iota
	redisSignalResume
)

// redisSignal cannot pause a process where there is no SIGSTOP.
func redisSignal(*os.Process, int) error {
	return errors.New("pausing a process needs SIGSTOP (Unix only)")
}

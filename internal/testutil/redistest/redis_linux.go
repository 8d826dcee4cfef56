package redistest

import (
	"os/exec"
	"syscall"
)

// redisProcAttr makes the kernel kill a server the tests started if the
// test binary dies without running its cleanups.
func redisProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

//go:build !linux

package redistest

import "os/exec"

// redisProcAttr does nothing where the kernel cannot tie a child's life
// to its parent; t.Cleanup still stops every server.
func redisProcAttr(*exec.Cmd) {}

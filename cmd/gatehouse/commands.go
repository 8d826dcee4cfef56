package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/gateway"
)

// buildInfo is what 'gatehouse version' reports.
type buildInfo struct {
	version, commit, date, goVersion string
	modified                         bool
}

// readBuildInfo takes the -ldflags values, falling back to the Go build
// information: the module version and the VCS stamps of 'go build' in a
// git checkout.
func readBuildInfo() buildInfo {
	b := buildInfo{version: version, commit: commit, date: date, goVersion: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		if b.version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.commit == "" {
					b.commit = s.Value
				}
			case "vcs.time":
				if b.date == "" {
					b.date = s.Value
				}
			case "vcs.modified":
				b.modified = s.Value == "true" && commit == ""
			}
		}
	}
	if b.version == "" {
		b.version = "(development build)"
	}
	return b
}

// String renders the report, one fact a line.
func (b buildInfo) String() string {
	orUnknown := func(s string) string {
		if s == "" {
			return "unknown"
		}
		return s
	}
	c := orUnknown(b.commit)
	if b.modified {
		c += " (with uncommitted changes)"
	}
	return fmt.Sprintf("gatehouse version %s\ncommit:  %s\nbuilt:   %s\ngo:      %s\n", b.version, c, orUnknown(b.date), b.goVersion)
}

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "gatehouse version takes no arguments")
		return 2
	}
	fmt.Fprint(stdout, readBuildInfo())
	return 0
}

func versionHelp(w io.Writer) {
	fmt.Fprintln(w, "Usage: gatehouse version   (or gatehouse --version)\n\nPrints the version, the commit and date it was built from, and the Go version.")
}

func runSecret(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "gatehouse secret takes no arguments")
		return 2
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		fmt.Fprintln(stderr, "gatehouse secret:", err)
		return 1
	}
	fmt.Fprintln(stdout, base64.StdEncoding.EncodeToString(b))
	return 0
}

func secretHelp(w io.Writer) {
	fmt.Fprintln(w, `Usage: gatehouse secret

Prints a new random 32-byte cookie secret, base64-encoded, for
--cookie-secret-file. To rotate, put the new secret on the file's first
line and keep the old one on the next line until the old sessions expire.`)
}

// runConfig runs 'gatehouse config check'.
func runConfig(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		configHelp(stderr)
		return 2
	}
	opts, err := config.Load(args[1:], os.LookupEnv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	cfg, err := opts.Validate()
	if err == nil {
		err = gateway.Check(cfg)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	out, err := opts.Redacted()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprint(stdout, "# The configuration is valid. Effective values (secrets redacted):\n")
	_, _ = stdout.Write(out)
	return 0
}

func configHelp(w io.Writer) {
	fmt.Fprintln(w, `Usage: gatehouse config check [--config FILE] [flags]

Loads the configuration exactly as 'gatehouse serve' does (file, GATEHOUSE_*
variables and flags), validates it without contacting any provider or
Redis, and prints the effective configuration as YAML with every secret
replaced by <redacted>. Exit status 0 when valid; 2 with every problem on
stderr when not.`)
}

func devHelp(w io.Writer) {
	fmt.Fprintln(w, `Usage: gatehouse dev [--http-address 127.0.0.1:4180] [--idp-address ADDR] [--upstream-address ADDR]

Runs, on loopback only, a built-in OpenID provider with test users, a demo
upstream that shows the identity headers it receives, and Gatehouse in
front of it, with random secrets. FOR DEVELOPMENT ONLY.`)
}

func sessionsHelp(w io.Writer) {
	fmt.Fprint(w, sessionsUsage)
}

func serveHelp(w io.Writer) {
	config.Usage(w)
}

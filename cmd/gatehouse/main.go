// Command gatehouse is an authenticating reverse proxy: it logs users in
// through OpenID Connect / OAuth2 providers and forwards their requests to
// an upstream application with identity headers.
//
// Usage:
//
//	gatehouse [serve] [--config FILE] [flags]   run the gateway (serve is the default)
//	gatehouse dev                                run a self-contained demo on loopback
//	gatehouse config check [--config FILE] ...   validate and print the effective configuration
//	gatehouse secret                             print a new random cookie secret
//	gatehouse sessions list|revoke ...           list or end a user's sessions (Redis store)
//	gatehouse version                            print the version (also --version)
//	gatehouse help [COMMAND]                     describe the commands and options
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...
// -X main.date=..." (the Dockerfile does); otherwise the Go build
// information's VCS stamps are used.
var (
	version = ""
	commit  = ""
	date    = ""
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// command is one subcommand.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) int
	help          func(w io.Writer)
}

// commands are the subcommands, in the order help lists them.
func commands() []command {
	return []command{
		{"serve", "run the gateway (the default command)", runServe, serveHelp},
		{"dev", "run a self-contained demo on loopback: a built-in provider, a demo upstream and Gatehouse", runDev, devHelp},
		{"config", "config check: validate the configuration as serve does and print it with secrets redacted", runConfig, configHelp},
		{"secret", "print a new random 32-byte cookie secret (base64)", runSecret, secretHelp},
		{"sessions", "list or revoke a user's sessions (Redis session store)", runSessions, sessionsHelp},
		{"version", "print the version, commit, build date and Go version", runVersion, versionHelp},
		{"help", "describe a command: gatehouse help [COMMAND]", nil, nil},
	}
}

// run is main without os.Exit, so it can be tested: 0 ok, 1 runtime
// failure, 2 invalid configuration or usage.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return runContext(ctx, args, stdout, stderr)
}

// runContext is run until ctx ends (SIGTERM in production).
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return runServe(ctx, args, stdout, stderr)
	}
	if args[0] == "help" {
		return runHelp(args[1:], stdout, stderr)
	}
	for _, c := range commands() {
		if c.name == args[0] && c.run != nil {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "gatehouse: unknown command %q. Fix: run 'gatehouse help' for the commands; options start with '--'\n", args[0])
	return 2
}

// runHelp prints the commands, or one command's help.
func runHelp(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		writeCommands(stdout)
		fmt.Fprintln(stdout, "\nRun 'gatehouse help serve' (or 'gatehouse --help') for every option of the gateway.")
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] && c.help != nil {
			c.help(stdout)
			return 0
		}
	}
	if args[0] == "help" {
		writeCommands(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "gatehouse help: unknown command %q. Fix: run 'gatehouse help' for the commands\n", args[0])
	return 2
}

// writeCommands lists the subcommands.
func writeCommands(w io.Writer) {
	fmt.Fprintln(w, "Usage: gatehouse [COMMAND] [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
}

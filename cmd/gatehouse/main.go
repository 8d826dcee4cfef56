// Command gatehouse is an authenticating reverse proxy: it logs users in
// through OpenID Connect / OAuth2 providers and forwards their requests to
// an upstream application with identity headers.
//
// Usage:
//
//	gatehouse [--config FILE] [flags]   run the gateway
//	gatehouse dev                        run a self-contained demo on loopback
//	gatehouse sessions list|revoke ...   list or end a user's sessions (Redis store)
//	gatehouse --help                     list every option with its default
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/gateway"
	"github.com/gatehouse-proxy/gatehouse/internal/server"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without os.Exit, so it can be tested: 0 ok, 1 runtime
// failure, 2 invalid configuration or usage.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if len(args) > 0 && args[0] == "dev" {
		return runDev(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "sessions" {
		return runSessions(ctx, args[1:], stdout, stderr)
	}

	opts, err := config.Load(args, os.LookupEnv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if opts.Version {
		fmt.Fprintln(stdout, "gatehouse", version)
		return 0
	}
	cfg, err := opts.Validate()
	if err != nil {
		fmt.Fprintln(stderr, err)
		fmt.Fprintln(stderr, "\nRun 'gatehouse --help' for every option, or 'gatehouse dev' for a self-contained demo.")
		return 2
	}
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	redis.SetLogger(redisLogger{log})
	gw, err := gateway.New(ctx, cfg, gateway.Deps{Logger: log})
	if err != nil {
		log.Error("start-up failed", "err", err)
		return 1
	}
	defer gw.Close()
	ln, err := server.Listen(cfg.HTTPAddress, server.Limits{MaxConnections: cfg.MaxConnections})
	if err != nil {
		log.Error("listen failed", "address", cfg.HTTPAddress, "err", err)
		return 1
	}
	log.Info("gatehouse listening", "address", ln.Addr().String(), "version", version, "upstream", opts.Upstream, "session_store", cfg.SessionStore)
	if err := serve(ctx, ln, gw, log, cfg.ShutdownTimeout); err != nil {
		log.Error("server failed", "err", err)
		return 1
	}
	return 0
}

// newServer returns an http.Server with every timeout set (see
// internal/server.New).
func newServer(h http.Handler, log *slog.Logger) *http.Server {
	return server.New(h, server.Limits{}, log)
}

// serve runs h on ln until ctx ends, then shuts down gracefully within
// grace.
func serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger, grace time.Duration) error {
	return server.Serve(ctx, newServer(h, log), ln, log, grace)
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	ho := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// redisLogger sends go-redis's own messages (pool dial failures during an
// outage) to slog at debug level; Gatehouse logs the outage itself.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

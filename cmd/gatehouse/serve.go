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
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/gateway"
	"github.com/gatehouse-proxy/gatehouse/internal/metrics"
	"github.com/gatehouse-proxy/gatehouse/internal/server"
)

// runServe runs the gateway: 'gatehouse [serve] [flags]'.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, err := config.Load(args, os.LookupEnv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if opts.Version {
		fmt.Fprint(stdout, readBuildInfo())
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
	var m *metrics.Metrics
	if cfg.MetricsAddress != "" {
		m = metrics.New()
		b := readBuildInfo()
		m.SetBuildInfo(b.version, b.commit, b.goVersion)
	}
	gw, err := gateway.New(ctx, cfg, gateway.Deps{Logger: log, Metrics: m})
	if err != nil {
		log.Error("start-up failed: " + err.Error())
		return 1
	}
	defer gw.Close()
	listeners, err := openListeners(cfg, gw, m, log)
	if err != nil {
		log.Error("start-up failed: " + err.Error())
		return 1
	}
	b := readBuildInfo()
	log.Info("gatehouse started", "version", b.version, "commit", b.commit, "upstream", opts.Upstream, "session_store", cfg.SessionStore)
	if err := serveAll(ctx, listeners, log, cfg.ShutdownTimeout); err != nil {
		log.Error("server failed", "err", err)
		return 1
	}
	return 0
}

// listener is one socket with the server that answers on it.
type listener struct {
	name string // http, https or metrics
	ln   net.Listener
	srv  *http.Server
}

// openListeners opens the plain HTTP, TLS and metrics listeners cfg asks
// for; on error the ones already open are closed.
func openListeners(cfg *config.Config, h http.Handler, m *metrics.Metrics, log *slog.Logger) (out []listener, err error) {
	defer func() {
		if err != nil {
			for _, l := range out {
				l.ln.Close()
			}
		}
	}()
	limits := server.Limits{MaxConnections: cfg.MaxConnections}
	listen := func(name, addr, flagName string) (net.Listener, error) {
		ln, err := server.Listen(addr, limits)
		if err != nil {
			return nil, fmt.Errorf("listen on %s (--%s): %w. Fix: stop what uses the port, or choose another --%s", addr, flagName, err, flagName)
		}
		log.Info("listening", "listener", name, "address", ln.Addr().String())
		return ln, nil
	}
	if cfg.HTTPAddress != "" {
		ln, err := listen("http", cfg.HTTPAddress, "http-address")
		if err != nil {
			return out, err
		}
		out = append(out, listener{"http", ln, server.New(h, limits, log)})
	}
	if cfg.HTTPSAddress != "" {
		certs, err := server.NewCertReloader(cfg.TLSCertFile, cfg.TLSKeyFile, server.DefaultCertCheck, log)
		if err != nil {
			return out, err
		}
		ln, err := listen("https", cfg.HTTPSAddress, "https-address")
		if err != nil {
			return out, err
		}
		out = append(out, listener{"https", server.TLSListener(ln, certs.TLSConfig(cfg.TLSMinVersion)), server.New(h, limits, log)})
	}
	if cfg.MetricsAddress != "" {
		ln, err := listen("metrics", cfg.MetricsAddress, "metrics-address")
		if err != nil {
			return out, err
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler())
		out = append(out, listener{"metrics", ln, server.New(mux, server.Limits{MaxConnections: 64}, log)})
	}
	return out, nil
}

// serveAll serves every listener until ctx ends (then each shuts down
// gracefully within grace) or one fails (then the others stop too).
func serveAll(ctx context.Context, ls []listener, log *slog.Logger, grace time.Duration) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(ls))
	for _, l := range ls {
		go func() {
			err := server.Serve(ctx, l.srv, l.ln, log, grace)
			if err != nil {
				err = fmt.Errorf("%s listener: %w", l.name, err)
			}
			errc <- err
			cancel()
		}()
	}
	var errs []error
	for range ls {
		if err := <-errc; err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
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

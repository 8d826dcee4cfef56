package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/gateway"
	"github.com/gatehouse-proxy/gatehouse/session"
)

const sessionsUsage = `Usage:
  gatehouse sessions list   --user USER | --subject SUB [--provider ID] [--json] [configuration flags]
  gatehouse sessions revoke --user USER | --subject SUB [--provider ID] [--json] [configuration flags]

List or end the sessions of a user (the X-Forwarded-User value) or of a
provider subject, with the Redis session store. The configuration is read
as 'gatehouse' reads it (--config, GATEHOUSE_* variables and flags); the
cookie secret must be the gateway's. A revoked session's next request goes
to sign-in, on every replica. Listing shows a short hash of each session,
its provider and times, never a token.

  --user USER      the user's X-Forwarded-User value
  --subject SUB    the provider's subject (sub); every configured provider
                   unless --provider is given
  --provider ID    only sessions signed in through this provider id (here
                   --provider is the provider id, not the provider type:
                   give the type with GATEHOUSE_PROVIDER or the YAML file)
  --json           print JSON instead of a table
`

// sessionsArgs are the sessions subcommand's own arguments.
type sessionsArgs struct {
	user, subject, provider string
	json                    bool
}

// runSessions runs `gatehouse sessions list|revoke`: 0 done, 1 Redis
// failed, 2 usage or configuration error.
func runSessions(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || slices.Contains([]string{"-h", "--help", "-help", "help"}, args[0]) {
		fmt.Fprint(stdout, sessionsUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	verb := args[0]
	if verb != "list" && verb != "revoke" {
		fmt.Fprintf(stderr, "gatehouse sessions: unknown command %q; use list or revoke\n\n%s", verb, sessionsUsage)
		return 2
	}
	own, rest, err := splitSessionsArgs(args[1:])
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, sessionsUsage)
		return 0
	}
	if err == nil && (own.user == "") == (own.subject == "") {
		err = errors.New("give exactly one of --user and --subject")
	}
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse sessions %s: %v\n\n%s", verb, err, sessionsUsage)
		return 2
	}
	cfg, code := sessionsConfig(rest, stdout, stderr)
	if cfg == nil {
		return code
	}
	sels, err := selectors(own, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse sessions %s: %v\n", verb, err)
		return 2
	}
	// go-redis would print its dial failures; the error below says it.
	redis.SetLogger(redisLogger{slog.New(slog.DiscardHandler)})
	store, closeStore, err := gateway.OpenSessions(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse sessions %s: %v\n", verb, err)
		return 2
	}
	defer func() { _ = closeStore() }()
	var found []session.Info
	for _, sel := range sels {
		var infos []session.Info
		if verb == "list" {
			infos, err = store.Sessions(ctx, sel)
		} else {
			infos, err = store.Revoke(ctx, sel)
		}
		if err != nil {
			fmt.Fprintf(stderr, "gatehouse sessions %s: %v\n", verb, err)
			return 1
		}
		found = append(found, infos...)
	}
	if err := printSessions(stdout, verb, own.json, found); err != nil {
		fmt.Fprintf(stderr, "gatehouse sessions %s: %v\n", verb, err)
		return 1
	}
	return 0
}

// splitSessionsArgs takes the subcommand's own flags out of args and
// returns the others, which configure the gateway.
func splitSessionsArgs(args []string) (sessionsArgs, []string, error) {
	var own sessionsArgs
	var rest []string
	values := map[string]*string{"user": &own.user, "subject": &own.subject, "provider": &own.provider}
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case !strings.HasPrefix(a, "-"):
			return own, nil, fmt.Errorf("unexpected argument %q", a)
		case name == "h" || name == "help":
			return own, nil, flag.ErrHelp
		case name == "json":
			own.json = !hasValue || value == "true"
		case values[name] != nil:
			if !hasValue {
				if i+1 >= len(args) || strings.HasPrefix(args[i+1], "--") {
					return own, nil, fmt.Errorf("--%s needs a value", name)
				}
				i++
				value = args[i]
			}
			*values[name] = value
		default:
			rest = append(rest, a)
			// A configuration flag's value follows it unless it is
			// written --flag=value or the flag is a switch.
			if !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++
				rest = append(rest, args[i])
			}
		}
	}
	return own, rest, nil
}

// sessionsConfig loads and validates the configuration as serve does; nil
// with the exit code when that fails.
func sessionsConfig(args []string, stdout, stderr io.Writer) (*config.Config, int) {
	opts, err := config.Load(args, os.LookupEnv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil, 0
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, 2
	}
	cfg, err := opts.Validate()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, 2
	}
	if cfg.SessionStore != "redis" {
		fmt.Fprintln(stderr, "gatehouse sessions:", gateway.ErrNotRedis)
		return nil, 2
	}
	return cfg, 0
}

// selectors turns the arguments into what the store selects by: a
// subject without --provider is looked up at every configured provider.
func selectors(a sessionsArgs, cfg *config.Config) ([]session.Selector, error) {
	var ids []string
	for _, p := range cfg.Providers {
		ids = append(ids, p.ID)
	}
	if a.provider != "" && !slices.Contains(ids, a.provider) {
		return nil, fmt.Errorf("--provider %q is not a configured provider id (configured: %s)", a.provider, strings.Join(ids, ", "))
	}
	if a.user != "" {
		return []session.Selector{{User: a.user, Provider: a.provider}}, nil
	}
	if a.provider != "" {
		ids = []string{a.provider}
	}
	sels := make([]session.Selector, len(ids))
	for i, id := range ids {
		sels[i] = session.Selector{Provider: id, Subject: a.subject}
	}
	return sels, nil
}

// sessionJSON is one session in --json output.
type sessionJSON struct {
	Session     string `json:"session"`
	Provider    string `json:"provider"`
	Created     string `json:"created"`
	LastRefresh string `json:"last_refresh"`
	Expires     string `json:"expires"`
}

// printSessions writes the sessions found (listed or revoked) as a table
// or JSON.
func printSessions(w io.Writer, verb string, asJSON bool, infos []session.Info) error {
	stamp := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	if asJSON {
		out := make([]sessionJSON, len(infos))
		for i, in := range infos {
			out[i] = sessionJSON{in.Hash, in.Provider, stamp(in.CreatedAt), stamp(in.RefreshedAt), stamp(in.ExpiresAt)}
		}
		key := map[string]string{"list": "sessions", "revoke": "revoked"}[verb]
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string][]sessionJSON{key: out})
	}
	if verb == "revoke" {
		fmt.Fprintf(w, "revoked %d session(s)\n", len(infos))
		if len(infos) == 0 {
			return nil
		}
	} else if len(infos) == 0 {
		_, err := fmt.Fprintln(w, "no sessions")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tPROVIDER\tCREATED\tLAST REFRESH\tEXPIRES")
	for _, in := range infos {
		provider := in.Provider
		if provider == "" {
			provider = "?"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", in.Hash, provider, stamp(in.CreatedAt), stamp(in.RefreshedAt), stamp(in.ExpiresAt))
	}
	return tw.Flush()
}

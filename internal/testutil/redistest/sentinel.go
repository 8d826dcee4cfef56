package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Sentinel is a Redis master, one replica and one redis-sentinel watching
// them, started for one test. One Sentinel with quorum 1 fails over on its
// own, and does not need the seconds that several Sentinels take to discover
// each other.
type Sentinel struct {
	// MasterName is the name the Sentinel monitors the master under.
	MasterName string

	o         SentinelOptions
	t         testing.TB
	mu        sync.Mutex
	nodes     map[string]*redisProcess // by address
	sentinels []*redisProcess
}

// Sentinel timings: short, so a failover takes a couple of seconds.
const (
	sentinelDownAfter       = 500 * time.Millisecond
	sentinelFailoverTimeout = 5 * time.Second
)

// SentinelOptions configure StartSentinelWith. The zero value asks for no
// passwords.
type SentinelOptions struct {
	// Password is required by the master and the replica (requirepass,
	// and masterauth so that they can replicate from each other).
	Password string
	// SentinelPassword is required by the Sentinel itself.
	SentinelPassword string
}

// StartSentinel starts a master, a replica of it and a Sentinel monitoring
// them, waits until the Sentinel knows the replica, and stops all of them
// when the test ends. The test fails if redis-server is not installed.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	return StartSentinelWith(t, SentinelOptions{})
}

// StartSentinelWith is StartSentinel with passwords.
func StartSentinelWith(t testing.TB, o SentinelOptions) *Sentinel {
	t.Helper()
	bin := redisLookBinary(t, "redis-server")
	sentinelBin, sentinelFlag := bin, []string{"--sentinel"}
	if p, err := exec.LookPath("redis-sentinel"); err == nil {
		sentinelBin, sentinelFlag = p, nil
	}
	s := &Sentinel{MasterName: "gatehouse-test", o: o, t: t, nodes: map[string]*redisProcess{}}
	var auth []string
	if o.Password != "" {
		auth = []string{"--requirepass", o.Password, "--masterauth", o.Password}
	}

	master := startRedisProcess(t, bin, false, func(dir string, port int) []string {
		return redisServerArgs(dir, port, auth...)
	})
	masterAddr := master.addr()
	replica := startRedisProcess(t, bin, false, func(dir string, port int) []string {
		return redisServerArgs(dir, port, append([]string{"--replicaof", "127.0.0.1", strconv.Itoa(master.port)}, auth...)...)
	})
	s.nodes[masterAddr] = master
	s.nodes[replica.addr()] = replica
	redisWaitFor(t, redisReadyTimeout, "replica to sync with master", func(ctx context.Context) (bool, error) {
		v, err := redisInfoField(ctx, replica.addr(), o.Password, "replication", "master_link_status")
		return v == "up", err
	})

	sp := &redisProcess{t: t, bin: sentinelBin, dir: t.TempDir()}
	sp.logPath = filepath.Join(sp.dir, "server.log")
	sp.args = func(port int) ([]string, error) {
		// Sentinel rewrites its config file, so it must be a file of its own.
		conf := filepath.Join(sp.dir, "sentinel.conf")
		name := s.MasterName
		text := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
logfile ""
daemonize no
sentinel monitor %s 127.0.0.1 %d 1
sentinel down-after-milliseconds %s %d
sentinel failover-timeout %s %d
sentinel parallel-syncs %s 1
`, port, sp.dir, name, master.port, name, sentinelDownAfter.Milliseconds(),
			name, sentinelFailoverTimeout.Milliseconds(), name)
		if o.Password != "" {
			text += fmt.Sprintf("sentinel auth-pass %s %s\n", name, o.Password)
		}
		if o.SentinelPassword != "" {
			text += fmt.Sprintf("requirepass %s\n", o.SentinelPassword)
		}
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			return nil, err
		}
		return append([]string{conf}, sentinelFlag...), nil
	}
	s.sentinels = append(s.sentinels, sp.startFresh(false))

	redisWaitFor(t, redisReadyTimeout, "sentinel to know the replica", func(ctx context.Context) (bool, error) {
		v, err := redisDoAuth(ctx, sp.addr(), o.SentinelPassword, "SENTINEL", "REPLICAS", s.MasterName)
		if err != nil {
			return false, err
		}
		return redisSentinelHasHealthyReplica(v), nil
	})
	return s
}

// redisSentinelHasHealthyReplica reports whether a SENTINEL REPLICAS reply (RESP2:
// a list of flat field/value lists) lists a replica whose link is ok.
func redisSentinelHasHealthyReplica(v any) bool {
	list, _ := v.([]any)
	for _, r := range list {
		fields, _ := r.([]any)
		m := map[string]string{}
		for i := 0; i+1 < len(fields); i += 2 {
			k, _ := fields[i].(string)
			val, _ := fields[i+1].(string)
			m[k] = val
		}
		if m["flags"] == "slave" && m["master-link-status"] == "ok" {
			return true
		}
	}
	return false
}

// SentinelAddrs returns the host:port of every Sentinel.
func (s *Sentinel) SentinelAddrs() []string {
	addrs := make([]string, 0, len(s.sentinels))
	for _, p := range s.sentinels {
		addrs = append(addrs, p.addr())
	}
	return addrs
}

// MasterAddr returns the host:port of the master as the Sentinel sees it.
func (s *Sentinel) MasterAddr() string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), redisReadyTimeout)
	defer cancel()
	addr, err := s.masterAddr(ctx)
	if err != nil {
		s.t.Fatalf("ask sentinel for master: %v", err)
	}
	return addr
}

func (s *Sentinel) masterAddr(ctx context.Context) (string, error) {
	v, err := redisDoAuth(ctx, s.sentinels[0].addr(), s.o.SentinelPassword, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.MasterName)
	if err != nil {
		return "", err
	}
	hp, _ := v.([]any)
	if len(hp) != 2 {
		return "", fmt.Errorf("unexpected SENTINEL GET-MASTER-ADDR-BY-NAME reply %v", v)
	}
	host, _ := hp[0].(string)
	port, _ := hp[1].(string)
	return net.JoinHostPort(host, port), nil
}

// StopMaster kills the current master (as a crash would) and waits until the
// Sentinel has promoted the replica. It fails the test if no failover happens
// within 30 s.
func (s *Sentinel) StopMaster() {
	s.t.Helper()
	old := s.MasterAddr()
	s.mu.Lock()
	p := s.nodes[old]
	s.mu.Unlock()
	if p == nil {
		s.t.Fatalf("sentinel reports master %s, which this helper did not start", old)
	}
	p.stop()
	redisWaitFor(s.t, redisFailoverTimeout, "sentinel to promote the replica", func(ctx context.Context) (bool, error) {
		addr, err := s.masterAddr(ctx)
		if err != nil || addr == old {
			return false, err
		}
		role, err := redisInfoField(ctx, addr, s.o.Password, "replication", "role")
		return role == "master", err
	})
}

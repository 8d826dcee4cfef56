package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
)

// setup is everything the harness started.
type setup struct {
	procs   []*process
	targets []target
	server  map[string]*process // target name → the process serving it
	files   map[string]string   // target name → gatehouse config file
	cancel  context.CancelFunc
}

func (s *setup) close() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		s.procs[i].stop()
	}
	s.cancel()
}

// Target names, in the order each round runs them.
const (
	nameUpstream = "upstream (answers only)"
	nameBare     = "bare reverse proxy"
	nameBarePool = "bare + buffer pool"
	nameCookie   = "gatehouse cookie store"
	nameRedis    = "gatehouse redis store"
	nameAuth     = "gatehouse /oauth2/auth"
)

// start builds and starts every server, signs in, and returns the targets.
func start(ctx context.Context, dir string, log io.Writer) (_ *setup, err error) {
	ctx, cancel := context.WithCancel(ctx)
	s := &setup{server: map[string]*process{}, files: map[string]string{}, cancel: cancel}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	fmt.Fprintln(log, "bench: building gatehouse")
	bin, err := buildGatehouse(ctx, dir)
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	up, upAddr, err := s.startRole(ctx, self, roleUpstream, "")
	if err != nil {
		return nil, err
	}
	bare, bareAddr, err := s.startRole(ctx, self, roleBare, "http://"+upAddr)
	if err != nil {
		return nil, err
	}
	barePool, barePoolAddr, err := s.startRole(ctx, self, roleBarePool, "http://"+upAddr)
	if err != nil {
		return nil, err
	}
	redisProc, redisAddr, err := startRedis(ctx, dir)
	if err != nil {
		return nil, err
	}
	s.procs = append(s.procs, redisProc)
	issuer, secret, err := startIdP(ctx)
	if err != nil {
		return nil, err
	}
	cookieGW, cookieAddr, cookieFile, err := s.startGatehouse(ctx, bin, dir, "cookie", upAddr, issuer, secret, "")
	if err != nil {
		return nil, err
	}
	redisGW, redisGWAddr, redisFile, err := s.startGatehouse(ctx, bin, dir, "redis", upAddr, issuer, secret, redisAddr)
	if err != nil {
		return nil, err
	}
	cookieJar, err := signIn(ctx, cookieAddr)
	if err != nil {
		return nil, err
	}
	redisJar, err := signIn(ctx, redisGWAddr)
	if err != nil {
		return nil, err
	}
	user := devidp.Subject(benchUser.Username) // X-Forwarded-User: the sub claim
	s.add(target{name: nameUpstream, addr: upAddr, path: "/bench", cookie: cookieJar, status: http.StatusOK}, up, "")
	// The bare proxy gets the very request the cookie-store gateway gets.
	s.add(target{name: nameBare, addr: bareAddr, path: "/bench", cookie: cookieJar, status: http.StatusOK}, bare, "")
	s.add(target{name: nameBarePool, addr: barePoolAddr, path: "/bench", cookie: cookieJar, status: http.StatusOK}, barePool, "")
	s.add(target{name: nameCookie, addr: cookieAddr, path: "/bench", cookie: cookieJar, status: http.StatusOK, user: user}, cookieGW, cookieFile)
	s.add(target{name: nameRedis, addr: redisGWAddr, path: "/bench", cookie: redisJar, status: http.StatusOK, user: user}, redisGW, redisFile)
	s.add(target{name: nameAuth, addr: cookieAddr, path: "/oauth2/auth", cookie: cookieJar, status: http.StatusAccepted}, cookieGW, cookieFile)
	return s, nil
}

func (s *setup) add(t target, p *process, file string) {
	s.targets = append(s.targets, t)
	s.server[t.name] = p
	s.files[t.name] = file
}

// startRole runs a copy of this program as the upstream or the bare proxy.
func (s *setup) startRole(ctx context.Context, self, role, upstream string) (*process, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	p, err := startProcess(role, self, []string{roleEnv + "=" + role, roleAddrEnv + "=" + addr, roleTargetEnv + "=" + upstream})
	if err != nil {
		return nil, "", err
	}
	s.procs = append(s.procs, p)
	return p, addr, waitHTTP(ctx, p, "http://"+addr+"/", http.StatusOK, 10*time.Second)
}

// startGatehouse runs the gatehouse binary with a configuration file for
// one session store.
func (s *setup) startGatehouse(ctx context.Context, bin, dir, store, upstream, issuer, secret, redisAddr string) (*process, string, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", "", err
	}
	file, err := gatewayFile(dir, store, addr, upstream, issuer, secret, redisAddr)
	if err != nil {
		return nil, "", "", err
	}
	p, err := startProcess("gatehouse ("+store+" store)", bin, nil, "--config", file)
	if err != nil {
		return nil, "", "", err
	}
	s.procs = append(s.procs, p)
	return p, addr, file, waitHTTP(ctx, p, "http://"+addr+"/ping", http.StatusOK, 15*time.Second)
}

// roundStat is one configuration's measurement in one round.
type roundStat struct {
	requests uint64
	elapsed  time.Duration
	cpu      time.Duration
}

// memTrack follows one process's RSS over the whole run.
type memTrack struct {
	idle             uint64 // before any load
	first, last, max uint64 // under load
}

func (m *memTrack) sample(v uint64) {
	if m.first == 0 {
		m.first = v
	}
	m.last = v
	m.max = max(m.max, v)
}

// measure drives t for d while sampling its server's CPU time and RSS.
func measure(ctx context.Context, t target, p *process, conns int, d time.Duration, mem *memTrack) (*loadResult, roundStat, error) {
	cpu0, err := p.cpu()
	if err != nil {
		return nil, roundStat{}, p.failure(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if v, err := p.rss(); err == nil {
					mem.sample(v)
				}
			}
		}
	})
	res, err := drive(ctx, t, conns, d)
	close(stop)
	wg.Wait()
	if err != nil {
		return nil, roundStat{}, err
	}
	if res.errors > 0 {
		return nil, roundStat{}, p.failure(fmt.Errorf("%s: %d wrong answers, first: %w", t.name, res.errors, res.firstErr))
	}
	if res.requests == 0 {
		return nil, roundStat{}, p.failure(errors.New(t.name + ": no answer"))
	}
	cpu1, err := p.cpu()
	if err != nil {
		return nil, roundStat{}, p.failure(err)
	}
	if v, err := p.rss(); err == nil {
		mem.sample(v)
	}
	return res, roundStat{requests: res.requests, elapsed: res.elapsed, cpu: cpu1 - cpu0}, nil
}

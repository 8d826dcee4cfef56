package redistest

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Cluster is a three-master Redis Cluster (no replicas) started for one test.
type Cluster struct {
	nodes []*redisProcess
}

// StartCluster starts three cluster-enabled redis-servers, joins them into a
// cluster with redis-cli --cluster create, waits for cluster_state:ok on
// every node, and stops them when the test ends. The test fails if
// redis-server or redis-cli is not installed.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	bin := redisLookBinary(t, "redis-server")
	cli := redisLookBinary(t, "redis-cli")
	c := &Cluster{}
	for range 3 {
		c.nodes = append(c.nodes, startRedisProcess(t, bin, true, func(dir string, port int) []string {
			return redisServerArgs(dir, port,
				"--cluster-enabled", "yes",
				"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
				"--cluster-node-timeout", "2000",
			)
		}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*redisReadyTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, addr := range c.Addrs() {
		redisWaitFor(t, redisReadyTimeout, "cluster_state:ok on "+addr, func(ctx context.Context) (bool, error) {
			v, err := redisDo(ctx, addr, "CLUSTER", "INFO")
			s, _ := v.(string)
			return strings.Contains(s, "cluster_state:ok"), err
		})
	}
	return c
}

// Addrs returns the host:port of every node.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, 0, len(c.nodes))
	for _, p := range c.nodes {
		addrs = append(addrs, p.addr())
	}
	return addrs
}

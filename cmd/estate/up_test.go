//go:build !servicesonly

package main

import (
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUpListensOnLoopback: every listener of `estate up` binds loopback
// unless the user sets its address, by flag or environment; a target's
// own command keeps its default, for containers.
func TestUpListensOnLoopback(t *testing.T) {
	env := &environ{getenv: noEnv, stdout: io.Discard, stderr: io.Discard}
	names := targetNames()
	cfg, _, err := parseConfig(env, "up", names, nil)
	require.NoError(t, err)
	addrs := cfg.targetConfigs.listenAddrs(names)
	require.NotEmpty(t, addrs)
	for _, addr := range addrs {
		host, _, err := net.SplitHostPort(*addr)
		require.NoError(t, err, *addr)
		require.Equal(t, "127.0.0.1", host, "up listens on %s", *addr)
	}

	env.getenv = func(k string) string {
		if k == "ESTATE_COLLECTOR_LISTEN_ADDR" {
			return "0.0.0.0:8088"
		}
		return ""
	}
	cfg, _, err = parseConfig(env, "up", names, []string{"--report.listen-addr=:8090"})
	require.NoError(t, err)
	require.Equal(t, "0.0.0.0:8088", cfg.Collector.Collector.ListenAddr, "the environment sets it")
	require.Equal(t, ":8090", cfg.Report.ListenAddr, "a flag sets it")

	env.getenv = noEnv
	cfg, _, err = parseConfig(env, "collector", []string{"collector"}, nil)
	require.NoError(t, err)
	require.Equal(t, ":8088", cfg.Collector.Collector.ListenAddr)
	require.Equal(t, ":4317", cfg.Collector.Collector.OTLP.GRPCListenAddr)
}

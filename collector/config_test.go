package collector

import (
	"flag"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func defaults(t *testing.T) Config {
	t.Helper()
	var c Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs)
	require.NoError(t, fs.Parse(nil))
	return c
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"defaults", func(*Config) {}, ""},
		{"queue bound", func(c *Config) { c.Queue.MaxBytes = 0 }, "collector.queue.max_bytes: must be positive, not 0"},
		{"durability", func(c *Config) { c.Queue.Durability = "always" }, `collector.queue.durability: must be fsync, interval or none, not "always"`},
		{"when full", func(c *Config) { c.Queue.WhenFull = "block" }, `collector.queue.when_full: must be reject or drop_oldest, not "block"`},
		{"segment vs bound", func(c *Config) { c.Queue.MaxBytes = 1 << 20 }, "collector.queue.segment_bytes: must be at most half of max_bytes"},
		{"request vs segment", func(c *Config) { c.OTLP.MaxRequestBytes = 32 << 20 }, "collector.otlp.max_request_bytes: must be at most queue.segment_bytes"},
		{"address", func(c *Config) { c.OTLP.GRPCListenAddr = "4317" }, `collector.otlp.grpc_listen_addr: must be host:port, not "4317"`},
		{"backoff", func(c *Config) { c.Export.MaxBackoff = 1 }, "collector.export.max_backoff: must be at least initial_backoff"},
		{"red", func(c *Config) { c.RED.MaxSeries = -1 }, "collector.red.max_series: must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaults(t)
			tt.edit(&c)
			err := c.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestRecordEnvelope(t *testing.T) {
	rec := EncodeRecord(SignalLogs, []byte{1, 2, 3})
	sig, payload, err := DecodeRecord(rec)
	require.NoError(t, err)
	require.Equal(t, SignalLogs, sig)
	require.Equal(t, []byte{1, 2, 3}, payload)
	for _, bad := range [][]byte{nil, {1}, {9, 2}, {1, 9}} {
		_, _, err := DecodeRecord(bad)
		require.ErrorIs(t, err, ErrBadRecord)
	}
}

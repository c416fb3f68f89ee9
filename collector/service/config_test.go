package service

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"defaults", func(*Config) {}, ""},
		{"queue bound", func(c *Config) { c.Collector.Queue.MaxBytes = 0 }, "collector.queue.max_bytes: must be positive, not 0"},
		{"durability", func(c *Config) { c.Collector.Queue.Durability = "always" }, `collector.queue.durability: must be fsync, interval or none, not "always"`},
		{"when full", func(c *Config) { c.Collector.Queue.WhenFull = "block" }, `collector.queue.when_full: must be reject or drop_oldest, not "block"`},
		{"segment vs bound", func(c *Config) { c.Collector.Queue.MaxBytes = 1 << 20 }, "collector.queue.segment_bytes: must be at most half of max_bytes"},
		{"request vs segment", func(c *Config) { c.Collector.OTLP.MaxRequestBytes = 32 << 20 }, "collector.otlp.max_request_bytes: must be at most queue.segment_bytes"},
		{"address", func(c *Config) { c.Collector.OTLP.GRPCListenAddr = "4317" }, `collector.otlp.grpc_listen_addr: must be host:port, not "4317"`},
		{"api address", func(c *Config) { c.Collector.ListenAddr = "localhost:http" }, `collector.listen_addr: port must be a number from 0 to 65535, not "http"`},
		{"memory", func(c *Config) { c.Collector.Memory.MaxInflightBytes = 0 }, "collector.memory.max_inflight_bytes: must be positive, not 0"},
		{"backoff", func(c *Config) { c.Collector.Export.MaxBackoff = 1 }, "collector.export.max_backoff: must be at least initial_backoff"},
		{"store", func(c *Config) { c.Collector.Store.RetentionInterval = 0 }, "collector.store.retention_interval: must be positive, not 0s"},
		{"red", func(c *Config) { c.Collector.RED.MaxSeries = -1 }, "collector.red.max_series: must be positive"},
		{"scrape", func(c *Config) { c.Collector.Scrape.Targets = []string{"invoicing"} }, `collector.scrape.targets[0]: must be job=host:port, not "invoicing"`},
		{"otlp metrics", func(c *Config) { c.Collector.OTLPMetrics.PromoteResourceAttributes = []string{"a", "a"} }, `collector.otlp_metrics.promote_resource_attributes[1]: "a" is listed twice`},
		{"rules", func(c *Config) { c.Collector.Rules.AlertmanagerURL = "am:9093" }, "collector.rules.alertmanager_url"},
		{"elasticsearch", func(c *Config) { c.Elasticsearch.URLs = []string{"ftp://es"} }, `elasticsearch.urls: "ftp://es" must be an http or https URL with a host`},
		{"elasticsearch without a dead-letter folder uses the collector's", func(c *Config) { c.Elasticsearch.URLs = []string{"http://es:9200"} }, ""},
		{"jaeger", func(c *Config) { c.Jaeger.Endpoint = "jaeger" }, `jaeger.endpoint: "jaeger" must be host:port`},
		{"remote write", func(c *Config) { c.RemoteWrite.URL = "prometheus:9090" }, "prometheus_remote_write.url"},
		{"otlp", func(c *Config) { c.OTLP.Endpoint, c.OTLP.Protocol = "http://gateway:4317", "thrift" }, "otlp.protocol"},
		{"store signals", func(c *Config) { c.Collector.Store.Signals = []string{"logs", "metrics"} }, `collector.store.signals: "metrics" must be logs or traces`},
		{"no store signals", func(c *Config) { c.Collector.Store.Signals = []string{} }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig(t)
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

func TestConfigNamesEveryFieldAtFault(t *testing.T) {
	c := testConfig(t)
	c.Collector.Queue.MaxBytes = -1
	c.Collector.Store.MaxAge = 0
	c.Collector.TSDB.MaxSeries = 0
	err := c.Validate()
	require.ErrorContains(t, err, "collector.queue.max_bytes: must be positive, not -1")
	require.ErrorContains(t, err, "collector.store.max_age: must be positive, not 0s")
	require.ErrorContains(t, err, "collector.tsdb.max_series: must be positive, not 0")
}

package elasticsearch_test

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"

	es "github.com/estatehq/estate/collector/elasticsearch"
	"github.com/estatehq/estate/collector/elasticsearch/esdouble"
)

// BenchmarkExportLogs measures one ExportLogs of a batch of 1000 records of
// about 200 bytes (mapping, ids, _bulk encoding, the HTTP round trip and
// result parsing) against the protocol double on loopback. The double's
// own work (decoding and storing every document under one lock) is
// included, so the figure is a floor for the exporter, not a prediction of
// a real cluster's throughput.
func BenchmarkExportLogs(b *testing.B) {
	srv, err := esdouble.Start(esdouble.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	var cfg es.Config
	cfg.RegisterFlags(flag.NewFlagSet("bench", flag.ContinueOnError), "")
	cfg.URLs = []string{srv.URL()}
	cfg.DeadLetterDir = b.TempDir()
	exp, err := es.New(cfg, es.Options{Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = exp.Shutdown(context.Background()) }()
	if err := exp.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	const batch = 1000
	ld := makeLogs("bench", batch)
	for i := range batch {
		ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(i).Body().SetStr(
			"GET /v1/invoices/inv_01JDX4 200 12.3ms user=acct_8812 tenant=t_42 request_id=0f6c1a2b3c4d5e6f7a8b9c0d1e2f3a4b")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// A new resource attribute value makes every id new: creates, not 409s.
		ld.ResourceLogs().At(0).Resource().Attributes().PutInt("bench.iteration", int64(i))
		ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
		if err := exp.ExportLogs(context.Background(), ld); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

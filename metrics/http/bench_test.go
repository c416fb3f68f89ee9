package metricshttp_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/metrics"
	metricshttp "github.com/estatehq/estate/metrics/http"
	"github.com/estatehq/estate/metrics/metricstest"
	"github.com/estatehq/estate/metrics/sqlite"
)

// BenchmarkIngestSQLite posts one year of events for 50 services (about
// 100,000) to /v1/events in batches, over loopback HTTP, into a fresh
// SQLite store (WAL, synchronous=FULL: every batch is on disk before it is
// acknowledged). One op is the whole year.
func BenchmarkIngestSQLite(b *testing.B) {
	events := metricstest.Generate(metricstest.GenerateOptions{Seed: 1})
	for _, size := range []int{100, 500, 1000} {
		bodies := batches(b, events, size)
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				srv, store := server(b)
				b.StartTimer()
				for _, body := range bodies {
					post(b, srv, body)
				}
				b.StopTimer()
				srv.Close()
				require.NoError(b, store.Close())
				b.StartTimer()
			}
			b.ReportMetric(float64(len(events))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func batches(b *testing.B, events []metrics.Event, size int) [][]byte {
	var out [][]byte
	for i := 0; i < len(events); i += size {
		var buf bytes.Buffer
		buf.WriteByte('[')
		for j, e := range events[i:min(i+size, len(events))] {
			if j > 0 {
				buf.WriteByte(',')
			}
			enc, err := e.MarshalJSON()
			require.NoError(b, err)
			buf.Write(enc)
		}
		buf.WriteByte(']')
		out = append(out, buf.Bytes())
	}
	return out
}

func server(b *testing.B) (*httptest.Server, *sqlite.Store) {
	store, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "events.db"), sqlite.Options{})
	require.NoError(b, err)
	h, err := metricshttp.NewHandler(metricshttp.Options{Store: store})
	require.NoError(b, err)
	return httptest.NewServer(h), store
}

func post(b *testing.B, srv *httptest.Server, body []byte) {
	res, err := srv.Client().Post(srv.URL+"/v1/events", "application/cloudevents-batch+json", bytes.NewReader(body))
	require.NoError(b, err)
	res.Body.Close()
	require.Equal(b, http.StatusOK, res.StatusCode)
}

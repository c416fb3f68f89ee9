// Command tsdbload measures the memory of the collector's embedded metrics
// store (docs/benchmarks.md, "Embedded metrics store"): it runs the whole
// collector in this process, as `estate collector` does, and appends a
// number of active series at a fixed interval, as a scrape would, while a
// dashboard's queries run against its Prometheus API; it prints the
// process's RSS, the Go heap and the TSDB head after every round.
//
// An optional backfill first appends hours of history as fast as it can
// (timestamps one interval apart, ending now), so that the head is as full
// as it gets (it holds up to three hours before a block is cut) before the
// rounds in real time.
//
//	go run ./bench/tsdbload -series 10000 -interval 15s -duration 5m -backfill 3h
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	collectorsvc "github.com/estatehq/estate/collector/service"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tsdbload:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("tsdbload", flag.ContinueOnError)
	series := fs.Int("series", 10000, "active series")
	interval := fs.Duration("interval", 15*time.Second, "time between two samples of a series")
	duration := fs.Duration("duration", 5*time.Minute, "how long to append in real time")
	backfill := fs.Duration("backfill", 0, "history to append first, as fast as possible")
	dir := fs.String("dir", "", "collector data folder; a temporary one when empty")
	var cfg collectorsvc.Config
	cfg.RegisterFlags(fs)
	if err := fs.Parse(append([]string{
		"--collector.listen-addr", "127.0.0.1:0",
		"--collector.otlp.grpc-listen-addr", "127.0.0.1:0",
		"--collector.otlp.http-listen-addr", "127.0.0.1:0",
	}, args...)); err != nil {
		return err
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "tsdbload")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	svc, err := collectorsvc.New(ctx, collectorsvc.Options{
		Config: cfg, Dir: *dir,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	if err := svc.Start(ctx); err != nil {
		return err
	}
	defer func() { _ = svc.Shutdown(context.Background()) }()

	l := &load{app: svc.TSDB().Appendable(), series: seriesLabels(*series), refs: make([]storage.SeriesRef, *series)}
	fmt.Printf("series=%d interval=%s max_series=%d go=%s gomaxprocs=%d\n", *series, *interval, cfg.Collector.TSDB.MaxSeries, runtime.Version(), runtime.GOMAXPROCS(0))
	fmt.Println("phase     elapsed  samples     head_series  head_chunks  blocks  heap_inuse_mib  rss_mib  rss_anon_mib  rss_file_mib  hwm_mib  query_ms")
	start := time.Now()
	report := func(phase string) {
		m := scrape(ctx, svc.URL(), "prometheus_tsdb_head_chunks", "prometheus_tsdb_blocks_loaded")
		fmt.Printf("%-8s  %7s  %10d  %11d  %11.0f  %6.0f  %14.1f  %7.1f  %12.1f  %12.1f  %7.1f  %8.1f\n",
			phase, time.Since(start).Round(time.Second), l.samples, svc.TSDB().HeadSeries(),
			m["prometheus_tsdb_head_chunks"], m["prometheus_tsdb_blocks_loaded"], heapMiB(),
			status("VmRSS"), status("RssAnon"), status("RssFile"), status("VmHWM"), dashboard(ctx, svc.URL()))
	}
	if *backfill > 0 {
		rounds := int(*backfill / *interval)
		from := time.Now().Add(-*backfill)
		for i := range rounds {
			if err := l.round(ctx, from.Add(time.Duration(i)**interval)); err != nil {
				return err
			}
			if (i+1)%(rounds/6+1) == 0 {
				report("backfill")
			}
		}
		report("backfill")
	}
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	deadline := time.After(*duration)
	for {
		if err := l.round(ctx, time.Now()); err != nil {
			return err
		}
		report("realtime")
		select {
		case <-ctx.Done():
			return nil
		case <-deadline:
			return nil
		case <-tick.C:
		}
	}
}

// load appends one sample to every series per round, with the references
// of the previous round as a scrape loop keeps them.
type load struct {
	app     storage.Appendable
	series  []labels.Labels
	refs    []storage.SeriesRef
	rounds  int
	samples int
}

func (l *load) round(ctx context.Context, at time.Time) error {
	app := l.app.Appender(ctx)
	for i, ls := range l.series {
		// A counter that grows by a few requests a round.
		v := float64(l.rounds * (1 + i%7))
		ref, err := app.Append(l.refs[i], ls, at.UnixMilli(), v)
		if err != nil {
			return errors.Join(fmt.Errorf("appending %s: %w", ls, err), app.Rollback())
		}
		l.refs[i] = ref
	}
	if err := app.Commit(); err != nil {
		return err
	}
	l.rounds++
	l.samples += len(l.series)
	return nil
}

// seriesLabels are n RED-like series: services, routes and status classes.
func seriesLabels(n int) []labels.Labels {
	classes := []string{"2xx", "3xx", "4xx", "5xx"}
	out := make([]labels.Labels, 0, n)
	for i := range n {
		out = append(out, labels.FromStrings(
			"__name__", "estate_bench_requests_total",
			"job", "bench", "instance", "127.0.0.1:9000",
			"service", "svc-"+strconv.Itoa(i/1000),
			"route", "GET /v1/resource-"+strconv.Itoa(i/4%250),
			"status_class", classes[i%4],
		))
	}
	return out
}

// dashboard runs what a dashboard panel asks, through the Prometheus API,
// and says how long it took in milliseconds.
func dashboard(ctx context.Context, base string) float64 {
	start := time.Now()
	for _, q := range []string{
		`sum by (service) (rate(estate_bench_requests_total[1m]))`,
		`sum by (service) (rate(estate_bench_requests_total{status_class="5xx"}[5m])) / sum by (service) (rate(estate_bench_requests_total[5m]))`,
	} {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/query", strings.NewReader(url.Values{"query": {q}}.Encode()))
		if err != nil {
			return -1
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, "query:", err)
			return -1
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			fmt.Fprintln(os.Stderr, "query:", res.Status)
		}
	}
	return float64(time.Since(start).Microseconds()) / 1000
}

// scrape reads metrics without labels from the collector's /metrics.
func scrape(ctx context.Context, base string, names ...string) map[string]float64 {
	out := map[string]float64{}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return out
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return out
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(b), "\n") {
		for _, n := range names {
			if rest, ok := strings.CutPrefix(line, n+" "); ok {
				out[n], _ = strconv.ParseFloat(rest, 64)
			}
		}
	}
	return out
}

func heapMiB() float64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapInuse) / (1 << 20)
}

// status is a field of /proc/self/status in MiB (the kernel gives kB).
func status(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return -1
}

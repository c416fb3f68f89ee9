// Command otlpload is the load generator of the collector benchmark in
// docs/benchmarks.md: it posts OTLP/HTTP protobuf log batches (100 records of
// about 200 bytes) from several workers for a while, counts what the target
// acknowledged, samples the target's RSS, and can run the OTLP/HTTP sink the
// OpenTelemetry Collector exports to.
//
//	go run ./bench/otlpload -url http://127.0.0.1:4318 -pid PID -workers 8 -duration 30s
//	go run ./bench/otlpload -sink 127.0.0.1:14318
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "otlpload:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("otlpload", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:4318", "OTLP/HTTP base URL of the collector under test")
	pid := fs.Int("pid", 0, "pid of the collector under test, for its RSS")
	workers := fs.Int("workers", 8, "concurrent senders")
	duration := fs.Duration("duration", 30*time.Second, "how long to send")
	batch := fs.Int("batch", 100, "log records per request")
	size := fs.Int("record-bytes", 200, "body size of a log record")
	sink := fs.String("sink", "", "instead of sending, serve an OTLP/HTTP sink on this address and print what it receives")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *sink != "" {
		return serveSink(*sink)
	}
	bodies, err := requests(64, *batch, *size)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	var acked, refused, failed atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *workers}, Timeout: 30 * time.Second}
	var peak atomic.Int64
	stopRSS := make(chan struct{})
	rssDone := make(chan struct{})
	go func() {
		defer close(rssDone)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if r := rss(*pid, "VmRSS"); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-t.C:
			case <-stopRSS:
				return
			}
		}
	}()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range *workers {
		wg.Go(func() {
			for i := w; ctx.Err() == nil; i++ {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, *url+"/v1/logs", bytes.NewReader(bodies[i%len(bodies)]))
				req.Header.Set("Content-Type", "application/x-protobuf")
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode == http.StatusOK:
					acked.Add(int64(*batch))
				case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
					refused.Add(1)
					time.Sleep(50 * time.Millisecond)
				default:
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopRSS)
	<-rssDone
	hwm := rss(*pid, "VmHWM")
	fmt.Printf("workers=%d duration=%s acked_records=%d records_per_s=%.0f refused_requests=%d failed_requests=%d peak_rss_mib=%.1f vmhwm_mib=%.1f\n",
		*workers, elapsed.Round(time.Millisecond), acked.Load(), float64(acked.Load())/elapsed.Seconds(),
		refused.Load(), failed.Load(), float64(peak.Load())/(1<<20), float64(hwm)/(1<<20))
	return nil
}

// requests builds n distinct export requests of batch records each.
func requests(n, batch, size int) ([][]byte, error) {
	out := make([][]byte, n)
	ts := pcommon.NewTimestampFromTime(time.Now())
	for i := range out {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "bench")
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for j := range batch {
			lr := lrs.AppendEmpty()
			lr.SetTimestamp(ts)
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
			prefix := fmt.Sprintf("req %d record %d ", i, j)
			lr.Body().SetStr(prefix + strings.Repeat("x", max(0, size-len(prefix))))
		}
		b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// rss reads a field of /proc/PID/status in bytes; 0 when unknown.
func rss(pid int, field string) int64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// serveSink counts the log records posted to it and prints the count every
// second and at SIGINT.
func serveSink(addr string) error {
	var records atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/logs", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		records.Add(int64(req.Logs().LogRecordCount()))
		b, _ := plogotlp.NewExportResponse().MarshalProto()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(b)
	})
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, records.Load())
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Printf("sink_records=%d\n", records.Load())
	return nil
}

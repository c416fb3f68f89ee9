// Command bench is the load generator of the invoicing API benchmarks in
// docs/benchmarks.md. It sends requests at a fixed rate (open loop: a slow
// answer does not delay the next request, and latency is measured from when
// the request was due, so queueing is not hidden), then prints p50, p99,
// errors and the server's RSS read from /proc.
//
//	bench -serve-hello 127.0.0.1:18099             # a bare chi hello world
//	bench -url URL -data-dir DIR -pid PID -scenario get-invoice -rate 2000 -duration 20s
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/estatehq/estate/services/kit/auth"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	hello := fs.String("serve-hello", "", "serve a bare chi hello world on this address and do nothing else")
	base := fs.String("url", "", "base URL of the server under load")
	dataDir := fs.String("data-dir", "", "the server's data dir (its dev issuer signs the bench's tokens)")
	pid := fs.Int("pid", 0, "pid of the server, for its RSS")
	scenario := fs.String("scenario", "get-invoice", "get-invoice, create-invoice or hello")
	rate := fs.Int("rate", 2000, "requests per second")
	duration := fs.Duration("duration", 20*time.Second, "how long to send")
	warmup := fs.Duration("warmup", 3*time.Second, "load sent first and not measured")
	label := fs.String("label", "", "label of the result line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *hello != "" {
		return serveHello(*hello)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: time.Minute}, Timeout: 10 * time.Second}
	req, err := prepare(client, *scenario, *base, *dataDir)
	if err != nil {
		return err
	}
	if *warmup > 0 {
		load(client, req, *rate, *warmup)
	}
	res := load(client, req, *rate, *duration)
	rss, hwm := procRSS(*pid)
	if *label == "" {
		*label = *scenario
	}
	fmt.Printf("| %s | %d | %s | %s | %s | %s | %s | %s |\n", *label, *rate,
		ms(res.pct(50)), ms(res.pct(99)), ms(res.pct(99.9)), res.errorText(), rss, hwm)
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// request builds the i-th request of a scenario.
type request func(i int64) (*http.Request, error)

func prepare(client *http.Client, scenario, base, dataDir string) (request, error) {
	if scenario == "hello" {
		return func(int64) (*http.Request, error) { return http.NewRequest("GET", base+"/", nil) }, nil
	}
	iss, err := auth.OpenDevIssuer(filepath.Join(dataDir, "dev-issuer"), nil)
	if err != nil {
		return nil, err
	}
	suffix := fmt.Sprint(time.Now().UnixNano())
	a, err := register(client, base, iss, "bench-a-"+suffix)
	if err != nil {
		return nil, err
	}
	b, err := register(client, base, iss, "bench-b-"+suffix)
	if err != nil {
		return nil, err
	}
	tok, err := iss.Sign(auth.TokenRequest{Subject: "bench-a-" + suffix, BusinessID: a, TTL: 2 * time.Hour})
	if err != nil {
		return nil, err
	}
	body := []byte(fmt.Sprintf(`{"customer":%q,"currency":"eur","due_date":"2030-01-31","line_items":[{"description":"Design","quantity":3,"unit_amount":12345,"tax_rate":"20"},{"description":"Hosting","quantity":1,"unit_amount":999}]}`, b))
	post := func(i int64) (*http.Request, error) {
		r, err := http.NewRequest("POST", base+"/v1/invoices", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Idempotency-Key", fmt.Sprintf("bench-%s-%d", suffix, i))
		return r, nil
	}
	switch scenario {
	case "create-invoice":
		return post, nil
	case "get-invoice":
		r, _ := post(-1)
		resp, err := client.Do(r)
		if err != nil {
			return nil, err
		}
		var inv struct {
			ID string `json:"id"`
		}
		err = json.NewDecoder(resp.Body).Decode(&inv)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 201 {
			return nil, fmt.Errorf("creating the invoice to read: status %d: %w", resp.StatusCode, err)
		}
		return func(int64) (*http.Request, error) {
			r, err := http.NewRequest("GET", base+"/v1/invoices/"+inv.ID, nil)
			if err == nil {
				r.Header.Set("Authorization", "Bearer "+tok)
			}
			return r, err
		}, nil
	}
	return nil, fmt.Errorf("unknown scenario %q", scenario)
}

func register(client *http.Client, base string, iss *auth.DevIssuer, sub string) (string, error) {
	tok, err := iss.Sign(auth.TokenRequest{Subject: sub})
	if err != nil {
		return "", err
	}
	r, _ := http.NewRequest("POST", base+"/v1/businesses", strings.NewReader(`{"legal_name":"Bench","country":"FR","registration_number":"1","billing_email":"bench@example.com"}`))
	r.Header.Set("Authorization", "Bearer "+tok)
	r.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(r)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil || resp.StatusCode != 201 {
		return "", fmt.Errorf("registering %s: status %d: %w", sub, resp.StatusCode, err)
	}
	return b.ID, nil
}

type result struct {
	lat      []time.Duration
	sent     int64
	errors   int64
	byStatus map[int]int64 // failed requests by status; 0 is a transport error or timeout
}

func (r *result) errorText() string {
	if r.errors == 0 {
		return "0"
	}
	var parts []string
	for _, code := range slices.Sorted(maps.Keys(r.byStatus)) {
		name := fmt.Sprint(code)
		if code == 0 {
			name = "timeout/conn"
		}
		parts = append(parts, fmt.Sprintf("%s: %d", name, r.byStatus[code]))
	}
	return fmt.Sprintf("%d (%s)", r.errors, strings.Join(parts, ", "))
}

func (r *result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat))*p/100+0.5) - 1
	return r.lat[max(0, min(i, len(r.lat)-1))]
}

// load sends requests at rate for d and waits for the answers.
func load(client *http.Client, build request, rate int, d time.Duration) *result {
	interval := time.Second / time.Duration(rate)
	n := int64(d / interval)
	res := &result{lat: make([]time.Duration, 0, n), byStatus: map[int]int64{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var seq atomic.Int64
	start := time.Now()
	for i := int64(0); i < n; i++ {
		due := start.Add(time.Duration(i) * interval)
		if w := time.Until(due); w > 0 {
			time.Sleep(w)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			status := send(client, build, seq.Add(1))
			lat := time.Since(due)
			mu.Lock()
			res.sent++
			if status == 0 || status >= 300 {
				res.errors++
				res.byStatus[status]++
			}
			res.lat = append(res.lat, lat)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(res.lat)
	return res
}

// send returns the status, or 0 when no answer came.
func send(client *http.Client, build request, i int64) int {
	r, err := build(i)
	if err != nil {
		return 0
	}
	resp, err := client.Do(r)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// procRSS reads the current and peak resident set of pid.
func procRSS(pid int) (string, string) {
	if pid == 0 {
		return "-", "-"
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?", "?"
	}
	var rss, hwm string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "VmRSS:" {
			rss = kbToMiB(f[1])
		}
		if len(f) >= 2 && f[0] == "VmHWM:" {
			hwm = kbToMiB(f[1])
		}
	}
	return rss, hwm
}

func kbToMiB(s string) string {
	var kb float64
	_, _ = fmt.Sscan(s, &kb)
	return fmt.Sprintf("%.1f MiB", kb/1024)
}

func serveHello(addr string) error {
	r := chi.NewRouter()
	r.Get("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("hello\n"))
	})
	srv := &http.Server{Addr: addr, Handler: r, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

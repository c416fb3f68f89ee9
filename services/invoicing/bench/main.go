// Command bench runs the service benchmarks of docs/benchmarks.md: it sets
// up each scenario's data through the APIs and sends its requests with
// internal/loadgen, the engine of `estate loadgen`, at a fixed rate (open
// loop: a slow answer does not delay the next request, and latency is
// measured from when the request was due, so queueing is not hidden), then
// prints p50, p99, errors and the server's memory, sampled from /proc while
// the load runs: its anonymous memory (RssAnon: heap, stacks, SQLite's
// caches) and its file pages (RssFile: the binary's pages it has touched)
// apart.
//
//	bench -serve-hello 127.0.0.1:18099             # a bare chi hello world
//	bench -url URL -data-dir DIR -pid PID -scenario get-invoice -rate 2000 -duration 20s
//	bench -url URL -data-dir DIR -pid PID -scenario create-drawdown -credit-url URL -credit-db DB ...
//	bench -pid PID -memory                          # the server's memory now, one line
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/loadgen"
	"github.com/estatehq/estate/internal/sqldb"
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
	base := fs.String("url", "", "base URL of the invoicing API (or of the server under load, for hello)")
	creditURL := fs.String("credit-url", "", "base URL of the credit API, for create-drawdown")
	creditDB := fs.String("credit-db", "", "the credit database, for create-drawdown: a PostgreSQL DSN or a SQLite file")
	dataDir := fs.String("data-dir", "", "the servers' data dir (its dev issuer signs the bench's tokens)")
	pid := fs.Int("pid", 0, "pid of the server under load, for its memory")
	memory := fs.Bool("memory", false, "print the memory of -pid now and do nothing else")
	scenario := fs.String("scenario", "get-invoice", "get-invoice, create-invoice, create-payment, create-drawdown or hello")
	rate := fs.Int("rate", 2000, "requests per second")
	duration := fs.Duration("duration", 20*time.Second, "how long to send")
	warmup := fs.Duration("warmup", 3*time.Second, "load sent first and not measured")
	label := fs.String("label", "", "label of the result line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *hello != "":
		return serveHello(*hello)
	case *memory:
		m, err := loadgen.ReadMemory(*pid)
		if err != nil {
			return err
		}
		fmt.Printf("RssAnon %s, RssFile %s, RSS %s\n", mib(m.Anon), mib(m.File), mib(m.RSS))
		return nil
	}
	if *base != "" {
		if err := loopbackURL(*base); err != nil {
			return err
		}
	}
	if *creditURL != "" {
		if err := loopbackURL(*creditURL); err != nil {
			return err
		}
	}
	client := loadgen.NewClient(512, 10*time.Second)
	// Enough invoices to draw on, one drawdown each: every request of the
	// warm-up and the run, and some to spare.
	requests := int(float64(*rate)*(warmup.Seconds()+duration.Seconds())*1.05) + 100
	p := &preparer{client: client, base: *base, creditURL: *creditURL, creditDB: *creditDB, dataDir: *dataDir}
	req, err := p.prepare(*scenario, requests)
	if err != nil {
		return err
	}
	// One generator for the warm-up and the run: the requests are numbered
	// across both, so each POST has a key of its own, never a replay of
	// the warm-up's. The memory's peaks are the run's, sampled every 100 ms.
	// In flight at most what the client's timeout lets be: the bound
	// never drops a request before the timeout would fail it.
	g, err := loadgen.New(loadgen.Options{Routes: []loadgen.Route{{Name: *scenario, Build: req}},
		Rate: *rate, MaxInFlight: *rate * 10, Client: client, PID: *pid, SampleEvery: 100 * time.Millisecond})
	if err != nil {
		return err
	}
	ctx := context.Background()
	if *warmup > 0 {
		if _, err := g.Run(ctx, *warmup); err != nil {
			return err
		}
	}
	res, err := g.Run(ctx, *duration)
	if err != nil {
		return err
	}
	if *label == "" {
		*label = *scenario
	}
	peak := loadgen.Peak(res.Memory)
	fmt.Printf("| %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", *label, *rate,
		ms(res.Percentile(50)), ms(res.Percentile(99)), ms(res.Percentile(99.9)), res.ErrorText(), mib(peak.Anon), mib(peak.File), mib(peak.RSS))
	return nil
}

// loopbackURL refuses a URL whose host is not on this machine: the bench
// sends load to loopback only.
func loopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("url %q: must be an http URL with a host", raw)
	}
	return loadgen.CheckLoopback(u.Hostname())
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// preparer sets up what a scenario needs through the APIs: two businesses,
// and the invoices to read, pay or draw against.
type preparer struct {
	client                   *http.Client
	base, creditURL, dataDir string
	creditDB                 string
	iss                      *auth.DevIssuer
	token                    string // the issuer's
	suffix                   string
}

func (p *preparer) prepare(scenario string, requests int) (loadgen.Build, error) {
	if scenario == "hello" {
		return func(int64) (*http.Request, error) { return http.NewRequest("GET", p.base+"/", nil) }, nil
	}
	var err error
	if p.iss, err = auth.OpenDevIssuer(filepath.Join(p.dataDir, "dev-issuer"), nil); err != nil {
		return nil, err
	}
	p.suffix = fmt.Sprint(time.Now().UnixNano())
	a, err := p.register("bench-a-" + p.suffix)
	if err != nil {
		return nil, err
	}
	b, err := p.register("bench-b-" + p.suffix)
	if err != nil {
		return nil, err
	}
	if p.token, err = p.iss.Sign(auth.TokenRequest{Subject: "bench-a-" + p.suffix, BusinessID: a, TTL: 2 * time.Hour}); err != nil {
		return nil, err
	}
	// Two lines, as a real invoice has.
	create := []byte(fmt.Sprintf(`{"customer":%q,"currency":"eur","due_date":"2030-01-31","line_items":[{"description":"Design","quantity":3,"unit_amount":12345,"tax_rate":"20"},{"description":"Hosting","quantity":1,"unit_amount":999}]}`, b))
	switch scenario {
	case "create-invoice":
		return p.post(func(int64) string { return p.base + "/v1/invoices" }, func(int64) []byte { return create }), nil
	case "get-invoice":
		ids, err := p.invoices(b, 1, 1000, false)
		if err != nil {
			return nil, err
		}
		return func(int64) (*http.Request, error) {
			r, err := http.NewRequest("GET", p.base+"/v1/invoices/"+ids[0], nil)
			if err == nil {
				r.Header.Set("Authorization", "Bearer "+p.token)
			}
			return r, err
		}, nil
	case "create-payment":
		// Payments spread over invoices large enough never to be paid off:
		// payments on one invoice are serialized on its row.
		ids, err := p.invoices(b, 64, 999_999_999_999, true)
		if err != nil {
			return nil, err
		}
		pay := []byte(`{"amount":1,"method":"bank_transfer","reference":"bench"}`)
		return p.post(func(i int64) string { return p.base + "/v1/invoices/" + ids[i%int64(len(ids))] + "/payments" },
			func(int64) []byte { return pay }), nil
	case "create-drawdown":
		ids, err := p.invoices(b, requests, 10_000, true)
		if err != nil {
			return nil, err
		}
		if err := p.creditLine(a); err != nil {
			return nil, err
		}
		var next atomic.Int64
		return p.post(func(int64) string { return p.creditURL + "/v1/credit/drawdowns" }, func(int64) []byte {
			n := next.Add(1) - 1
			return []byte(fmt.Sprintf(`{"invoice_id":%q,"amount":100}`, ids[n%int64(len(ids))]))
		}), nil
	}
	return nil, fmt.Errorf("unknown scenario %q", scenario)
}

// post returns the requests of a POST with a fresh Idempotency-Key each.
func (p *preparer) post(url func(i int64) string, body func(i int64) []byte) loadgen.Build {
	return func(i int64) (*http.Request, error) {
		r, err := http.NewRequest("POST", url(i), bytes.NewReader(body(i)))
		if err != nil {
			return nil, err
		}
		r.Header.Set("Authorization", "Bearer "+p.token)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Idempotency-Key", fmt.Sprintf("bench-%s-%d", p.suffix, i))
		return r, nil
	}
}

// call sends a request of the setup and decodes its answer.
func (p *preparer) call(method, url, token, body string, want int, out any) error {
	r, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	r.Header.Set("Authorization", "Bearer "+token)
	r.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d: %s", method, url, resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}

func (p *preparer) register(sub string) (string, error) {
	tok, err := p.iss.Sign(auth.TokenRequest{Subject: sub})
	if err != nil {
		return "", err
	}
	var b struct {
		ID string `json:"id"`
	}
	err = p.call("POST", p.base+"/v1/businesses", tok, `{"legal_name":"Bench","country":"FR","registration_number":"1","billing_email":"bench@example.com"}`, 201, &b)
	return b.ID, err
}

// invoices creates n invoices of amount to customer, sent (open) when
// send, 32 at a time.
func (p *preparer) invoices(customer string, n int, amount int64, send bool) ([]string, error) {
	ids := make([]string, n)
	var next atomic.Int64
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range min(32, n) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				var inv struct {
					ID string `json:"id"`
				}
				body := fmt.Sprintf(`{"customer":%q,"currency":"eur","due_date":"2030-01-31","line_items":[{"description":"Work","quantity":1,"unit_amount":%d}]}`, customer, amount)
				err := p.call("POST", p.base+"/v1/invoices", p.token, body, 201, &inv)
				if err == nil && send {
					err = p.call("POST", p.base+"/v1/invoices/"+inv.ID+"/send", p.token, "", 200, &struct{}{})
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				ids[i] = inv.ID
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("creating the invoices of the scenario: %w", err)
	}
	return ids, nil
}

// creditLine gives the business a credit line large enough for the run,
// written straight into the credit database: a decision needs a history
// of paid invoices that the bench has no business faking through the API.
func (p *preparer) creditLine(business string) error {
	ctx := context.Background()
	var db *sqldb.DB
	var err error
	if strings.HasPrefix(p.creditDB, "postgres") {
		db, err = sqldb.OpenPostgres(ctx, p.creditDB, sqldb.PostgresOptions{MaxConns: 1})
	} else {
		db, err = sqldb.OpenSQLite(ctx, p.creditDB, sqldb.SQLiteOptions{Synchronous: sqldb.SyncNormal, Readers: 1})
	}
	if err != nil {
		return fmt.Errorf("opening the credit database: %w", err)
	}
	defer db.Close()
	_, err = db.W.ExecContext(ctx, db.Dialect.Rebind(`INSERT INTO lines (business_id, currency, credit_limit, drawn, updated_at) VALUES (?, 'eur', ?, 0, ?)`),
		business, int64(999_999_999_999), db.Dialect.Time(time.Now()))
	if err != nil {
		return fmt.Errorf("writing the credit line: %w", err)
	}
	return nil
}

func mib(kb int64) string {
	if kb == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
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

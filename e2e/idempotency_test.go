package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/jaegertest"
	"github.com/estatehq/estate/internal/pgtest"
	"github.com/estatehq/estate/internal/sqldb"
)

// The crash test's bounds: how many times a service is killed, and at most
// how many keyed requests the clients send.
const (
	crashKills     = 8
	crashMaxOps    = 3000
	crashWorkers   = 6
	crashDrawPool  = 40 // open invoices to draw against, one drawdown each
	crashPayPool   = 8  // open invoices that take the payments
	crashPayAmount = 100
)

// TestEveryKeyHasOneEffectAcrossCrashes runs `estate invoicing` and `estate
// credit` as child processes and SIGKILLs one or the other at random
// moments, restarting it each time, while clients create invoices, pay
// them and draw credit against them, each request with an Idempotency-Key
// and retried with it until answered. Afterwards every key has exactly one
// effect in the databases (one invoice, one payment, one drawdown), and it
// is the one its answer names; on SQLite and on PostgreSQL.
func TestEveryKeyHasOneEffectAcrossCrashes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills child processes")
	}
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { crashServices(t, backend) })
	}
}

// services are the two targets under test, run from one data dir (they
// trust the same development issuer).
type services struct {
	invoicing, credit *collectorProc
	dataDir           string
	invDSN, creditDSN string // empty on SQLite
}

func startServices(t *testing.T, backend string) *services {
	var invDSN, creditDSN string
	if backend == "postgres" {
		invDSN, creditDSN = pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	}
	return runServices(t, invDSN, creditDSN)
}

// runServices starts invoicing and credit on the given databases (SQLite
// under the data dir when empty); extra flags go to both.
func runServices(t *testing.T, invDSN, creditDSN string, extra ...string) *services {
	bin := estateBinary(t)
	ports := jaegertest.FreePorts(t, 2)
	dir := t.TempDir()
	s := &services{dataDir: filepath.Join(dir, "data"), invDSN: invDSN, creditDSN: creditDSN}
	proc := func(target string, port int, own ...string) *collectorProc {
		p := &collectorProc{
			name: target, bin: bin, dataDir: s.dataDir,
			API:     fmt.Sprintf("http://127.0.0.1:%d", port),
			logPath: filepath.Join(dir, target+".log"),
			args: slices.Concat([]string{target, "--data-dir", s.dataDir, "--auth.dev",
				"--" + target + ".listen-addr", fmt.Sprintf("127.0.0.1:%d", port), "--" + target + ".rate-limit", "0",
				"--log.format", "json", "--log.level", "warn"}, extra, own),
		}
		p.ready = readyz(p.API)
		p.cleanup(t)
		return p
	}
	var invExtra, creditExtra []string
	if s.invDSN != "" {
		invExtra = postgresFlags("invoicing", s.invDSN)
	}
	if s.creditDSN != "" {
		creditExtra = postgresFlags("credit", s.creditDSN)
	}
	s.invoicing = proc("invoicing", ports[0], invExtra...)
	s.credit = proc("credit", ports[1], append(creditExtra, "--credit.invoicing-url", fmt.Sprintf("http://127.0.0.1:%d", ports[0]))...)
	ctx := context.Background()
	require.NoError(t, s.invoicing.start(ctx))
	require.NoError(t, s.credit.start(ctx))
	return s
}

// register registers the business of subject sub at invoicing, and
// returns its id and a token of sub for it, signed by the services'
// development issuer.
func (s *services) register(ctx context.Context, t *testing.T, c *crashClient, sub string) (id, token string) {
	t.Helper()
	iss, err := auth.OpenDevIssuer(filepath.Join(s.dataDir, "dev-issuer"), nil)
	require.NoError(t, err)
	sign := func(business string) string {
		tok, err := iss.Sign(auth.TokenRequest{Subject: sub, BusinessID: business, TTL: time.Hour})
		require.NoError(t, err)
		return tok
	}
	a := c.created(ctx, t, s.invoicing.API+"/v1/businesses", sign(""), "register-"+sub, map[string]any{
		"legal_name": sub, "country": "FR", "registration_number": "RCS " + sub, "billing_email": sub + "@example.com"})
	return a.id(), sign(a.id())
}

// open opens a service's database, for the test to read.
func (s *services) open(t *testing.T, target string) *sqldb.DB {
	t.Helper()
	ctx := context.Background()
	var db *sqldb.DB
	var err error
	switch dsn := map[string]string{"invoicing": s.invDSN, "credit": s.creditDSN}[target]; dsn {
	case "":
		db, err = sqldb.OpenSQLite(ctx, filepath.Join(s.dataDir, target+".db"), sqldb.SQLiteOptions{Synchronous: sqldb.SyncNormal})
	default:
		db, err = sqldb.OpenPostgres(ctx, dsn, sqldb.PostgresOptions{MaxConns: 2})
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// crashClient sends keyed requests and retries each, with its key, until
// the service answers it.
type crashClient struct {
	http       *http.Client
	retries    atomic.Int64
	inProgress atomic.Int64
}

// answer is a service's final answer to a key.
type crashAnswer struct {
	status int
	body   map[string]any
}

func (a crashAnswer) id() string { s, _ := a.body["id"].(string); return s }

// call sends one request until it gets an answer that is not a failure to
// retry: no connection, a 5xx (the service is starting, or its dependency
// is down), or a 409 saying the key is in progress.
func (c *crashClient) call(ctx context.Context, url, token, key string, body any) (crashAnswer, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return crashAnswer{}, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return crashAnswer{}, fmt.Errorf("POST %s with key %s: no answer before the deadline", url, key)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(raw))
		if err != nil {
			return crashAnswer{}, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		res, err := c.http.Do(req)
		if err == nil {
			b, rerr := io.ReadAll(res.Body)
			_ = res.Body.Close()
			inProgress := res.StatusCode == http.StatusConflict && strings.Contains(string(b), "still in progress")
			if inProgress {
				c.inProgress.Add(1)
			}
			if rerr == nil && res.StatusCode < 500 && !inProgress {
				a := crashAnswer{status: res.StatusCode}
				if err := json.Unmarshal(b, &a.body); err != nil {
					return a, fmt.Errorf("POST %s: %d %s", url, res.StatusCode, b)
				}
				return a, nil
			}
		}
		c.retries.Add(1)
		time.Sleep(20 * time.Millisecond) // pacing of retries, not correctness
	}
}

// created calls and requires 201.
func (c *crashClient) created(ctx context.Context, t *testing.T, url, token, key string, body any) crashAnswer {
	t.Helper()
	a, err := c.call(ctx, url, token, key, body)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, a.status, "%s: %v", url, a.body)
	return a
}

func crashInvoice(customer, memo string, amount int64) map[string]any {
	return map[string]any{"customer": customer, "currency": "eur", "due_date": "2031-01-31", "memo": memo,
		"line_items": []map[string]any{{"description": "Work", "quantity": 1, "unit_amount": amount}}}
}

func crashServices(t *testing.T, backend string) {
	started := time.Now()
	s := startServices(t, backend)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := &crashClient{http: &http.Client{Timeout: 5 * time.Second}}
	inv := s.invoicing.API
	alice, aliceTok := s.register(ctx, t, c, "alice")
	bob, _ := s.register(ctx, t, c, "bob")
	open := func(key string, amount int64) (string, string) {
		a := c.created(ctx, t, inv+"/v1/invoices", aliceTok, key, crashInvoice(bob, key, amount))
		sent, err := c.call(ctx, inv+"/v1/invoices/"+a.id()+"/send", aliceTok, key+"-send", struct{}{})
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, sent.status, "%v", sent.body)
		cur, _ := sent.body["currency"].(string)
		return a.id(), cur
	}
	var payPool, drawPool []string
	var currency string
	for i := range crashPayPool {
		id, _ := open(fmt.Sprintf("setup-pay-%d", i), 100_000_000)
		payPool = append(payPool, id)
	}
	for i := range crashDrawPool {
		var id string
		id, currency = open(fmt.Sprintf("setup-draw-%d", i), 10_000)
		drawPool = append(drawPool, id)
	}
	// The credit line is written straight into credit's database: this test
	// is about keys, not about what the credit policy approves.
	creditDB := s.open(t, "credit")
	grantLine(ctx, t, creditDB, alice, currency, 1_000_000_000)

	// The workload: each op is one key, retried until answered.
	type op struct {
		kind, key, invoice string
		answer             crashAnswer
	}
	var (
		mu    sync.Mutex
		ops   []*op
		next  atomic.Int64
		draws atomic.Int64
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	for w := range crashWorkers {
		wg.Go(func() {
			for !stop.Load() {
				n := next.Add(1)
				if n > crashMaxOps {
					return
				}
				o := &op{key: fmt.Sprintf("crash-%s-%d", backend, n)}
				var url, base string
				var body any
				base = inv
				switch n % 3 {
				case 0:
					if d := draws.Add(1); d <= crashDrawPool {
						o.kind, o.invoice, base = "draw", drawPool[d-1], s.credit.API
						url, body = "/v1/credit/drawdowns", map[string]any{"invoice_id": o.invoice, "amount": 100}
						break
					}
					fallthrough
				case 1:
					o.kind, o.invoice = "pay", payPool[rand.IntN(len(payPool))]
					url, body = "/v1/invoices/"+o.invoice+"/payments", map[string]any{"amount": crashPayAmount, "method": "bank_transfer", "reference": o.key}
				default:
					o.kind = "create"
					url, body = "/v1/invoices", crashInvoice(bob, o.key, 500)
				}
				a, err := c.call(ctx, base+url, aliceTok, o.key, body)
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				o.answer = a
				mu.Lock()
				ops = append(ops, o)
				mu.Unlock()
				time.Sleep(5 * time.Millisecond) // pacing: the ops span every kill
			}
		})
	}

	for round := range crashKills {
		time.Sleep(time.Duration(100+rand.IntN(400)) * time.Millisecond)
		victim := s.invoicing
		if rand.IntN(2) == 1 {
			victim = s.credit
		}
		victim.kill()
		require.NoError(t, victim.start(ctx), "round %d", round+1)
		t.Logf("round %d: killed and restarted %s; %d keys answered, %d retries", round+1, victim.name, next.Load(), c.retries.Load())
	}
	stop.Store(true)
	wg.Wait()
	s.invoicing.stop()
	s.credit.stop()
	require.False(t, t.Failed())

	counts := map[string]int{}
	for _, o := range ops {
		counts[o.kind]++
		require.Equal(t, http.StatusCreated, o.answer.status, "%s %s: %v", o.kind, o.key, o.answer.body)
	}
	t.Logf("%d keys (%v), %d retries, %d answers 'in progress', in %v", len(ops), counts, c.retries.Load(), c.inProgress.Load(), time.Since(started).Round(time.Millisecond))
	require.Positive(t, counts["draw"])
	require.Zero(t, c.inProgress.Load(), "no key is left in progress by a crash")

	invDB := s.open(t, "invoicing")
	byMemo := rowsByKey(t, invDB, `SELECT memo, id FROM invoices WHERE memo LIKE 'crash-%'`)
	byRef := rowsByKey(t, invDB, `SELECT reference, id FROM payments WHERE reference LIKE 'crash-%'`)
	byInvoice := rowsByKey(t, creditDB, `SELECT invoice_id, id FROM drawdowns`)
	for _, o := range ops {
		var got []string
		switch o.kind {
		case "create":
			got = byMemo[o.key]
		case "pay":
			got = byRef[o.key]
		case "draw":
			got = byInvoice[o.invoice]
		}
		require.Equal(t, []string{o.answer.id()}, got, "%s %s: one effect, the one answered", o.kind, o.key)
	}
	require.Len(t, byMemo, counts["create"], "no invoice without its key")
	require.Len(t, byRef, counts["pay"], "no payment without its key")
	require.Len(t, byInvoice, counts["draw"], "no drawdown without its key")

	// The sums agree with the effects.
	for _, id := range payPool {
		var paid, sum int64
		require.NoError(t, invDB.R.QueryRowContext(ctx, invDB.Dialect.Rebind(`SELECT amount_paid, (SELECT COALESCE(SUM(amount), 0) FROM payments WHERE invoice_id = ?) FROM invoices WHERE id = ?`), id, id).Scan(&paid, &sum))
		require.Equal(t, sum, paid, "invoice %s", id)
	}
	var drawn, drawnSum int64
	require.NoError(t, creditDB.R.QueryRowContext(ctx, creditDB.Dialect.Rebind(`SELECT drawn, (SELECT COALESCE(SUM(amount), 0) FROM drawdowns WHERE business_id = ?) FROM lines WHERE business_id = ?`), alice, alice).Scan(&drawn, &drawnSum))
	require.Equal(t, int64(counts["draw"]*100), drawn)
	require.Equal(t, drawnSum, drawn)
}

// grantLine writes a credit line of business straight into credit's
// database: the tests are not about what the credit policy approves.
func grantLine(ctx context.Context, t *testing.T, db *sqldb.DB, business, currency string, limit int64) {
	t.Helper()
	_, err := db.W.ExecContext(ctx, db.Dialect.Rebind(`INSERT INTO lines (business_id, currency, credit_limit, drawn, updated_at) VALUES (?, ?, ?, 0, ?)`),
		business, currency, limit, db.Dialect.Time(time.Now()))
	require.NoError(t, err)
}

// rowsByKey reads (key, id) rows into the ids of each key.
func rowsByKey(t *testing.T, db *sqldb.DB, q string) map[string][]string {
	t.Helper()
	rows, err := db.R.Query(q)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var k, id string
		require.NoError(t, rows.Scan(&k, &id))
		out[k] = append(out[k], id)
	}
	require.NoError(t, rows.Err())
	return out
}

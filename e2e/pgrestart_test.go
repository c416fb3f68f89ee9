package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/pgtest"
)

// The PostgreSQL restart test's bounds.
const (
	pgLoadRate      = 60 // requests a second, open loop, across both services
	pgWarmup        = 3 * time.Second
	pgOutage        = 4 * time.Second  // PostgreSQL down
	pgRecoverBound  = 10 * time.Second // after PostgreSQL is back, every request succeeds
	pgAfter         = 15 * time.Second // load after PostgreSQL is back
	pgRequestTimout = 5 * time.Second  // the client's: a request that takes longer hangs
)

// postgresFlags are the flags that put target's store on the database at
// dsn. (When `estate up --postgres URL` runs every store on one server,
// this is the one place to change.)
func postgresFlags(target, dsn string) []string {
	return []string{"--" + target + ".postgres-dsn", dsn}
}

// pgAnswer is one request of the load and what became of it.
type pgAnswer struct {
	kind       string
	start, end time.Time
	status     int // 0: no answer (connection error or timeout)
	err        error
	retryAfter string
	ctype      string
	body       string
}

// TestServicesRecoverFromPostgresRestart runs `estate invoicing` and
// `estate credit` on a PostgreSQL cluster of the test's own and sends them
// steady open-loop traffic while that cluster stops (fast shutdown: open
// sessions get 57P01, new connections are refused) and starts again. The
// services are never restarted: requests fail only while the database is
// down, each as 503 with Retry-After and a problem+json body (never 500,
// never a hang past the request timeout), /readyz says unready during the
// outage, and within pgRecoverBound of the database's return every request
// succeeds again.
func TestServicesRecoverFromPostgresRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and stops a PostgreSQL cluster")
	}
	estateBinary(t) // before the clock starts
	pg := pgtest.StartServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dsn := func(db string) string {
		c, err := pgx.Connect(ctx, pg.DSN)
		require.NoError(t, err)
		defer c.Close(ctx)
		_, err = c.Exec(ctx, "CREATE DATABASE "+db)
		require.NoError(t, err)
		return strings.Replace(pg.DSN, "/postgres?", "/"+db+"?", 1)
	}
	s := runServices(t, dsn("invoicing"), dsn("credit"))

	setup := &crashClient{http: &http.Client{Timeout: pgRequestTimout}}
	alice, aliceTok := s.register(ctx, t, setup, "alice")
	bob, _ := s.register(ctx, t, setup, "bob")
	invoice := setup.created(ctx, t, s.invoicing.API+"/v1/invoices", aliceTok, "setup-invoice", crashInvoice(bob, "setup", 1000)).id()
	creditDB := s.open(t, "credit")
	grantLine(ctx, t, creditDB, alice, "EUR", 1_000_000)
	require.NoError(t, creditDB.Close()) // its pool would see the restart too

	// The load: open loop, one request every 1/pgLoadRate s whatever the
	// answers, in turn a keyed invoice creation, an invoice read and a
	// credit line read.
	client := &http.Client{Timeout: pgRequestTimout}
	do := func(kind string, n int) pgAnswer {
		var req *http.Request
		switch kind {
		case "create":
			b, _ := json.Marshal(crashInvoice(bob, fmt.Sprintf("load-%d", n), 500))
			req, _ = http.NewRequestWithContext(ctx, http.MethodPost, s.invoicing.API+"/v1/invoices", bytes.NewReader(b))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", fmt.Sprintf("load-%d", n))
		case "read":
			req, _ = http.NewRequestWithContext(ctx, http.MethodGet, s.invoicing.API+"/v1/invoices/"+invoice, nil)
		default:
			req, _ = http.NewRequestWithContext(ctx, http.MethodGet, s.credit.API+"/v1/credit/line", nil)
		}
		req.Header.Set("Authorization", "Bearer "+aliceTok)
		a := pgAnswer{kind: kind, start: time.Now()}
		res, err := client.Do(req)
		if err != nil {
			a.end, a.err = time.Now(), err
			return a
		}
		b, err := io.ReadAll(res.Body)
		_ = res.Body.Close()
		a.end, a.err = time.Now(), err
		a.status, a.retryAfter, a.ctype, a.body = res.StatusCode, res.Header.Get("Retry-After"), res.Header.Get("Content-Type"), string(b)
		return a
	}
	var (
		mu      sync.Mutex
		answers []pgAnswer
		wg      sync.WaitGroup
	)
	loadCtx, stopLoad := context.WithCancel(ctx)
	go func() {
		tick := time.NewTicker(time.Second / pgLoadRate)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-loadCtx.Done():
				return
			case <-tick.C:
			}
			wg.Go(func() {
				a := do([]string{"create", "read", "line"}[n%3], n)
				mu.Lock()
				answers = append(answers, a)
				mu.Unlock()
			})
		}
	}()
	// /readyz of both services, sampled through the run.
	type readySample struct {
		at          time.Time
		inv, credit bool
	}
	var samples []readySample
	var sampling sync.WaitGroup
	sampling.Go(func() {
		for loadCtx.Err() == nil {
			samples = append(samples, readySample{at: time.Now(), inv: s.invoicing.ready() == nil, credit: s.credit.ready() == nil})
			time.Sleep(100 * time.Millisecond)
		}
	})

	time.Sleep(pgWarmup)
	down := time.Now()
	require.NoError(t, pg.Stop())
	time.Sleep(pgOutage)
	require.NoError(t, pg.Start())
	up := time.Now()
	t.Logf("PostgreSQL down from %s for %v", down.Format(time.TimeOnly), up.Sub(down).Round(time.Millisecond))
	time.Sleep(pgAfter)
	stopLoad()
	wg.Wait()
	sampling.Wait()

	// Every error falls in the outage: answered after the stop began, and
	// sent before the bound after the database's return.
	recovered := up.Add(pgRecoverBound)
	var ok, failed, lastErr int
	var lastFailure time.Time
	for _, a := range answers {
		if a.err == nil && a.status < 300 {
			ok++
			continue
		}
		failed++
		what := fmt.Sprintf("%s sent at %s (%v after the stop), answered after %v: status %d, err %v, Retry-After %q, %s %s",
			a.kind, a.start.Format("15:04:05.000"), a.start.Sub(down).Round(time.Millisecond), a.end.Sub(a.start).Round(time.Millisecond),
			a.status, a.err, a.retryAfter, a.ctype, a.body)
		require.NoError(t, a.err, "no request hangs or loses its connection: %s", what)
		require.Equal(t, http.StatusServiceUnavailable, a.status, "errors are 503: %s", what)
		require.NotEmpty(t, a.retryAfter, "a 503 has Retry-After: %s", what)
		require.Equal(t, "application/problem+json", a.ctype, "a 503 is a problem: %s", what)
		var p struct {
			Status int `json:"status"`
		}
		require.NoError(t, json.Unmarshal([]byte(a.body), &p), what)
		require.Equal(t, http.StatusServiceUnavailable, p.Status, what)
		require.False(t, a.end.Before(down), "no error before the outage: %s", what)
		require.True(t, a.start.Before(recovered), "no error %v after PostgreSQL is back: %s", pgRecoverBound, what)
		if a.end.After(lastFailure) {
			lastFailure = a.end
		}
		lastErr = a.status
	}
	t.Logf("%d requests: %d succeeded, %d answered %d; the last failure %v after PostgreSQL was back",
		len(answers), ok, failed, lastErr, lastFailure.Sub(up).Round(time.Millisecond))
	require.Positive(t, failed, "the outage was seen by the load (else this test proves nothing)")
	require.Greater(t, ok, len(answers)/2)

	// /readyz: ready before, unready at some point of the outage, ready
	// again after it.
	var before, during, after [2]bool
	for _, sm := range samples {
		switch {
		case sm.at.Before(down):
			before = [2]bool{before[0] || !sm.inv, before[1] || !sm.credit} // any unready sample
		case sm.at.Before(up):
			during = [2]bool{during[0] || !sm.inv, during[1] || !sm.credit}
		case sm.at.After(recovered):
			after = [2]bool{after[0] || !sm.inv, after[1] || !sm.credit}
		}
	}
	require.Equal(t, [2]bool{false, false}, before, "ready before the outage (invoicing, credit)")
	require.Equal(t, [2]bool{true, true}, during, "unready during the outage (invoicing, credit)")
	require.Equal(t, [2]bool{false, false}, after, "ready again after it (invoicing, credit)")
	// And the services were never restarted.
	require.Equal(t, 1, s.invoicing.starts)
	require.Equal(t, 1, s.credit.starts)
}

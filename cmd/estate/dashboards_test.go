//go:build !servicesonly

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/chaos"
	chaoshttp "github.com/estatehq/estate/chaos/http"
	"github.com/estatehq/estate/collector/elasticsearch/esdouble"
	"github.com/estatehq/estate/dashboards"
	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/internal/promquery/promquerytest"
	"github.com/estatehq/estate/internal/testenv"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/sloreport"
)

func TestDashboardsCommand(t *testing.T) {
	dir := t.TempDir()
	out, errOut, err := runCmd(t, "dashboards", "generate", "--out", dir)
	require.NoError(t, err, errOut)
	require.Contains(t, out, "13 files written under "+dir)
	for _, f := range []string{dashboards.UIDOverview + ".json", dashboards.EstateRulesFile, dashboards.SLORulesFile, dashboards.AlertmanagerFile, dashboards.DatasourcesFile, dashboards.ProvidersFile} {
		require.FileExists(t, filepath.Join(dir, f))
	}
	out, errOut, err = runCmd(t, "dashboards", "check", "--dir", dir)
	require.NoError(t, err, errOut)
	require.Contains(t, out, "13 files under "+dir+" are up to date")

	// The checked-in files are current: CI fails otherwise.
	_, errOut, err = runCmd(t, "dashboards", "check", "--dir", "../../dashboards/generated")
	require.NoError(t, err, "run `go run ./cmd/estate dashboards generate`: %s", errOut)

	path := filepath.Join(dir, dashboards.EstateRulesFile)
	require.NoError(t, os.WriteFile(path, []byte("groups: []\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "old.json"), []byte("{}"), 0o600))
	_, errOut, err = runCmd(t, "dashboards", "check", "--dir", dir)
	require.ErrorIs(t, err, dashboards.ErrStale)
	require.ErrorContains(t, err, "go run ./cmd/estate dashboards generate")
	require.Contains(t, errOut, "rules/estate.rules.yaml differs from what is generated")
	require.Contains(t, errOut, "old.json is not generated")

	_, _, err = runCmd(t, "dashboards", "publish")
	require.ErrorContains(t, err, `unknown subcommand "publish"`)
	_, _, err = runCmd(t, "dashboards", "generate", "extra")
	require.ErrorContains(t, err, `unexpected argument "extra"`)
	_, errOut, err = runCmd(t, "dashboards", "check", "--dir", filepath.Join(dir, "none"))
	require.Error(t, err, errOut)
	require.NotErrorIs(t, err, dashboards.ErrStale)
}

// seenRule fires, for every service the collector has RED series of, an
// alert labelled with it: alerts firing, ALERTS series and incidents
// exist from the first requests, as the dashboards' alert panels and
// annotations read them.
const seenRule = `groups:
  - name: dashboards-e2e
    rules:
      - alert: ServiceSeen
        expr: count by (service) (estate_red_requests_total{service!="__overflow__"})
        labels:
          severity: ticket
`

// TestUpDashboards proves the generated dashboards and rules against real
// data: `estate up` runs with traffic that includes errors (404s, and 503s
// a chaos experiment injects), reliability events of both services, an
// Elasticsearch (the faithful double) that refuses a log record for good,
// an OTLP receiver that refuses the collector's exports (once for a while,
// then for good) and a request the memory limiter refuses, with the
// generated collector and service alerts among its rule files; a real
// Prometheus scrapes every target with all the generated rules. Every
// PromQL expression of every panel, variable, annotation and rule then
// returns data on both, with the variables substituted. A real
// Alertmanager with the generated configuration routes pages and tickets
// and, through the collector's webhook, opens and resolves incidents.
func TestUpDashboards(t *testing.T) {
	o, err := dashboards.Default()
	require.NoError(t, err)
	files, err := dashboards.Generate(o)
	require.NoError(t, err)
	files[dashboards.SLORulesFile] = shortenCountSteps(t, files[dashboards.SLORulesFile])
	exprs, err := dashboards.Expressions(files)
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, files.Write(dir))
	seen := filepath.Join(dir, "seen.rules.yaml")
	require.NoError(t, os.WriteFile(seen, []byte(seenRule), 0o600))

	es, err := esdouble.Start(esdouble.Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, es.Close()) }()
	es.SetPlan(esdouble.FailNext(1, http.StatusBadRequest))
	refusing := &refusingReceiver{transient: 1}
	receiver := httptest.NewServer(refusing)
	defer receiver.Close()
	otlpHTTP := "127.0.0.1:" + strconv.Itoa(freePort(t))

	// The services export their spans every 100 ms rather than 5 s.
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
	e := startUp(t,
		"--collector.scrape.interval=1s", "--collector.scrape.timeout=1s",
		"--collector.rules.interval=1s", "--collector.rules.files="+filepath.Join(dir, dashboards.EstateRulesFile)+","+seen,
		"--collector.otlp.http-listen-addr="+otlpHTTP, "--collector.memory.max-inflight-bytes=1048576",
		"--slo.min-events=1", "--slo.cache-ttl=10s", "--events.metrics-ttl=5s",
		"--elasticsearch-url="+es.URL(),
		"--otlp-endpoint="+receiver.URL, "--otlp-protocol=http", "--otlp-max-attempts=1",
		"--otlp-initial-backoff=10ms", "--otlp-max-backoff=10ms")
	prom := promquerytest.StartPrometheus(t, promquerytest.PrometheusOptions{Config: prometheusConfig(e, []string{
		filepath.Join(dir, dashboards.SLORulesFile), filepath.Join(dir, dashboards.EstateRulesFile), seen})})

	stopTraffic := traffic(t, e)
	defer stopTraffic()
	now := time.Now().UTC()
	for _, svc := range []string{"invoicing", "credit"} {
		e.postEvents(t, eventsOf(svc, weekEvents("dash-"+svc, now.Add(-24*time.Hour), now.Add(-time.Minute))))
	}
	refuseOneRequest(t, otlpHTTP, e.roleToken(t, auth.RoleTelemetryWrite))

	// A chaos run injects 503s into half of invoicing's lookups for three
	// seconds, and passes.
	c := chaoshttp.NewClient(e.urls["chaos"], e.as(t, auth.RoleChaosOperate))
	run, err := c.Submit(t.Context(), experiment("lookup-errors", "invoicing",
		`{http: {action: error, route: "/v1/businesses/{id}", percentage: 50, status: 503}}`, "3s"))
	require.NoError(t, err)
	d := waitVerdict(t, c, run.ID, nil)
	require.Equal(t, chaos.VerdictPassed, d.Verdict, d.Reason)

	// Each expression must return data once on each backend: a scrape of
	// the collector that times out on this loaded machine marks its
	// series stale for a moment, and that is no fault of a query.
	backends := map[string]promquery.Querier{}
	pending := map[string][]dashboards.Expression{}
	reader := e.reader(t)
	for name, url := range map[string]string{"Prometheus": prom, "the embedded API": e.urls["collector"]} {
		q, err := promquery.NewHTTP(promquery.HTTPOptions{URL: url, Transport: &auth.Transport{Token: func(context.Context) (string, error) { return reader, nil }}})
		require.NoError(t, err)
		backends[name], pending[name] = q, exprs
	}
	var problems []string
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	for len(pending["Prometheus"])+len(pending["the embedded API"]) > 0 && ctx.Err() == nil {
		problems = nil
		for name, q := range backends {
			var still []dashboards.Expression
			for _, p := range dashboards.Verify(ctx, q, pending[name], time.Now()) {
				still = append(still, p.Expression)
				problems = append(problems, "on "+name+": "+p.Error())
			}
			pending[name] = still
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	require.Empty(t, problems, "every expression returns data on Prometheus and on the embedded API; Prometheus's targets: %s", prometheusTargets(prom))
	t.Logf("%d expressions return data on both", len(exprs))
	require.Positive(t, refusing.permanent.Load(), "the OTLP receiver refused exports for good")

	t.Run("Alertmanager opens and resolves incidents", func(t *testing.T) {
		alertmanagerRoutesToIncidents(t, e)
	})
}

// prometheusConfig is a Prometheus configuration scraping every target of
// e every five seconds (the collector computes its SLO and DORA series as it is scraped) under the jobs `estate up` gives them, and evaluating
// rules every second.
// shortenCountSteps returns the SLO rules with the step of their counts
// groups (sloreport.Step, five minutes: each recorded step compares its
// counters with themselves a step before) cut to ten seconds, so that a
// test a minute long evaluates them over real data. Only the counts
// groups change; their expressions keep their shape.
func shortenCountSteps(t *testing.T, rules []byte) []byte {
	t.Helper()
	step := model.Duration(sloreport.Step).String()
	groups := strings.Split(string(rules), "\n  - name: ")
	shortened := 0
	for i, g := range groups {
		name, _, _ := strings.Cut(g, "\n")
		if i == 0 || !strings.HasSuffix(name, ":counts") {
			continue
		}
		g = strings.ReplaceAll(g, "interval: "+step+"\n", "interval: 10s\n")
		g = strings.ReplaceAll(g, "["+step+"]", "[10s]")
		groups[i] = strings.ReplaceAll(g, "offset "+step, "offset 10s")
		shortened++
	}
	require.Positive(t, shortened, "the SLO rules have counts groups")
	return []byte(strings.Join(groups, "\n  - name: "))
}

func prometheusConfig(e *estate, rules []string) string {
	var b strings.Builder
	b.WriteString("global: {scrape_interval: 5s, scrape_timeout: 5s, evaluation_interval: 1s}\nrule_files:\n")
	for _, r := range rules {
		fmt.Fprintf(&b, "  - %s\n", r)
	}
	b.WriteString("scrape_configs:\n")
	for _, job := range targetNames() {
		fmt.Fprintf(&b, "  - job_name: %s\n    static_configs: [{targets: ['%s']}]\n", job, strings.TrimPrefix(e.urls[job], "http://"))
	}
	return b.String()
}

// prometheusTargets is the health and last error of each scrape target of
// the Prometheus at base, to tell a scrape that fails from a series that
// is not there.
func prometheusTargets(base string) string {
	resp, err := http.Get(base + "/api/v1/targets")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var res struct {
		Data struct {
			ActiveTargets []struct {
				ScrapePool string `json:"scrapePool"`
				Health     string `json:"health"`
				LastError  string `json:"lastError"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, tg := range res.Data.ActiveTargets {
		fmt.Fprintf(&b, "%s: %s %s; ", tg.ScrapePool, tg.Health, tg.LastError)
	}
	for _, q := range []string{`scrape_samples_scraped`, `count by (job) ({__name__=~".+"})`, `count by (job) (estate_red_requests_total)`} {
		r, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
		if err == nil {
			body, _ := io.ReadAll(r.Body)
			r.Body.Close()
			fmt.Fprintf(&b, "\n%s: %s", q, body)
		}
	}
	return b.String()
}

// traffic sends requests to both services until stopped, at most a few
// thousand: lookups that succeed, lookups of businesses that do not exist
// (404) and credit lines.
func traffic(t *testing.T, e *estate) (stop func()) {
	t.Helper()
	tok := e.token(t, "--sub", "dash-user")
	code, body := e.do(t, http.MethodPost, e.urls["invoicing"]+"/v1/businesses", tok, map[string]string{"Idempotency-Key": "dash-1"},
		map[string]any{"legal_name": "Acme Ltd", "country": "GB", "registration_number": "01234567", "billing_email": "billing@acme.test"})
	require.Equal(t, http.StatusCreated, code, string(body))
	var business struct{ ID string }
	require.NoError(t, json.Unmarshal(body, &business))
	bizTok := e.token(t, "--sub", "dash-user", "--business", business.ID)
	urls := []string{
		e.urls["invoicing"] + "/v1/businesses/" + business.ID,
		e.urls["invoicing"] + "/v1/businesses/missing",
		e.urls["credit"] + "/v1/credit/line",
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 6000; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, urls[i%len(urls)], nil)
			req.Header.Set("Authorization", "Bearer "+bizTok)
			if resp, err := e.client.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

// eventsOf is events made the service's: its deployments, incidents and
// chaos experiments.
func eventsOf(service string, events []metrics.Event) []metrics.Event {
	out := make([]metrics.Event, 0, len(events))
	for _, ev := range events {
		switch d := ev.Data.(type) {
		case metrics.DeploymentStarted:
			d.Service = service
			ev.Data = d
		case metrics.IncidentOpened:
			d.Service = service
			ev.Data = d
		case metrics.ChaosStarted:
			d.Target = service + "/production"
			ev.Data = d
		case metrics.ChaosFinished:
			d.Target = service + "/production"
			ev.Data = d
		}
		out = append(out, ev)
	}
	return out
}

// refusingReceiver is an OTLP/HTTP receiver that answers the first
// transient requests 503 (the collector retries them) and every later one
// 400 (the collector passes the batch: refused for good).
type refusingReceiver struct {
	transient int64
	requests  atomic.Int64
	permanent atomic.Int64
}

func (r *refusingReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	_, _ = io.Copy(io.Discard, req.Body)
	if r.requests.Add(1) <= r.transient {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	r.permanent.Add(1)
	http.Error(w, "refused", http.StatusBadRequest)
}

// refuseOneRequest has the collector's memory limiter refuse an OTLP
// request: one request of the limiter's whole bound holds its reservation
// while its body is slow to come, and a small request meanwhile is refused
// with 429. The large one is itself refused when it arrives as a
// service's export is in flight, and is then sent again.
func refuseOneRequest(t *testing.T, otlpHTTP, token string) {
	t.Helper()
	client := tokenClient(token, 30*time.Second)
	for attempt := 0; attempt < 20; attempt++ {
		if holdAndRefuse(t, client, "http://"+otlpHTTP+"/v1/logs") {
			return
		}
	}
	t.Fatal("the memory limiter never refused a request while another held its bound")
}

// holdAndRefuse sends a request of 1 MiB (the limiter's bound) and all
// but its last 16 bytes, which the limiter holds as they arrive, and
// reports whether a small request sent meanwhile was refused with 429.
func holdAndRefuse(t *testing.T, client *http.Client, url string) bool {
	t.Helper()
	const bound, withheld = 1 << 20, 16
	head := []byte(`{"resourceLogs":[]}`)
	pr, pw := io.Pipe()
	big, err := http.NewRequest(http.MethodPost, url, pr)
	require.NoError(t, err)
	big.ContentLength = bound
	big.Header.Set("Content-Type", "application/json")
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := client.Do(big); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	defer func() {
		// The withheld bytes, spaces after the JSON, unless the request
		// was answered already (closing the pipe then ends the write).
		go func() { _, _ = pw.Write(bytes.Repeat([]byte(" "), withheld)); _ = pw.Close() }()
		<-done
		_ = pr.Close()
	}()
	sent := make(chan error, 1)
	go func() {
		_, err := pw.Write(append(head, bytes.Repeat([]byte(" "), bound-len(head)-withheld)...))
		sent <- err
	}()
	select {
	case err := <-sent:
		if err != nil {
			return false
		}
	case <-done:
		return false // the large one was answered (refused) before it was sent
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		select {
		case <-done:
			return false // the large one was answered (refused) at once
		default:
		}
		resp, err := client.Post(url, "application/json", bytes.NewReader(head))
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// alertmanagerRoutesToIncidents runs the real Alertmanager with the
// generated configuration pointed at e's collector and at fake pager and
// ticket receivers, and fires then resolves a page, a ticket and an alert
// that is no incident.
func alertmanagerRoutesToIncidents(t *testing.T, e *estate) {
	bin := testenv.Binary(t, "prometheus-alertmanager", "ESTATE_ALERTMANAGER_BIN", "apt-get install prometheus-alertmanager")
	pager, tickets := &recorder{}, &recorder{}
	pagerSrv, ticketSrv := httptest.NewServer(pager), httptest.NewServer(tickets)
	defer pagerSrv.Close()
	defer ticketSrv.Close()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "events-token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(e.roleToken(t, auth.RoleEventsWrite)), 0o600))
	cfg, err := dashboards.Alertmanager(dashboards.Endpoints{Collector: e.urls["collector"], Pager: pagerSrv.URL, Tickets: ticketSrv.URL, CollectorTokenFile: tokenFile},
		dashboards.Timing{GroupWait: 100 * time.Millisecond, GroupInterval: 500 * time.Millisecond, RepeatInterval: time.Hour})
	require.NoError(t, err)
	path := filepath.Join(dir, "alertmanager.yml")
	require.NoError(t, os.WriteFile(path, cfg, 0o600))
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	am := "http://" + addr
	testenv.StartDaemon(t, bin, []string{"--config.file=" + path, "--storage.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr, "--cluster.listen-address="}, am+"/-/ready")

	started := time.Now().UTC().Add(-time.Minute)
	alerts := func(endsAt time.Time) []map[string]any {
		var out []map[string]any
		for _, a := range []struct{ service, severity, incident string }{
			{"ledger-page", "page", ""}, {"ledger-ticket", "ticket", ""}, {"ledger-quiet", "ticket", "false"},
		} {
			labels := map[string]string{"alertname": "ServiceErrorRateHigh", "service": a.service, "environment": "production", "severity": a.severity}
			if a.incident != "" {
				labels["estate_incident"] = a.incident
			}
			out = append(out, map[string]any{"labels": labels, "annotations": map[string]string{"summary": a.service + " fails"},
				"startsAt": started, "endsAt": endsAt})
		}
		return out
	}
	post := func(body any) {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		resp, err := http.Post(am+"/api/v2/alerts", "application/json", bytes.NewReader(b))
		require.NoError(t, err)
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, string(msg))
	}
	// incidents are the incidents and MTTR of each service in the DORA
	// report of the collector.
	incidents := func() map[string][2]any {
		from, to := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		code, body := e.do(t, http.MethodGet, e.urls["collector"]+"/v1/dora?from="+from+"&to="+to, e.reader(t), nil, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		var report struct {
			Services []struct {
				Service   string   `json:"service"`
				Incidents int      `json:"incidents"`
				MTTR      *float64 `json:"mttr_seconds"`
			} `json:"services"`
		}
		require.NoError(t, json.Unmarshal(body, &report))
		out := map[string][2]any{}
		for _, s := range report.Services {
			if strings.HasPrefix(s.Service, "ledger-") {
				out[s.Service] = [2]any{s.Incidents, s.MTTR != nil}
			}
		}
		return out
	}
	wait := func(what string, check func() error) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		require.NoError(t, testenv.WaitFor(ctx, 100*time.Millisecond, check), what)
	}

	post(alerts(time.Now().Add(time.Hour)))
	wait("the page and the ticket open incidents; the page goes to the pager, the others to the ticket queue", func() error {
		if got := incidents(); len(got) != 2 || got["ledger-page"] != [2]any{1, false} || got["ledger-ticket"] != [2]any{1, false} {
			return fmt.Errorf("incidents: %v", got)
		}
		if p, tk := pager.services(), tickets.services(); p != "ledger-page" || tk != "ledger-quiet,ledger-ticket" {
			return fmt.Errorf("pager got %q, tickets %q", p, tk)
		}
		return nil
	})
	require.Contains(t, pager.last(), `"routing_key":"REPLACE-WITH-THE-PAGERDUTY-INTEGRATION-KEY"`)
	require.Contains(t, pager.last(), `"event_action":"trigger"`)

	post(alerts(time.Now().UTC()))
	wait("resolving them resolves their incidents", func() error {
		if got := incidents(); len(got) != 2 || got["ledger-page"] != [2]any{1, true} || got["ledger-ticket"] != [2]any{1, true} {
			return fmt.Errorf("incidents: %v", got)
		}
		if !strings.Contains(pager.last(), `"event_action":"resolve"`) {
			return fmt.Errorf("the pager's last event: %s", pager.last())
		}
		return nil
	})
}

// recorder keeps the bodies of the requests it is sent.
type recorder struct {
	mu     sync.Mutex
	bodies []string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.bodies = append(r.bodies, string(b))
	r.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func (r *recorder) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bodies) == 0 {
		return ""
	}
	return r.bodies[len(r.bodies)-1]
}

// services are the ledger services the bodies name, sorted and joined.
func (r *recorder) services() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, b := range r.bodies {
		for _, s := range []string{"ledger-page", "ledger-ticket", "ledger-quiet"} {
			if strings.Contains(b, s) {
				seen[s] = true
			}
		}
	}
	var out []string
	for _, s := range []string{"ledger-page", "ledger-quiet", "ledger-ticket"} {
		if seen[s] {
			out = append(out, s)
		}
	}
	return strings.Join(out, ",")
}

package review_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/sqlite"
	"github.com/estatehq/estate/sloreport"
	"github.com/estatehq/estate/sloreport/review"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// The incidents of testdata/events.jsonl.
const (
	// incidentA: invoicing in production, 10:00 to 10:45 on 2026-11-03,
	// opened and resolved by the alert InvoicingHighErrorRate, caused by
	// deployment d-102 (rolled back at 10:20); chaos experiment exp-2 ran
	// on invoicing from 10:30 to 10:50.
	incidentA = "81b9fb60c82ef41d@2026-11-03T10:00:00Z"
	// incidentB: credit, 10:10 to 10:30, caused by chaos experiment exp-1.
	incidentB = "inc-credit-1"
	// incidentC: invoicing, from 11:58, still open; exp-5 runs on it.
	incidentC = "inc-invoicing-2"
)

// now is the time of every review of the dataset.
var now = time.Date(2026, 11, 3, 13, 0, 0, 0, time.UTC)

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create %s", path)
	require.Equal(t, string(want), string(got), "%s differs; run go test -update if the change is intended", path)
}

// eventStore is a real SQLite event store holding testdata/events.jsonl.
func eventStore(t *testing.T) metrics.Store {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "events.jsonl"))
	require.NoError(t, err)
	defer f.Close()
	events, err := metrics.ReadJSONL(f)
	require.NoError(t, err)
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	n, err := st.Append(t.Context(), events)
	require.NoError(t, err)
	require.Equal(t, len(events), n)
	return st
}

// series is one series and its value at each minute of the dataset.
type series struct {
	metric string
	// value is the series' value at t; ok false means no sample.
	value func(t time.Time) (v float64, ok bool)
}

// counter is a counter that grows by inc(t) at each minute t.
func counter(metric string, inc func(t time.Time) float64) series {
	var c float64
	return series{metric: metric, value: func(t time.Time) (float64, bool) {
		c += inc(t)
		return c, true
	}}
}

// alert is an ALERTS series with a sample at every minute in [from, to].
func alert(metric string, from, to time.Time) series {
	return series{metric: metric, value: func(t time.Time) (float64, bool) {
		return 1, !t.Before(from) && !t.After(to)
	}}
}

func at(hhmm string) time.Time {
	t, err := time.Parse(time.RFC3339, "2026-11-03T"+hhmm+":00Z")
	if err != nil {
		panic(err)
	}
	return t
}

// within reports whether t is in (from, to].
func within(t time.Time, from, to string) bool { return t.After(at(from)) && !t.After(at(to)) }

// metricsStore is a real TSDB holding the dataset's series, scraped every
// minute from 2026-11-02T10:00 to 2026-11-03T13:00, and Prometheus's
// engine over it:
//
//   - invoicing serves 10,000 requests a minute; one fails every ten
//     minutes until 10:00, then 200 a minute to 10:20, 10 a minute to
//     10:45 and none after;
//   - credit serves 500 a minute, 50 of them failing (they must never be
//     counted for invoicing);
//   - ALERTS: InvoicingHighErrorRate pending at 09:58 and 09:59, firing
//     10:00 to 10:44 (the alert of incident A); InvoicingLatencyHigh
//     firing 10:05 to 10:15; the same alert in staging and an alert of
//     credit, which are not invoicing's in production; an alert of 07:00,
//     before the hour around incident A.
func metricsStore(t *testing.T) promquery.Querier {
	t.Helper()
	ss := []series{
		counter(`estate_red_requests_total{service="invoicing",route="/v1/invoices",status_class="2xx"}`, func(time.Time) float64 { return 10000 }),
		counter(`estate_red_errors_total{service="invoicing",route="/v1/invoices",status_class="5xx"}`, func(t time.Time) float64 {
			switch {
			case within(t, "10:00", "10:20"):
				return 200
			case within(t, "10:20", "10:45"):
				return 10
			case !t.After(at("10:00")) && t.Minute()%10 == 0:
				return 1
			}
			return 0
		}),
		counter(`estate_red_requests_total{service="credit",route="/v1/credit/line",status_class="2xx"}`, func(time.Time) float64 { return 500 }),
		counter(`estate_red_errors_total{service="credit",route="/v1/credit/line",status_class="5xx"}`, func(time.Time) float64 { return 50 }),
		alert(`ALERTS{alertname="InvoicingHighErrorRate",alertstate="pending",service="invoicing",environment="production",severity="critical"}`, at("09:58"), at("09:59")),
		alert(`ALERTS{alertname="InvoicingHighErrorRate",alertstate="firing",service="invoicing",environment="production",severity="critical"}`, at("10:00"), at("10:44")),
		alert(`ALERTS{alertname="InvoicingLatencyHigh",alertstate="firing",service="invoicing",environment="production",severity="warning"}`, at("10:05"), at("10:15")),
		alert(`ALERTS{alertname="InvoicingHighErrorRate",alertstate="firing",service="invoicing",environment="staging",severity="critical"}`, at("10:00"), at("10:10")),
		alert(`ALERTS{alertname="CreditDown",alertstate="firing",service="credit",environment="production",severity="critical"}`, at("10:10"), at("10:30")),
		alert(`ALERTS{alertname="InvoicingHighErrorRate",alertstate="firing",service="invoicing",environment="production",severity="critical"}`, at("07:00"), at("07:30")),
	}
	st := teststorage.New(t)
	app := st.Appender(context.Background())
	p := parser.NewParser(parser.Options{})
	for _, s := range ss {
		ls, err := p.ParseMetric(s.metric)
		require.NoError(t, err, s.metric)
		for ts := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC); !ts.After(now); ts = ts.Add(time.Minute) {
			if v, ok := s.value(ts); ok {
				_, err := app.Append(0, ls, ts.UnixMilli(), v)
				require.NoError(t, err)
			}
		}
	}
	require.NoError(t, app.Commit())
	return promquery.NewEngine(promqltest.NewTestEngine(t, false, 5*time.Minute, 100_000_000), st)
}

// slos are an SLO of invoicing in production, one of invoicing in
// staging and one of credit: only the first is invoicing's in production.
func slos() []sloreport.SLO {
	ratio := func(name, service, env string, objective float64) sloreport.SLO {
		return sloreport.SLO{
			Name: name, DisplayName: name, Service: service, Labels: map[string]string{"environment": env},
			Indicator: sloreport.Indicator{
				Bad:   `estate_red_errors_total{service="` + service + `"}`,
				Total: `estate_red_requests_total{service="` + service + `"}`,
			},
			Objective: objective,
			Window:    sloreport.Window{Kind: sloreport.Rolling, Length: 30 * 24 * time.Hour},
		}
	}
	return []sloreport.SLO{
		ratio("invoicing-availability", "invoicing", "production", 0.999),
		ratio("invoicing-staging-availability", "invoicing", "staging", 0.99),
		ratio("credit-availability", "credit", "production", 0.99),
	}
}

func inputs(store metrics.Store, q promquery.Querier, id string) review.Inputs {
	return review.Inputs{Events: store, Querier: q, SLOs: slos(), IncidentID: id, Now: now}
}

// TestTimelineGolden renders the findings of the dataset's incidents in
// every format: one resolved with the metrics store, one without it, one
// still open.
func TestTimelineGolden(t *testing.T) {
	store, q := eventStore(t), metricsStore(t)
	tests := []struct {
		name    string
		id      string
		querier promquery.Querier
	}{
		{"incident-a", incidentA, q},
		{"incident-b-no-metrics", incidentB, nil},
		{"incident-c-open", incidentC, q},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := review.Timeline(t.Context(), inputs(store, tt.querier, tt.id))
			require.NoError(t, err)
			for _, format := range review.Formats() {
				var b bytes.Buffer
				require.NoError(t, f.Write(&b, format))
				ext := map[string]string{"text": ".txt", "markdown": ".md", "json": ".json"}[format]
				golden(t, tt.name+ext, b.Bytes())
			}
		})
	}
}

// TestTimelineListsExactlyItsWindow pins what incident A's timeline holds:
// invoicing's deployments in production from 24 hours before the start to
// the end (not d-100, before; not d-103, after; not d-104, staging; not
// credit's d-200), the alerts of invoicing in production in the hour
// around it, the chaos run that overlapped it on invoicing (exp-2; not
// exp-3, before it, nor exp-4, in staging, nor exp-1, on credit), the
// error rates and the SLO burn, in time order.
func TestTimelineListsExactlyItsWindow(t *testing.T) {
	f, err := review.Timeline(t.Context(), inputs(eventStore(t), metricsStore(t), incidentA))
	require.NoError(t, err)
	type line struct {
		time   string
		kind   review.Kind
		source string
	}
	var got []line
	for _, e := range f.Entries {
		source := e.Source.EventID
		if source == "" {
			source = strings.Fields(e.Source.Query)[0]
		}
		got = append(got, line{e.Time.Format("01-02T15:04"), e.Kind, source})
	}
	errs := `estate_red_errors_total{service="invoicing"},`
	want := []line{
		{"11-02T15:00", review.KindDeploymentStarted, "d-101-started"},
		{"11-02T15:04", review.KindDeploymentSucceeded, "d-101-succeeded"},
		{"11-03T07:00", review.KindDeploymentStarted, "d-105-started"},
		{"11-03T07:03", review.KindDeploymentFailed, "d-105-failed"},
		{"11-03T09:00", review.KindErrorRate, errs},
		{"11-03T09:30", review.KindDeploymentStarted, "d-102-started"},
		{"11-03T09:34", review.KindDeploymentSucceeded, "d-102-succeeded"},
		{"11-03T09:58", review.KindAlertPending, `ALERTS{service="invoicing"}[2h45m]`},
		{"11-03T10:00", review.KindAlertFiring, `ALERTS{service="invoicing"}[2h45m]`},
		{"11-03T10:00", review.KindIncidentOpened, "alertmanager/" + incidentA + "/opened"},
		{"11-03T10:04", review.KindErrorRate, "sum(rate(estate_red_errors_total{service=\"invoicing\"}[5m]))"},
		{"11-03T10:05", review.KindAlertFiring, `ALERTS{service="invoicing"}[2h45m]`},
		{"11-03T10:15", review.KindAlertResolved, `ALERTS{service="invoicing"}[2h45m]`},
		{"11-03T10:20", review.KindDeploymentRolledBack, "d-102-rolled-back"},
		{"11-03T10:30", review.KindChaosStarted, "exp-2-started"},
		{"11-03T10:44", review.KindAlertResolved, `ALERTS{service="invoicing"}[2h45m]`},
		{"11-03T10:45", review.KindErrorRate, errs},
		{"11-03T10:45", review.KindIncidentResolved, "alertmanager/" + incidentA + "/resolved"},
		{"11-03T10:45", review.KindSLOBurn, "bad:"},
		{"11-03T10:50", review.KindChaosFinished, "exp-2-finished"},
	}
	require.Equal(t, want, got)
	require.Equal(t, time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC), f.From)
	require.Equal(t, at("10:45"), f.To)
}

// TestTimelineFigures checks the impact against the dataset's known
// counts: in (10:00, 10:45] invoicing served 45 minutes of 10,000
// requests and 20 × 200 + 25 × 10 failed; in its 30-day window at 10:45
// it served 1,486 minutes of them (from 2026-11-02T10:00, both ends
// counted), with 145 failures before the incident.
func TestTimelineFigures(t *testing.T) {
	f, err := review.Timeline(t.Context(), inputs(eventStore(t), metricsStore(t), incidentA))
	require.NoError(t, err)
	inc := f.Incident
	require.Equal(t, 45*time.Minute, inc.Duration)
	require.Equal(t, "deployment d-102", inc.Cause())
	require.Equal(t, "81b9fb60c82ef41d", inc.Alert)

	r := f.Requests
	require.NotNil(t, r)
	require.Equal(t, review.Counts{From: at("10:00"), To: at("10:45"), Total: 450_000, Failed: 4250}, r.During)
	require.Equal(t, review.Counts{From: at("09:00"), To: at("10:00"), Total: 600_000, Failed: 6}, r.Before)
	require.Equal(t, &review.Counts{From: at("10:45"), To: at("11:45"), Total: 600_000, Failed: 0}, r.After)
	require.NotNil(t, r.Peak)
	require.InDelta(t, 0.02, r.Peak.Ratio, 1e-9, "200 of 10,000 a minute over a whole 5 minutes")
	// From 10:04 the 5-minute window holds only the incident's samples;
	// rate()'s extrapolation to the window's start settles the second.
	require.WithinRange(t, r.Peak.At, at("10:04"), at("10:05"))

	require.Len(t, f.SLOs, 1, "invoicing's SLO in production only")
	b := f.SLOs[0]
	require.Equal(t, "invoicing-availability", b.Name)
	require.Equal(t, sloreport.Events{Total: 450_000, Good: 450_000 - 4250, Bad: 4250}, b.During)
	allowed := 0.001 * 1486 * 10_000
	require.InDelta(t, 4250/allowed, *b.BudgetSpent, 1e-9)
	require.InDelta(t, (allowed-145-4250)/allowed, *b.BudgetLeft, 1e-9)
	require.InDelta(t, 4250.0/450_000/0.001, *b.BurnRate, 1e-9)

	require.Equal(t, []string{"d-102", "d-101"}, candidateIDs(f), "the named cause first, then what was live at the start; exp-2 began after the start but overlapped")
}

func candidateIDs(f review.Findings) []string {
	var ids []string
	for _, c := range f.Candidates {
		if c.Kind == "deployment" {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// TestTimelineCandidates lists the possible causes of each incident.
func TestTimelineCandidates(t *testing.T) {
	store := eventStore(t)
	tests := []struct {
		id   string
		want []review.Candidate
	}{
		{incidentA, []review.Candidate{
			{Kind: "deployment", ID: "d-102", Named: true},
			{Kind: "deployment", ID: "d-101"},
			{Kind: "chaos_experiment", ID: "exp-2"},
		}},
		{incidentB, []review.Candidate{
			{Kind: "chaos_experiment", ID: "exp-1", Named: true},
			{Kind: "deployment", ID: "d-200"},
		}},
		{incidentC, []review.Candidate{
			// Not d-102: it was rolled back before the start.
			{Kind: "deployment", ID: "d-103"},
			{Kind: "deployment", ID: "d-101"},
			{Kind: "chaos_experiment", ID: "exp-5"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			f, err := review.Timeline(t.Context(), inputs(store, nil, tt.id))
			require.NoError(t, err)
			var got []review.Candidate
			for _, c := range f.Candidates {
				require.NotEmpty(t, c.Summary)
				c.Summary = ""
				got = append(got, c)
			}
			require.Equal(t, tt.want, got)
		})
	}
}

// TestTimelineOrderIsTheLogs checks that the findings depend on the set
// of events only: a store filled in another order gives the same bytes.
func TestTimelineOrderIsTheLogs(t *testing.T) {
	first, err := review.Timeline(t.Context(), inputs(eventStore(t), nil, incidentA))
	require.NoError(t, err)

	events, err := eventStore(t).Events(t.Context(), metrics.Filter{})
	require.NoError(t, err)
	slices.Reverse(events)
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "reversed.db"), sqlite.Options{})
	require.NoError(t, err)
	defer st.Close()
	for _, e := range events {
		_, err := st.Append(t.Context(), []metrics.Event{e})
		require.NoError(t, err)
	}
	second, err := review.Timeline(t.Context(), inputs(st, nil, incidentA))
	require.NoError(t, err)
	a, err := json.Marshal(first)
	require.NoError(t, err)
	b, err := json.Marshal(second)
	require.NoError(t, err)
	require.JSONEq(t, string(a), string(b))
}

// TestTimelineBeforeItsStart reviews an open incident at a time before
// its start (a clock behind the sender's): a review of no length, not an
// error.
func TestTimelineBeforeItsStart(t *testing.T) {
	in := inputs(eventStore(t), metricsStore(t), incidentC)
	in.Now = at("11:30")
	f, err := review.Timeline(t.Context(), in)
	require.NoError(t, err)
	require.Zero(t, f.Incident.Duration)
	require.Nil(t, f.Requests.Peak)
	require.Nil(t, f.Requests.After)
	require.Zero(t, f.Requests.During.Total)
}

func TestTimelineUnknownIncident(t *testing.T) {
	store := eventStore(t)
	for _, id := range []string{"no-such-incident", "inc-ghost"} {
		t.Run(id, func(t *testing.T) {
			_, err := review.Timeline(t.Context(), inputs(store, nil, id))
			require.ErrorIs(t, err, review.ErrNotFound)
			require.ErrorContains(t, err, `incident "`+id+`"`)
		})
	}
}

func TestTimelineInputs(t *testing.T) {
	tests := []struct {
		name string
		in   review.Inputs
		want string
	}{
		{"nothing", review.Inputs{}, "incident review: events: the event store is required\nincident id: is required"},
		{"negative lookback", review.Inputs{Events: eventStore(t), IncidentID: "x", Lookback: -time.Hour},
			"incident review: lookback (-1h0m0s) and around (0s): must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := review.Timeline(t.Context(), tt.in)
			require.EqualError(t, err, tt.want)
		})
	}
}

func TestWriteRefusesAnUnknownFormat(t *testing.T) {
	err := review.Findings{}.Write(&bytes.Buffer{}, "html")
	require.EqualError(t, err, `format must be text, markdown or json, not "html"`)
}

//go:build !servicesonly

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/auth/authtest"
	"github.com/estatehq/estate/internal/testenv"
)

func TestSLOValidate(t *testing.T) {
	out, _, err := runCmd(t, "slo", "validate", "../../sloreport/examples/invoicing.yaml", "../../sloreport/examples/credit.yaml")
	require.NoError(t, err)
	require.Equal(t, "4 SLOs in 2 files, all valid: invoicing-availability invoicing-latency credit-availability credit-latency\n", out)

	good, err := os.ReadFile("../../sloreport/examples/invoicing.yaml")
	require.NoError(t, err)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	doc := strings.NewReplacer("target: 0.999", "target: 1.2", "  service: invoicing\n", "  service: invoicing\n  owner: billing\n").Replace(string(good))
	require.NoError(t, os.WriteFile(bad, []byte(doc), 0o600))
	_, errOut, err := runCmd(t, "slo", "validate", bad)
	require.EqualError(t, err, "slo validate: 3 problems")
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	unknown := ": unknown field (spec has budgetingMethod, description, indicator, indicatorRef, objectives, service, timeWindow)"
	require.Equal(t, []string{
		bad + ":13: spec.owner" + unknown,
		bad + ":37: spec.objectives[0].target: must be between 0 and 1, not 1.2",
		bad + ":48: spec.owner" + unknown,
	}, lines)

	_, _, err = runCmd(t, "slo", "validate")
	require.EqualError(t, err, "slo validate: name the SLO files to check")
	_, _, err = runCmd(t, "slo")
	require.ErrorIs(t, err, errUsage)
	_, _, err = runCmd(t, "slo", "check")
	require.EqualError(t, err, `slo: unknown subcommand "check" (validate, rules)`)
}

func TestSLORules(t *testing.T) {
	out, _, err := runCmd(t, "slo", "rules", "--examples", "--min-events", "50")
	require.NoError(t, err)
	groups, errs := rulefmt.Parse([]byte(out), false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	require.Empty(t, errs)
	var names []string
	for _, g := range groups.Groups {
		names = append(names, g.Name)
	}
	require.Equal(t, []string{"slo-credit-availability", "slo-credit-availability:counts", "slo-credit-latency", "slo-credit-latency:counts", "slo-invoicing-availability", "slo-invoicing-availability:counts", "slo-invoicing-latency", "slo-invoicing-latency:counts"}, names)
	require.Contains(t, out, "estate_slo:sli_events:increase5m{slo=\"invoicing-availability\", service=\"invoicing\"} >= 50")

	out, _, err = runCmd(t, "slo", "rules", "../../sloreport/examples/invoicing.yaml")
	require.NoError(t, err)
	require.Contains(t, out, "slo-invoicing-latency")
	require.NotContains(t, out, "slo-credit")

	_, _, err = runCmd(t, "slo", "rules", "--examples", "../../sloreport/examples/invoicing.yaml")
	require.EqualError(t, err, "slo rules: 2 problems in the SLO files")
	_, _, err = runCmd(t, "slo", "rules")
	require.EqualError(t, err, "slo rules: name the SLO files, or --examples")
}

func TestSLOConfigIsValidated(t *testing.T) {
	_, _, err := runCmd(t, "collector", "--slo.min-events", "-1", "--slo.prometheus-url", "prometheus:9090")
	require.ErrorContains(t, err, "slo.min_events: must not be negative, not -1")
	require.ErrorContains(t, err, `slo.prometheus_url: must be an http or https URL with a host, not "prometheus:9090"`)
	_, _, err = runCmd(t, "invoicing", "--slo.examples=false")
	require.ErrorContains(t, err, "--slo.examples is an option of the collector target")
}

// TestUpSLOsOverTheEmbeddedStore is the SLOs under `estate up`, all in
// process: the services' spans become the collector's RED series, which
// it scrapes into its embedded metrics store; the example SLOs are
// computed from that store, their rules are evaluated over it, and
// promtool reads it through the collector's Prometheus API.
func TestUpSLOsOverTheEmbeddedStore(t *testing.T) {
	promtool := testenv.Binary(t, "promtool", "ESTATE_PROMTOOL_BIN", "apt-get install prometheus")
	// The services export their spans every 100 ms rather than 5 s.
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
	e := startUp(t, "--collector.scrape.interval=200ms", "--collector.scrape.timeout=200ms",
		"--collector.rules.interval=200ms", "--slo.cache-ttl=0s")
	api := e.urls["collector"]
	tok := e.token(t, "--sub", "slo-user")
	code, body := e.do(t, http.MethodPost, e.urls["invoicing"]+"/v1/businesses", tok, map[string]string{"Idempotency-Key": "slo-1"},
		map[string]any{"legal_name": "Acme Ltd", "country": "GB", "registration_number": "01234567", "billing_email": "billing@acme.test"})
	require.Equal(t, http.StatusCreated, code, string(body))
	var business struct{ ID string }
	require.NoError(t, json.Unmarshal(body, &business))
	bizToken := e.token(t, "--sub", "slo-user", "--business", business.ID)
	reader := e.reader(t)
	// promtool's instant queries send no token: it asks through a proxy
	// that adds one.
	withToken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+reader)
		authtest.Forward(api).ServeHTTP(w, r)
	}))
	defer withToken.Close()

	type events struct{ Total, Good, Bad float64 }
	type status struct {
		Name        string
		State       string
		Objective   float64
		Events      events
		ErrorBudget struct {
			AllowedEvents   float64 `json:"allowed_events"`
			RemainingEvents float64 `json:"remaining_events"`
			RemainingRatio  float64 `json:"remaining_ratio"`
		} `json:"error_budget"`
	}
	names := []string{"credit-availability", "credit-latency", "invoicing-availability", "invoicing-latency"}
	var (
		slos     map[string]status
		rate     float64
		recorded float64
	)
	// Traffic goes on while the answers are awaited: rate over a minute
	// needs requests between two scrapes.
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	err := testenv.WaitFor(ctx, 200*time.Millisecond, func() error {
		for _, url := range []string{e.urls["invoicing"] + "/v1/businesses/" + business.ID, e.urls["credit"] + "/v1/credit/line"} {
			if code, body := e.do(t, http.MethodGet, url, bizToken, nil, nil); code >= 500 {
				return fmt.Errorf("GET %s: %d %s", url, code, body)
			}
		}
		code, body := e.do(t, http.MethodGet, api+"/v1/slos", reader, nil, nil)
		if code != http.StatusOK {
			return fmt.Errorf("GET /v1/slos: %d %s", code, body)
		}
		var res struct{ SLOs []status }
		if err := json.Unmarshal(body, &res); err != nil {
			return err
		}
		slos = map[string]status{}
		for _, s := range res.SLOs {
			slos[s.Name] = s
		}
		for _, n := range names {
			if slos[n].Events.Total == 0 {
				return fmt.Errorf("%s has no events yet: %s", n, body)
			}
		}
		out, err := exec.CommandContext(ctx, promtool, "query", "instant", "-o", "json", withToken.URL, `sum(rate(estate_red_requests_total[1m]))`).CombinedOutput()
		if err != nil {
			return fmt.Errorf("promtool query instant: %w: %s", err, out)
		}
		if rate, err = scalarOf(out); err != nil {
			return fmt.Errorf("promtool query instant: %w: %s", err, out)
		} else if rate <= 0 {
			return fmt.Errorf("promtool query instant: no positive rate yet: %s", out)
		}
		code, body = e.do(t, http.MethodGet, api+`/api/v1/query?query=`+neturl.QueryEscape(`estate_slo:sli_events:increase5m{slo="invoicing-availability",service="invoicing"}`), reader, nil, nil)
		if code != http.StatusOK {
			return fmt.Errorf("querying the recorded events: %d %s", code, body)
		}
		var q struct {
			Data struct{ Result json.RawMessage }
		}
		if err := json.Unmarshal(body, &q); err != nil {
			return err
		}
		if recorded, err = scalarOf(q.Data.Result); err != nil {
			return fmt.Errorf("the recorded events: %w: %s", err, body)
		} else if recorded <= 0 {
			return fmt.Errorf("no recorded events yet: %s", body)
		}
		return nil
	})
	require.NoError(t, err)

	require.Len(t, slos, len(names))
	for _, n := range names {
		s := slos[n]
		require.Contains(t, []string{"healthy", "at_risk", "exhausted"}, s.State, n)
		require.Equal(t, s.Events.Total, s.Events.Good+s.Events.Bad, n)
		require.InDelta(t, (1-s.Objective)*s.Events.Total, s.ErrorBudget.AllowedEvents, 1e-9, n)
		require.InDelta(t, s.ErrorBudget.AllowedEvents-s.Events.Bad, s.ErrorBudget.RemainingEvents, 1e-9, n)
		require.InDelta(t, s.ErrorBudget.RemainingEvents/s.ErrorBudget.AllowedEvents, s.ErrorBudget.RemainingRatio, 1e-9, n)
	}
	require.Zero(t, slos["invoicing-availability"].Events.Bad, "no request to invoicing failed")
	require.Equal(t, 1.0, slos["invoicing-availability"].ErrorBudget.RemainingRatio)
	require.Positive(t, rate)
	require.Positive(t, recorded)

	// The SLOs' rule groups are those the collector's rules evaluator
	// runs, with the rule files.
	code, body = e.do(t, http.MethodGet, api+"/api/v1/rules?type=alert", reader, nil, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	for _, n := range names {
		require.Contains(t, string(body), `"name":"slo-`+n+`"`)
	}
	require.Contains(t, string(body), `"name":"SLOErrorBudgetBurn"`)
}

// scalarOf is the value of a one-sample vector, as promtool's -o json and
// the Prometheus API's result write it.
func scalarOf(b []byte) (float64, error) {
	var vec model.Vector
	if err := json.Unmarshal(b, &vec); err != nil {
		return 0, err
	}
	if len(vec) != 1 {
		return 0, fmt.Errorf("%d samples, not one", len(vec))
	}
	return float64(vec[0].Value), nil
}

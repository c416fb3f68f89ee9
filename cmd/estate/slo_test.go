package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
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
	require.Equal(t, []string{"slo-credit-availability", "slo-credit-latency", "slo-invoicing-availability", "slo-invoicing-latency"}, names)
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

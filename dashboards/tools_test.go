package dashboards

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/estatehq/estate/internal/promquery/promquerytest"
	"github.com/estatehq/estate/internal/testenv"
)

// written writes the generated files to a folder of the test's own, so
// that the tools run on what the code generates now.
func written(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, generate(t).Write(dir))
	return dir
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool := promquerytest.Promtool(t)
	dir := written(t)
	for _, f := range []string{EstateRulesFile, SLORulesFile} {
		out, err := exec.CommandContext(t.Context(), promtool, "check", "rules", filepath.Join(dir, f)).CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Contains(t, string(out), "SUCCESS")
	}
}

// TestPromtoolTestRules runs the generated unit tests of every alert: each
// fires just above its threshold once its for has passed and stays silent
// just below it.
func TestPromtoolTestRules(t *testing.T) {
	promtool := promquerytest.Promtool(t)
	dir := written(t)
	out, err := exec.CommandContext(t.Context(), promtool, "test", "rules",
		filepath.Join(dir, estateTestsFile), filepath.Join(dir, sloTestsFile)).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, 2, strings.Count(string(out), "SUCCESS"), "%s", out)
}

// TestPromtoolTestRulesFailsAtTheWrongThreshold: the unit tests are
// tight, so a threshold moved by 0.5% fails them.
func TestPromtoolTestRulesFailsAtTheWrongThreshold(t *testing.T) {
	promtool := promquerytest.Promtool(t)
	dir := written(t)
	path := filepath.Join(dir, EstateRulesFile)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	moved := strings.Replace(string(b), "> 900", "> 904.5", 1)
	require.NotEqual(t, string(b), moved)
	require.NoError(t, os.WriteFile(path, []byte(moved), 0o600))
	out, err := exec.CommandContext(t.Context(), promtool, "test", "rules", filepath.Join(dir, estateTestsFile)).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "alertname: CollectorQueueOldestRecordTooOld")
}

// TestEveryAlertIsUnitTested: every alerting rule of the rules files has a
// unit test where it fires with its labels, and one where it is expected
// silent.
func TestEveryAlertIsUnitTested(t *testing.T) {
	files := generate(t)
	for rules, tests := range map[string]string{EstateRulesFile: estateTestsFile, SLORulesFile: sloTestsFile} {
		var groups rulefmt.RuleGroups
		require.NoError(t, yaml.Unmarshal(files[rules], &groups))
		var ut unitTests
		require.NoError(t, yaml.Unmarshal(files[tests], &ut))
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				if r.Alert == "" {
					continue
				}
				var fires, silent bool
				for _, tg := range ut.Tests {
					for _, at := range tg.AlertRuleTests {
						if at.Alertname != r.Alert {
							continue
						}
						if len(at.ExpAlerts) == 0 {
							silent = true
						}
						for _, a := range at.ExpAlerts {
							if labelsInclude(a.ExpLabels, r.Labels) {
								fires = true
							}
						}
					}
				}
				require.True(t, fires, "%s: no unit test fires %s %v", rules, r.Alert, r.Labels)
				require.True(t, silent, "%s: no unit test expects %s silent", rules, r.Alert)
			}
		}
	}
}

func labelsInclude(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// amtool is Alertmanager's amtool: ESTATE_AMTOOL_BIN, else beside
// ESTATE_ALERTMANAGER_BIN (Debian's prometheus-alertmanager has both),
// else on PATH.
func amtool(t *testing.T) string {
	t.Helper()
	if os.Getenv("ESTATE_AMTOOL_BIN") == "" {
		if am := os.Getenv("ESTATE_ALERTMANAGER_BIN"); am != "" {
			if p := filepath.Join(filepath.Dir(am), "amtool"); fileExists(p) {
				return p
			}
		}
	}
	return testenv.Binary(t, "amtool", "ESTATE_AMTOOL_BIN", "apt-get install prometheus-alertmanager (which has amtool)")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func TestAmtoolCheckConfig(t *testing.T) {
	bin := amtool(t)
	dir := written(t)
	out, err := exec.CommandContext(t.Context(), bin, "check-config", filepath.Join(dir, AlertmanagerFile)).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "SUCCESS")
	require.Contains(t, string(out), "3 receivers")

	// A configuration that does not load fails the check.
	broken := filepath.Join(dir, "broken.yml")
	b, err := os.ReadFile(filepath.Join(dir, AlertmanagerFile))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(broken, []byte(strings.Replace(string(b), "receiver: pager", "receiver: pagers", 1)), 0o600))
	out, err = exec.CommandContext(t.Context(), bin, "check-config", broken).CombinedOutput()
	require.Error(t, err, "%s", out)
	require.Contains(t, string(out), "pagers")
}

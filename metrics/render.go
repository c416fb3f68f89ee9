package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteJSON writes the report as indented JSON: the API's and the CLI's
// format.
func (r Report) WriteJSON(w io.Writer) error {
	if r.Services == nil {
		r.Services = []ServiceReport{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

// MarshalJSON keeps "services" an array, never null, and the times in UTC.
func (r Report) MarshalJSON() ([]byte, error) {
	type plain Report
	p := plain(r)
	if p.Services == nil {
		p.Services = []ServiceReport{}
	}
	p.From, p.To = p.From.UTC(), p.To.UTC()
	return json.Marshal(p)
}

// WriteText writes the report as a table for people: one row per service
// and environment, every ratio and duration with the sample it rests on,
// "n/a" where there is no sample, and a legend that says what each column
// means.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	chaos := "chaos incidents excluded from incidents, downtime, MTTR and MTBF"
	if r.IncludeChaos {
		chaos = "chaos incidents included in incidents, downtime, MTTR and MTBF"
	}
	fmt.Fprintf(&b, "Reliability report %s to %s (%s; %s)\n\n",
		r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339), days(r.To.Sub(r.From)), chaos)
	if len(r.Services) == 0 {
		b.WriteString("No deployments or incidents.\n")
		_, err := io.WriteString(w, b.String())
		return wrapWrite(err)
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tENVIRONMENT\tDEPLOYS\tFAILED\tROLLBACK RATE\tCHANGE FAILURE RATE\tDEPLOYS/DAY\tLEAD TIME P50\tLEAD TIME P90\tINCIDENTS\tDOWNTIME\tMTTR MEAN\tMTTR MEDIAN\tMTBF\tCHAOS")
	for _, s := range r.Services {
		lead50, lead90 := "n/a", "n/a"
		if s.LeadTimeSeconds != nil {
			lead50 = fmt.Sprintf("%s (n=%d)", duration(s.LeadTimeSeconds.P50), s.LeadTimeSamples)
			lead90 = fmt.Sprintf("%s (n=%d)", duration(s.LeadTimeSeconds.P90), s.LeadTimeSamples)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%d\n",
			s.Service, s.Environment, s.Deployments, s.FailedDeployments,
			percent(s.RollbackRate, s.Rollbacks, s.Deployments),
			percent(s.ChangeFailureRate, s.ChangeFailures, s.Deployments),
			strconv.FormatFloat(s.DeploymentFrequencyPerDay, 'f', 2, 64),
			lead50, lead90,
			s.Incidents, duration(s.DowntimeSeconds),
			optDuration(s.MTTRSeconds, s.MTTRSamples), optDuration(s.MTTRMedianSeconds, s.MTTRSamples),
			optDuration(s.MTBFSeconds, s.Incidents),
			s.ChaosIncidents)
	}
	if err := tw.Flush(); err != nil {
		return wrapWrite(err)
	}
	b.WriteString(`
DEPLOYS: production deployments that succeeded in the window. FAILED: deployments
that failed in the window and never reached production (in no rate).
ROLLBACK RATE: share of DEPLOYS rolled back before the end of the window.
CHANGE FAILURE RATE: share of DEPLOYS rolled back, or named as the cause of an
incident. LEAD TIME: nearest-rank percentiles of success time - commit time over
n commits. INCIDENTS: incidents that started in the window. DOWNTIME: time in the
window with at least one incident open. MTTR: over the n incidents resolved in
the window. MTBF: (window - downtime) / INCIDENTS. n/a: no sample.
`)
	_, err := io.WriteString(w, b.String())
	return wrapWrite(err)
}

func wrapWrite(err error) error {
	if err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

func percent(r *float64, num, den int) string {
	if r == nil {
		return "n/a"
	}
	return fmt.Sprintf("%s%% (%d/%d)", strconv.FormatFloat(*r*100, 'f', 1, 64), num, den)
}

func optDuration(secs *float64, n int) string {
	if secs == nil {
		return "n/a"
	}
	return fmt.Sprintf("%s (n=%d)", duration(*secs), n)
}

func days(d time.Duration) string {
	n := d.Hours() / 24
	if n == math.Trunc(n) {
		if n == 1 {
			return "1 day"
		}
		return fmt.Sprintf("%d days", int64(n))
	}
	return fmt.Sprintf("%.2f days", n)
}

// duration renders seconds as days, hours, minutes and seconds, to the
// second: "3d 11h 15m", "45m", "0s".
func duration(secs float64) string {
	total := int64(math.Round(secs))
	if total == 0 {
		if secs > 0 {
			return strconv.FormatFloat(secs, 'f', 3, 64) + "s"
		}
		return "0s"
	}
	d, rest := total/86400, total%86400
	h, rest := rest/3600, rest%3600
	m, s := rest/60, rest%60
	var parts []string
	for _, p := range []struct {
		n    int64
		unit string
	}{{d, "d"}, {h, "h"}, {m, "m"}, {s, "s"}} {
		if p.n != 0 {
			parts = append(parts, fmt.Sprintf("%d%s", p.n, p.unit))
		}
	}
	return strings.Join(parts, " ")
}

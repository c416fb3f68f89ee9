package rollout

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText writes s for a terminal: the verdict and why, the
// recommendation and the hooks' answers, then the evidence, when s has
// it, with the queries that reproduce it.
func WriteText(w io.Writer, s Status) error {
	var b strings.Builder
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }
	fmt.Fprintf(&b, "Deployment %s of %s (%s), version %s\n", s.DeploymentID, s.Service, s.Environment, s.Version)
	fmt.Fprintf(&b, "In production since %s; the analysis decides by %s\n", ts(s.DeployedAt), ts(s.WindowEnd))
	if s.DecidedAt == nil {
		fmt.Fprintf(&b, "Verdict: none yet, the analysis is running\n")
	} else {
		fmt.Fprintf(&b, "Verdict: %s at %s (%s after the deploy)\n", strings.ToUpper(s.State), ts(*s.DecidedAt), s.DecidedAt.Sub(s.DeployedAt).Round(time.Second))
		fmt.Fprintf(&b, "Why: %s\n", s.Reason)
	}
	switch {
	case s.RollbackRecommended && s.DryRun:
		fmt.Fprintf(&b, "Rollback: recommended (a dry run: no hook was to be called)\n")
	case s.RollbackRecommended:
		fmt.Fprintf(&b, "Rollback: recommended\n")
	}
	for _, h := range s.Hooks {
		fmt.Fprintf(&b, "Hook %s: %s after %d attempt(s) at %s", h.Hook, h.Outcome, h.Attempts, ts(h.At))
		if h.Status != 0 {
			fmt.Fprintf(&b, ", status %d", h.Status)
		}
		if h.Detail != "" {
			fmt.Fprintf(&b, ": %s", h.Detail)
		}
		b.WriteString("\n")
	}
	if s.RolledBackAt != nil {
		fmt.Fprintf(&b, "Rolled back at %s\n", ts(*s.RolledBackAt))
	}
	if r := s.Result; r != nil && !r.After.To.IsZero() {
		b.WriteString("\n")
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		hm := func(t time.Time) string { return t.UTC().Format("15:04:05") }
		fmt.Fprintf(tw, "\tbefore\tafter\n")
		fmt.Fprintf(tw, "window\t%s–%s\t%s–%s\n", hm(r.Before.From), hm(r.Before.To), hm(r.After.From), hm(r.After.To))
		fmt.Fprintf(tw, "requests\t%.0f\t%.0f\n", r.Before.Requests, r.After.Requests)
		fmt.Fprintf(tw, "errors\t%.0f\t%.0f\n", r.Before.Errors, r.After.Errors)
		fmt.Fprintf(tw, "error ratio\t%.3g%%\t%.3g%%\n", 100*r.Before.ErrorRatio, 100*r.After.ErrorRatio)
		if err := tw.Flush(); err != nil {
			return err
		}
		b.WriteString("\n")
		if r.ErrorTest != nil {
			fmt.Fprintf(&b, "Error test: rate after / before %.3g, p = %.2g\n", r.ErrorTest.Ratio, r.ErrorTest.P)
		}
		if r.LatencyTest != nil {
			fmt.Fprintf(&b, "Latency test: a request after is slower with probability %.2f, p = %.2g\n", r.LatencyTest.Effect, r.LatencyTest.P)
		}
		if r.BurnRate > 0 {
			fmt.Fprintf(&b, "Burn rate of the error budget: %.3g\n", r.BurnRate)
		}
		if r.Alpha > 0 {
			fmt.Fprintf(&b, "Significance level of this look: %.2g\n", r.Alpha)
		}
		if len(r.Queries) > 0 {
			b.WriteString("\nQueries (each pinned with @: asked again, they give these numbers):\n")
			for _, q := range r.Queries {
				fmt.Fprintf(&b, "  %s\n", q)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

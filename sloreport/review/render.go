package review

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Formats are the formats findings render in.
func Formats() []string { return []string{"text", "markdown", "json"} }

// Write renders f in format: "text", "markdown" or "json".
func (f Findings) Write(w io.Writer, format string) error {
	switch format {
	case "text":
		return f.WriteText(w)
	case "markdown":
		return f.WriteMarkdown(w)
	case "json":
		return f.WriteJSON(w)
	}
	return fmt.Errorf("format must be text, markdown or json, not %q", format)
}

// The JSON of findings. Times are RFC 3339 in UTC; ratios are fractions
// of 1; a figure that cannot be computed is null, never 0.
type (
	findingsJSON struct {
		Incident   incidentJSON    `json:"incident"`
		Changes    spanJSON        `json:"changes_window"`
		Timeline   []entryJSON     `json:"timeline"`
		SLOs       []sloJSON       `json:"slos"`
		Requests   *requestsJSON   `json:"requests"`
		Candidates []candidateJSON `json:"candidate_causes"`
		Notes      []string        `json:"notes"`
		At         time.Time       `json:"at"`
	}
	incidentJSON struct {
		ID          string    `json:"id"`
		Service     string    `json:"service"`
		Environment string    `json:"environment"`
		Severity    string    `json:"severity"`
		Start       time.Time `json:"start"`
		// End is null while the incident is open.
		End      *time.Time `json:"end"`
		Resolved bool       `json:"resolved"`
		// DurationSeconds runs to the end, or to "at" while open.
		DurationSeconds   float64 `json:"duration_seconds"`
		Cause             string  `json:"cause"`
		CauseDeploymentID string  `json:"cause_deployment_id,omitempty"`
		ChaosExperimentID string  `json:"chaos_experiment_id,omitempty"`
		AlertFingerprint  string  `json:"alert_fingerprint,omitempty"`
		Source            string  `json:"source"`
	}
	spanJSON struct {
		From time.Time `json:"from"`
		To   time.Time `json:"to"`
	}
	entryJSON struct {
		Time    time.Time  `json:"time"`
		Kind    Kind       `json:"kind"`
		Summary string     `json:"summary"`
		Source  sourceJSON `json:"source"`
	}
	sourceJSON struct {
		EventID string `json:"event_id,omitempty"`
		Query   string `json:"query,omitempty"`
	}
	sloJSON struct {
		Name             string     `json:"name"`
		DisplayName      string     `json:"display_name,omitempty"`
		Objective        float64    `json:"objective"`
		Window           string     `json:"window"`
		EventsDuring     eventsJSON `json:"events_during"`
		BurnRate         *float64   `json:"burn_rate"`
		BudgetSpentRatio *float64   `json:"budget_spent_ratio"`
		BudgetLeftRatio  *float64   `json:"budget_left_ratio"`
		Query            string     `json:"query"`
	}
	eventsJSON struct {
		Total float64 `json:"total"`
		Good  float64 `json:"good"`
		Bad   float64 `json:"bad"`
	}
	requestsJSON struct {
		Before countsJSON  `json:"before"`
		During countsJSON  `json:"during"`
		After  *countsJSON `json:"after"`
		Peak   *peakJSON   `json:"peak"`
		Query  string      `json:"query"`
	}
	countsJSON struct {
		From       time.Time `json:"from"`
		To         time.Time `json:"to"`
		Total      float64   `json:"total"`
		Failed     float64   `json:"failed"`
		ErrorRatio *float64  `json:"error_ratio"`
	}
	peakJSON struct {
		At         time.Time `json:"at"`
		ErrorRatio float64   `json:"error_ratio"`
	}
	candidateJSON struct {
		Kind    string `json:"kind"`
		ID      string `json:"id"`
		Named   bool   `json:"named"`
		Summary string `json:"summary"`
	}
)

// MarshalJSON writes the findings in the API's shape: lists are arrays,
// never null.
func (f Findings) MarshalJSON() ([]byte, error) {
	inc := f.Incident
	out := findingsJSON{
		Incident: incidentJSON{
			ID: inc.ID, Service: inc.Service, Environment: inc.Environment, Severity: inc.Severity,
			Start: inc.Start.UTC(), Resolved: inc.Resolved(), DurationSeconds: inc.Duration.Seconds(),
			Cause: inc.Cause(), CauseDeploymentID: inc.CauseDeploymentID, ChaosExperimentID: inc.ChaosExperimentID,
			AlertFingerprint: inc.Alert, Source: inc.Source,
		},
		Changes:    spanJSON{From: f.From.UTC(), To: f.To.UTC()},
		Timeline:   []entryJSON{},
		SLOs:       []sloJSON{},
		Candidates: []candidateJSON{},
		Notes:      append([]string{}, f.Notes...),
		At:         f.At.UTC(),
	}
	if inc.Resolved() {
		out.Incident.End = ptr(inc.End.UTC())
	}
	for _, e := range f.Entries {
		out.Timeline = append(out.Timeline, entryJSON{Time: e.Time.UTC(), Kind: e.Kind, Summary: e.Summary, Source: sourceJSON(e.Source)})
	}
	for _, b := range f.SLOs {
		out.SLOs = append(out.SLOs, sloJSON{
			Name: b.Name, DisplayName: b.DisplayName, Objective: b.Objective, Window: b.Window,
			EventsDuring: eventsJSON(b.During),
			BurnRate:     b.BurnRate, BudgetSpentRatio: b.BudgetSpent, BudgetLeftRatio: b.BudgetLeft, Query: b.Query,
		})
	}
	if r := f.Requests; r != nil {
		counts := func(c Counts) countsJSON {
			return countsJSON{From: c.From.UTC(), To: c.To.UTC(), Total: c.Total, Failed: c.Failed, ErrorRatio: c.Ratio()}
		}
		rj := &requestsJSON{Before: counts(r.Before), During: counts(r.During), Query: r.Query}
		if r.After != nil {
			rj.After = ptr(counts(*r.After))
		}
		if r.Peak != nil {
			rj.Peak = &peakJSON{At: r.Peak.At.UTC(), ErrorRatio: r.Peak.Ratio}
		}
		out.Requests = rj
	}
	for _, c := range f.Candidates {
		out.Candidates = append(out.Candidates, candidateJSON(c))
	}
	// Summaries are text for people ("<0.01%"), not HTML to escape.
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// WriteJSON writes the findings as indented JSON.
func (f Findings) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return fmt.Errorf("writing findings: %w", err)
	}
	return nil
}

// WriteText writes the findings for a terminal: the incident, its
// timeline, its impact, the candidate causes and the notes.
func (f Findings) WriteText(w io.Writer) error {
	var b strings.Builder
	inc := f.Incident
	fmt.Fprintf(&b, "Incident %s\n", inc.ID)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  service\t%s in %s\n", inc.Service, inc.Environment)
	fmt.Fprintf(tw, "  severity\t%s\n", inc.Severity)
	fmt.Fprintf(tw, "  started\t%s\n", stamp(inc.Start))
	if inc.Resolved() {
		fmt.Fprintf(tw, "  resolved\t%s, after %s\n", stamp(inc.End), formatDuration(inc.Duration))
	} else {
		fmt.Fprintf(tw, "  resolved\tnot yet: open for %s at %s\n", formatDuration(inc.Duration), stamp(f.At))
	}
	fmt.Fprintf(tw, "  cause\t%s\n", inc.Cause())
	fmt.Fprintf(tw, "  opened by\t%s\n", openedBy(inc))
	_ = tw.Flush()

	fmt.Fprintf(&b, "\nTimeline (changes from %s)\n", stamp(f.From))
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, e := range f.Entries {
		// The summary is the last cell: only time and kind are aligned.
		fmt.Fprintf(tw, "  %s\t%s\t%s [%s]\n", stamp(e.Time), e.Kind, e.Summary, e.Source)
	}
	_ = tw.Flush()

	if len(f.SLOs) > 0 {
		b.WriteString("\nError budget burned\n")
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  SLO\tOBJECTIVE\tWINDOW\tBAD DURING\tBUDGET BURNED\tBUDGET LEFT")
		for _, s := range f.SLOs {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s of %s\t%s\t%s\n", s.Name, percent(s.Objective), s.Window,
				count(s.During.Bad), count(s.During.Total), optPercent(s.BudgetSpent), optPercent(s.BudgetLeft))
		}
		_ = tw.Flush()
	}
	if r := f.Requests; r != nil {
		b.WriteString("\nRequests (" + r.Query + ")\n")
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  before\t%s\n", describeCounts(r.Before))
		fmt.Fprintf(tw, "  during\t%s\n", describeCounts(r.During))
		if r.After != nil {
			fmt.Fprintf(tw, "  after\t%s\n", describeCounts(*r.After))
		}
		if r.Peak != nil {
			fmt.Fprintf(tw, "  peak\t%s over %s at %s\n", percent(r.Peak.Ratio), formatDuration(peakWindow), stamp(r.Peak.At))
		}
		_ = tw.Flush()
	}
	b.WriteString("\nCandidate causes (for the team to confirm or rule out)\n")
	if len(f.Candidates) == 0 {
		b.WriteString("  none recorded\n")
	}
	for _, c := range f.Candidates {
		fmt.Fprintf(&b, "  - %s\n", c.Summary)
	}
	if len(f.Notes) > 0 {
		b.WriteString("\nNotes\n")
		for _, n := range f.Notes {
			fmt.Fprintf(&b, "  - %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("writing findings: %w", err)
	}
	return nil
}

// openedBy says what opened the incident.
func openedBy(inc Incident) string {
	if inc.Alert != "" {
		return fmt.Sprintf("alert %s from %s", inc.Alert, inc.Source)
	}
	return "an event from " + inc.Source
}

// stamp writes a time in RFC 3339, UTC.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// formatDuration writes d to the second in its non-zero units: "1h20m",
// "45m", "2d3h", "0s".
func formatDuration(d time.Duration) string {
	secs := int64(d.Round(time.Second) / time.Second)
	if secs <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		n    int64
		unit string
	}{{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}} {
		if n := secs / u.n; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.unit)
			secs -= n * u.n
		}
	}
	return b.String()
}

// percent writes a ratio as a percentage to two decimals, without
// trailing zeros: "27.78%", "99.9%", "<0.01%" for a sliver above zero.
func percent(r float64) string {
	p := r * 100
	if p > 0 && p < 0.005 {
		return "<0.01%"
	}
	return strconv.FormatFloat(math.Round(p*100)/100, 'f', -1, 64) + "%"
}

func optPercent(r *float64) string {
	if r == nil {
		return "n/a"
	}
	return percent(*r)
}

// count writes a count of events with its thousands grouped: whole
// numbers as such, others to two decimals (a counter's increase is
// whole, a skewed scrape's may not be).
func count(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	if v == math.Trunc(v) {
		s = strconv.FormatFloat(v, 'f', 0, 64)
	}
	whole, frac, _ := strings.Cut(s, ".")
	sign := ""
	if strings.HasPrefix(whole, "-") {
		sign, whole = "-", whole[1:]
	}
	var b strings.Builder
	for i, d := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	if frac != "" {
		return sign + b.String() + "." + frac
	}
	return sign + b.String()
}

package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Summary is a result as data, for --json and for scripts.
type Summary struct {
	Rate        int     `json:"rate"`
	MaxInFlight int     `json:"max_in_flight"`
	DurationS   float64 `json:"duration_s"`
	Achieved    float64 `json:"achieved_rate"`
	Stats
	Routes []RouteSummary `json:"routes"`
	// Memory is present when a PID was given.
	Memory *MemorySummary `json:"memory,omitempty"`
}

// Stats are the figures of a run or a route.
type Stats struct {
	Sent     int64          `json:"sent"`
	Errors   int64          `json:"errors"`
	ByKind   []Count        `json:"errors_by_kind"`
	Statuses map[int]int64  `json:"statuses"`
	Latency  LatencySummary `json:"latency_ms"`
}

// LatencySummary are latency percentiles in milliseconds.
type LatencySummary struct {
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

// RouteSummary is one route's figures.
type RouteSummary struct {
	Name   string `json:"name"`
	Weight int    `json:"weight"`
	Stats
}

// MemorySummary is the memory of the process under load over the run.
type MemorySummary struct {
	Samples []MemorySample `json:"samples"`
	Peak    Memory         `json:"peak"`
	// AnonSlopeKBPerMin and AnonSlopePctPerMin are the slope of RssAnon
	// over the run (least squares); RssFile's beside them.
	AnonSlopeKBPerMin  float64 `json:"rss_anon_slope_kb_per_min"`
	AnonSlopePctPerMin float64 `json:"rss_anon_slope_pct_per_min"`
	FileSlopeKBPerMin  float64 `json:"rss_file_slope_kb_per_min"`
	FileSlopePctPerMin float64 `json:"rss_file_slope_pct_per_min"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (f *Figures) stats() Stats {
	return Stats{Sent: f.Sent, Errors: f.Errors, ByKind: f.ErrorCounts(), Statuses: f.Statuses,
		Latency: LatencySummary{ms(f.Percentile(50)), ms(f.Percentile(99)), ms(f.Percentile(99.9)), ms(f.Max())}}
}

// Summary is the result as data.
func (r *Result) Summary() Summary {
	s := Summary{Rate: r.Rate, MaxInFlight: r.MaxInFlight, DurationS: r.Elapsed.Seconds(), Achieved: r.Achieved(), Stats: r.stats()}
	for _, rt := range r.Routes {
		s.Routes = append(s.Routes, RouteSummary{Name: rt.Name, Weight: rt.Weight, Stats: rt.stats()})
	}
	if len(r.Memory) > 0 {
		m := &MemorySummary{Samples: r.Memory, Peak: Peak(r.Memory)}
		m.AnonSlopeKBPerMin, m.AnonSlopePctPerMin, _ = Slope(r.Memory, RssAnon)
		m.FileSlopeKBPerMin, m.FileSlopePctPerMin, _ = Slope(r.Memory, RssFile)
		s.Memory = m
	}
	return s
}

// WriteJSON writes the summary as one JSON document.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r.Summary())
}

// WriteText writes the result for a person: the totals, each route, and
// the memory over time with its slope.
func (r *Result) WriteText(w io.Writer) error {
	s := r.Summary()
	var b strings.Builder
	fmt.Fprintf(&b, "rate %d req/s asked, %.1f req/s achieved over %.1f s (open loop, at most %d in flight)\n",
		s.Rate, s.Achieved, s.DurationS, s.MaxInFlight)
	fmt.Fprintf(&b, "sent %d, errors %s\n", s.Sent, r.ErrorText())
	fmt.Fprintf(&b, "latency from due time: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n",
		s.Latency.P50, s.Latency.P99, s.Latency.P999, s.Latency.Max)
	if len(s.Routes) > 1 {
		b.WriteString("\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "route\tweight\tsent\terrors\tp50 ms\tp99 ms\tp99.9 ms")
		for i, rt := range s.Routes {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%.2f\t%.2f\t%.2f\n", rt.Name, rt.Weight, rt.Sent,
				r.Routes[i].ErrorText(), rt.Latency.P50, rt.Latency.P99, rt.Latency.P999)
		}
		_ = tw.Flush()
	}
	if m := s.Memory; m != nil {
		b.WriteString("\nmemory of the target (MiB)\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "t\tRssAnon\tRssFile\tRSS\t")
		for _, sm := range thin(m.Samples, 12) {
			fmt.Fprintf(tw, "%.0fs\t%.1f\t%.1f\t%.1f\t\n", sm.At.Seconds(), mib(sm.Anon), mib(sm.File), mib(sm.RSS))
		}
		_ = tw.Flush()
		fmt.Fprintf(&b, "RssAnon %s  slope %+.2f MiB/min (%+.2f%%/min), peak %.1f MiB\n",
			Sparkline(m.Samples, RssAnon, 40), m.AnonSlopeKBPerMin/1024, m.AnonSlopePctPerMin, mib(m.Peak.Anon))
		fmt.Fprintf(&b, "RssFile %s  slope %+.2f MiB/min (%+.2f%%/min), peak %.1f MiB\n",
			Sparkline(m.Samples, RssFile, 40), m.FileSlopeKBPerMin/1024, m.FileSlopePctPerMin, mib(m.Peak.File))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mib(kb int64) float64 { return float64(kb) / 1024 }

// thin keeps at most n samples, evenly spread, the first and the last
// among them.
func thin(s []MemorySample, n int) []MemorySample {
	if len(s) <= n {
		return s
	}
	out := make([]MemorySample, 0, n)
	for i := range n {
		out = append(out, s[i*(len(s)-1)/(n-1)])
	}
	return out
}

package metrics

import (
	"fmt"
	"math/big"
	"slices"
	"sort"
	"time"

	"github.com/estatehq/estate/internal/timebound"
)

// Window is the half-open interval [From, To) a report covers.
type Window struct {
	From time.Time
	To   time.Time
}

// Validate reports a window that is empty, not set, or outside the
// instants UnixNano holds.
func (w Window) Validate() error {
	switch {
	case w.From.IsZero():
		return Invalid("from", "is required")
	case w.To.IsZero():
		return Invalid("to", "is required")
	case timebound.Check(w.From) != nil:
		return Invalid("from", timebound.ErrRange.Error())
	case timebound.Check(w.To) != nil:
		return Invalid("to", timebound.ErrRange.Error())
	case !w.From.Before(w.To):
		return Invalid("from", fmt.Sprintf("(%s) must be before to (%s)", w.From.UTC().Format(time.RFC3339), w.To.UTC().Format(time.RFC3339)))
	}
	return nil
}

// Contains reports whether t is in [From, To).
func (w Window) Contains(t time.Time) bool { return !t.Before(w.From) && t.Before(w.To) }

// Options change what Compute counts.
type Options struct {
	// IncludeChaos counts incidents caused by chaos experiments in the
	// incidents, downtime, MTTR and MTBF. They are always counted in
	// chaos_incidents.
	IncludeChaos bool
}

// Report is the reliability report over one window. Its JSON is the API's
// and the CLI's output, field for field.
type Report struct {
	From     time.Time       `json:"from"`
	To       time.Time       `json:"to"`
	Services []ServiceReport `json:"services"`
	// IncludeChaos records the option the report was computed with.
	IncludeChaos bool `json:"-"`
}

// ServiceReport holds the figures of one service in one environment. Ratios
// and durations with no sample are nil (JSON null), never 0.
//
// Ratios and the deployment frequency are rounded half up to 7 decimal
// places; durations are in seconds, rounded half up to the millisecond.
// Every figure is computed exactly (integer nanoseconds, exact fractions)
// before that one rounding.
type ServiceReport struct {
	Service                   string    `json:"service"`
	Environment               string    `json:"environment"`
	Deployments               int       `json:"deployments"`
	FailedDeployments         int       `json:"failed_deployments"`
	Rollbacks                 int       `json:"rollbacks"`
	RollbackRate              *float64  `json:"rollback_rate"`
	ChangeFailureRate         *float64  `json:"change_failure_rate"`
	DeploymentFrequencyPerDay float64   `json:"deployment_frequency_per_day"`
	LeadTimeSeconds           *LeadTime `json:"lead_time_seconds"`
	Incidents                 int       `json:"incidents"`
	DowntimeSeconds           float64   `json:"downtime_seconds"`
	MTTRSeconds               *float64  `json:"mttr_seconds"`
	MTTRMedianSeconds         *float64  `json:"mttr_median_seconds"`
	MTBFSeconds               *float64  `json:"mtbf_seconds"`
	ChaosIncidents            int       `json:"chaos_incidents"`

	// Sample sizes, shown by the text report; the JSON carries them
	// implicitly (deployments, incidents) or not at all.

	// ChangeFailures is the numerator of the change failure rate.
	ChangeFailures int `json:"-"`
	// LeadTimeSamples is the number of commits behind the lead time.
	LeadTimeSamples int `json:"-"`
	// MTTRSamples is the number of incidents resolved in the window.
	MTTRSamples int `json:"-"`
}

// LeadTime is the lead time for changes: nearest-rank percentiles of
// (success time - commit time) over every commit of every production
// deployment in the window, in seconds.
type LeadTime struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
}

// Compute computes the report of every (service, environment) that has at
// least one deployment or incident in the input, whatever its time, sorted
// by service then environment. It is a pure function of its arguments; the
// definitions are those of docs/metrics.md:
//
//   - D, the production deployments: succeeded, success time in the window.
//   - failed deployments: failed (and never succeeded), failure time in the
//     window.
//   - rollbacks: deployments in D with a rolled_back event before To;
//     rollback rate = rollbacks / |D|.
//   - change failures: deployments in D rolled back before To, or named as
//     cause_deployment_id by an incident (of any service) that started
//     before To; change failure rate = change failures / |D|.
//   - deployment frequency = |D| / window length in days.
//   - lead time: p50 and p90, nearest rank, of success time - committed_at
//     over every commit of every deployment in D.
//   - I, the incidents: those of the service and environment, without the
//     chaos ones unless Options.IncludeChaos; incidents = |I started in the
//     window|; chaos incidents = chaos incidents started in the window.
//   - downtime: length of the union of [started_at, resolved time or To)
//     over I, clipped to the window.
//   - MTTR: mean and nearest-rank median of resolved time - started_at over
//     the incidents of I resolved in the window.
//   - MTBF = (window length - downtime) / incidents.
//
// A difference that would be negative (a commit time after the success, a
// resolution before the start: clocks of different sources disagree) counts
// as zero.
func Compute(deployments []Deployment, incidents []Incident, w Window, o Options) (Report, error) {
	if err := w.Validate(); err != nil {
		return Report{}, fmt.Errorf("computing report: %w", err)
	}
	type key struct{ service, environment string }
	// Groups point into the arguments: copying the structs would cost more
	// than the computation.
	type group struct {
		deployments []*Deployment
		incidents   []*Incident
	}
	groups := map[key]*group{}
	get := func(k key) *group {
		g, ok := groups[k]
		if !ok {
			g = &group{}
			groups[k] = g
		}
		return g
	}
	causes := map[string]bool{}
	for k := range deployments {
		if d := &deployments[k]; d.Started {
			g := get(key{d.Service, d.Environment})
			g.deployments = append(g.deployments, d)
		}
	}
	for k := range incidents {
		i := &incidents[k]
		if !i.Opened {
			continue
		}
		g := get(key{i.Service, i.Environment})
		g.incidents = append(g.incidents, i)
		if i.CauseDeploymentID != "" && i.StartedAt.Before(w.To) {
			causes[i.CauseDeploymentID] = true
		}
	}

	keys := make([]key, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		if keys[a].service != keys[b].service {
			return keys[a].service < keys[b].service
		}
		return keys[a].environment < keys[b].environment
	})

	r := Report{From: w.From.UTC(), To: w.To.UTC(), Services: make([]ServiceReport, 0, len(keys)), IncludeChaos: o.IncludeChaos}
	for _, k := range keys {
		g := groups[k]
		s := ServiceReport{Service: k.service, Environment: k.environment}
		computeDeployments(&s, g.deployments, causes, w)
		computeIncidents(&s, g.incidents, w, o)
		r.Services = append(r.Services, s)
	}
	return r, nil
}

func computeDeployments(s *ServiceReport, deployments []*Deployment, causes map[string]bool, w Window) {
	var leadTimes []int64
	for _, d := range deployments {
		if d.Failed() && w.Contains(d.FailedAt) {
			s.FailedDeployments++
		}
		if !d.Succeeded() || !w.Contains(d.SucceededAt) {
			continue
		}
		s.Deployments++
		rolledBack := d.RolledBack() && d.RolledBackAt.Before(w.To)
		if rolledBack {
			s.Rollbacks++
		}
		if rolledBack || causes[d.ID] {
			s.ChangeFailures++
		}
		for _, c := range d.Commits {
			leadTimes = append(leadTimes, nonNegative(d.SucceededAt.Sub(c.CommittedAt)))
		}
	}
	s.RollbackRate = ratio(s.Rollbacks, s.Deployments)
	s.ChangeFailureRate = ratio(s.ChangeFailures, s.Deployments)
	s.DeploymentFrequencyPerDay = perDay(s.Deployments, w.To.Sub(w.From))
	s.LeadTimeSamples = len(leadTimes)
	if len(leadTimes) > 0 {
		sortInt64s(leadTimes)
		s.LeadTimeSeconds = &LeadTime{
			P50: seconds(nearestRank(leadTimes, 50)),
			P90: seconds(nearestRank(leadTimes, 90)),
		}
	}
}

func computeIncidents(s *ServiceReport, incidents []*Incident, w Window, o Options) {
	var (
		repairs   []int64
		intervals []interval
	)
	for _, i := range incidents {
		if i.Chaos() && w.Contains(i.StartedAt) {
			s.ChaosIncidents++
		}
		if i.Chaos() && !o.IncludeChaos {
			continue
		}
		if w.Contains(i.StartedAt) {
			s.Incidents++
		}
		if i.Resolved() && w.Contains(i.ResolvedAt) {
			repairs = append(repairs, nonNegative(i.ResolvedAt.Sub(i.StartedAt)))
		}
		end := w.To
		if i.Resolved() && i.ResolvedAt.Before(end) {
			end = i.ResolvedAt
		}
		start := i.StartedAt
		if start.Before(w.From) {
			start = w.From
		}
		if start.Before(end) {
			intervals = append(intervals, interval{start, end})
		}
	}
	downtime := unionLength(intervals)
	s.DowntimeSeconds = seconds(int64(downtime))
	s.MTTRSamples = len(repairs)
	if len(repairs) > 0 {
		sortInt64s(repairs)
		mean := meanSeconds(repairs)
		median := seconds(nearestRank(repairs, 50))
		s.MTTRSeconds, s.MTTRMedianSeconds = &mean, &median
	}
	if s.Incidents > 0 {
		up := big.NewInt(int64(w.To.Sub(w.From) - downtime))
		mtbf := roundedSeconds(up, big.NewInt(int64(s.Incidents)))
		s.MTBFSeconds = &mtbf
	}
}

type interval struct{ start, end time.Time }

// unionLength is the total length covered by the intervals, each counted
// once however many overlap.
func unionLength(ivs []interval) time.Duration {
	if len(ivs) == 0 {
		return 0
	}
	sort.Slice(ivs, func(a, b int) bool { return ivs[a].start.Before(ivs[b].start) })
	var total time.Duration
	cur := ivs[0]
	for _, iv := range ivs[1:] {
		if iv.start.After(cur.end) {
			total += cur.end.Sub(cur.start)
			cur = iv
			continue
		}
		if iv.end.After(cur.end) {
			cur.end = iv.end
		}
	}
	return total + cur.end.Sub(cur.start)
}

func nonNegative(d time.Duration) int64 {
	if d < 0 {
		return 0
	}
	return int64(d)
}

func sortInt64s(a []int64) { slices.Sort(a) }

// nearestRank returns the p-th percentile of sorted by the nearest-rank
// method: the value at rank ceil(p/100 * n), ranks counted from 1. For
// p = 50 and an even n that is the lower of the two middle values.
func nearestRank(sorted []int64, p int) int64 {
	n := len(sorted)
	rank := (p*n + 99) / 100
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

const (
	ratioScale = 10_000_000 // 7 decimal places
	nsPerMilli = int64(time.Millisecond)
)

// ratio is num/den rounded half up to 7 decimal places; nil when den is 0.
func ratio(num, den int) *float64 {
	if den == 0 {
		return nil
	}
	q := roundDiv(new(big.Int).Mul(big.NewInt(int64(num)), big.NewInt(ratioScale)), big.NewInt(int64(den)))
	f := float64(q) / ratioScale
	return &f
}

// perDay is n per window length in days, rounded half up to 7 decimals.
func perDay(n int, window time.Duration) float64 {
	num := new(big.Int).Mul(big.NewInt(int64(n)), big.NewInt(int64(24*time.Hour)))
	num.Mul(num, big.NewInt(ratioScale))
	return float64(roundDiv(num, big.NewInt(int64(window)))) / ratioScale
}

// seconds converts nanoseconds to seconds, rounded half up to the
// millisecond.
func seconds(ns int64) float64 { return roundedSeconds(big.NewInt(ns), big.NewInt(1)) }

// meanSeconds is the exact mean of the durations, in seconds rounded half up
// to the millisecond. The sum is a big integer: a year of incidents would
// overflow 64 bits of nanoseconds.
func meanSeconds(ns []int64) float64 {
	sum := new(big.Int)
	for _, v := range ns {
		sum.Add(sum, big.NewInt(v))
	}
	return roundedSeconds(sum, big.NewInt(int64(len(ns))))
}

// roundedSeconds is (num / den) nanoseconds in seconds, rounded half up to
// the millisecond.
func roundedSeconds(num, den *big.Int) float64 {
	ms := roundDiv(num, new(big.Int).Mul(den, big.NewInt(nsPerMilli)))
	return float64(ms) / 1000
}

// roundDiv is num/den rounded half up, for num >= 0 and den > 0.
func roundDiv(num, den *big.Int) int64 {
	twice := new(big.Int).Lsh(num, 1)
	twice.Add(twice, den)
	return twice.Quo(twice, new(big.Int).Lsh(den, 1)).Int64()
}

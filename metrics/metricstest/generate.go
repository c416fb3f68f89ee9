package metricstest

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/estatehq/estate/metrics"
)

// GenerateOptions shape a synthetic event log.
type GenerateOptions struct {
	// Seed makes the log reproducible.
	Seed uint64
	// Services is the number of services, each in production; default 50.
	Services int
	// From and To bound the event times; default one year up to
	// 2026-11-09T00:00:00Z.
	From, To time.Time
	// DeploymentsPerDay and IncidentsPerDay are per service; defaults 2.5
	// and 0.4.
	DeploymentsPerDay float64
	IncidentsPerDay   float64
}

// Generate makes a realistic event log: per service, deployments with one
// to three commits that mostly succeed (5% fail, 3% never finish, 8% of the
// successes are rolled back), and incidents that mostly get resolved (10%
// from chaos experiments, 20% naming a recent deployment as their cause).
// The defaults give about 100,000 events for a year of 50 services. Events
// come out sorted by time.
func Generate(o GenerateOptions) []metrics.Event {
	if o.Services == 0 {
		o.Services = 50
	}
	if o.To.IsZero() {
		o.To = time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC)
	}
	if o.From.IsZero() {
		o.From = o.To.AddDate(-1, 0, 0)
	}
	if o.DeploymentsPerDay == 0 {
		o.DeploymentsPerDay = 2.5
	}
	if o.IncidentsPerDay == 0 {
		o.IncidentsPerDay = 0.4
	}
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x5eed))
	span := o.To.Sub(o.From)
	days := span.Hours() / 24
	randTime := func() time.Time {
		return o.From.Add(time.Duration(rng.Int64N(int64(span)))).Truncate(time.Second)
	}
	minutes := func(lo, hi int) time.Duration { return time.Duration(lo+rng.IntN(hi-lo+1)) * time.Minute }

	var events []metrics.Event
	for s := range o.Services {
		service := fmt.Sprintf("svc-%02d", s)
		source := "https://ci.example.com/" + service
		var succeeded []string
		nDeploys := int(o.DeploymentsPerDay * days)
		starts := make([]time.Time, nDeploys)
		for i := range starts {
			starts[i] = randTime()
		}
		sort.Slice(starts, func(a, b int) bool { return starts[a].Before(starts[b]) })
		for i, start := range starts {
			id := fmt.Sprintf("%s-dep-%05d", service, i)
			commits := make([]metrics.Commit, 1+rng.IntN(3))
			for c := range commits {
				commits[c] = metrics.Commit{
					SHA:         fmt.Sprintf("%s%06x%02d", service, i, c),
					CommittedAt: start.Add(-minutes(30, 5*24*60)),
				}
			}
			events = append(events, metrics.Event{ID: id + "/started", Source: source, Time: start,
				Data: metrics.DeploymentStarted{DeploymentID: id, Service: service, Environment: "production",
					Version: fmt.Sprintf("1.%d.0", i), Commits: commits}})
			end := start.Add(minutes(5, 30))
			switch p := rng.Float64(); {
			case p < 0.05:
				events = append(events, metrics.Event{ID: id + "/failed", Source: source, Time: end,
					Data: metrics.DeploymentFailed{DeploymentID: id}})
			case p < 0.08:
				// Never finished: only the started event.
			default:
				events = append(events, metrics.Event{ID: id + "/succeeded", Source: source, Time: end,
					Data: metrics.DeploymentSucceeded{DeploymentID: id}})
				succeeded = append(succeeded, id)
				if rng.Float64() < 0.08 {
					events = append(events, metrics.Event{ID: id + "/rolled_back", Source: source, Time: end.Add(minutes(10, 120)),
						Data: metrics.DeploymentRolledBack{DeploymentID: id, ToVersion: fmt.Sprintf("1.%d.0", max(i-1, 0))}})
				}
			}
		}
		nIncidents := int(o.IncidentsPerDay * days)
		for i := range nIncidents {
			id := fmt.Sprintf("%s-inc-%05d", service, i)
			start := randTime()
			d := metrics.IncidentOpened{IncidentID: id, Service: service, Environment: "production",
				Severity: []string{"critical", "warning", "info"}[rng.IntN(3)]}
			switch p := rng.Float64(); {
			case p < 0.1:
				d.ChaosExperimentID = fmt.Sprintf("%s-exp-%05d", service, i)
			case p < 0.3 && len(succeeded) > 0:
				d.CauseDeploymentID = succeeded[rng.IntN(len(succeeded))]
			}
			events = append(events, metrics.Event{ID: id + "/opened", Source: "https://alertmanager.example.com", Time: start, Data: d})
			if rng.Float64() < 0.95 {
				events = append(events, metrics.Event{ID: id + "/resolved", Source: "https://alertmanager.example.com",
					Time: start.Add(minutes(5, 240)), Data: metrics.IncidentResolved{IncidentID: id}})
			}
		}
	}
	sort.SliceStable(events, func(a, b int) bool { return events[a].Time.Before(events[b].Time) })
	return events
}

package demo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/estatehq/estate/metrics"
)

// HistoryServices are the services of the scripted history: the two of
// the estate and three more, so that the report compares teams.
var HistoryServices = []string{"invoicing", "credit", "payments", "notifications", "web"}

// historySource is the CloudEvents source of every history event: with
// the ids, what makes a second post of the same day a duplicate.
const historySource = "urn:estate:demo:delivery"

// environment is the environment of everything the history tells.
const environment = "production"

// History is the delivery history of the weeks before anchor, and of the
// days from anchor to now: for each calendar day and service, deployments
// (some failed, some rolled back) with their commits, incidents caused by
// some of them or by nothing known, and on Thursdays a game day against
// credit whose incident is chaos's. Each day is drawn from the seed, the
// day and its distance to anchor alone, and each event's id from the day,
// so a later call with the same anchor draws the days it shares with an
// earlier one identically: posting both stores each event once. Events
// after now are left out (a later call adds them). The past is worse than
// the anchor's present, so the report shows trends: fewer deployments,
// more of them failing, longer lead times.
func History(seed uint64, weeks int, anchor, now time.Time) []metrics.Event {
	now = now.UTC()
	anchor = anchor.UTC().Truncate(24 * time.Hour)
	first := anchor.AddDate(0, 0, -7*weeks)
	var out []metrics.Event
	for day := first; !day.After(now); day = day.AddDate(0, 0, 1) {
		// age is 1 at the start of the history and 0 from anchor on.
		age := max(0, float64(anchor.Sub(day))/float64(anchor.Sub(first)))
		for i, svc := range HistoryServices {
			out = append(out, historyDay(seed, svc, i, day, age)...)
		}
		out = append(out, gameDay(day)...)
	}
	out = append(out, badDeployment(anchor.AddDate(0, 0, -1))...)
	out = slices.DeleteFunc(out, func(e metrics.Event) bool { return e.Time.After(now) })
	metrics.SortEvents(out)
	return out
}

// anchorFile keeps, under the demo's directory, the day of the first
// start: the history's present.
const anchorFile = "history-anchor"

// Anchor is the day the demo first started in dir, recorded there on the
// first call; today when dir is empty.
func Anchor(dir string, now time.Time) (time.Time, error) {
	today := now.UTC().Truncate(24 * time.Hour)
	if dir == "" {
		return today, nil
	}
	path := filepath.Join(dir, anchorFile)
	b, err := os.ReadFile(path)
	if err == nil {
		t, err := time.Parse(time.DateOnly, strings.TrimSpace(string(b)))
		if err != nil {
			return time.Time{}, fmt.Errorf("reading %s: %w", path, err)
		}
		return t, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, fmt.Errorf("reading the history's anchor: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return time.Time{}, fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := os.WriteFile(path, []byte(today.Format(time.DateOnly)+"\n"), 0o600); err != nil {
		return time.Time{}, fmt.Errorf("writing the history's anchor: %w", err)
	}
	return today, nil
}

// historyDay draws one service's day.
func historyDay(seed uint64, svc string, index int, day time.Time, age float64) []metrics.Event {
	dayNo := uint64(day.Unix() / 86400) //nolint:gosec // days since 1970, positive
	rng := rand.New(rand.NewPCG(seed, dayNo<<8|uint64(index)))
	var out []metrics.Event
	ev := func(id string, at time.Time, d metrics.Data) {
		out = append(out, metrics.Event{ID: id, Source: historySource, Time: at.UTC(), Data: d})
	}
	// Draw every number of the day whether it is used or not, so that
	// the weekend's quiet does not shift a weekday's draw.
	weekend := day.Weekday() == time.Saturday || day.Weekday() == time.Sunday
	deploys := rng.IntN(2 + int(3*(1-age)))
	if weekend {
		deploys = 0
	}
	date := day.Format("20060102")
	prevVersion := day.AddDate(0, 0, -1).Format("2006.01.02") + ".1"
	start := day.Add(9 * time.Hour)
	for n := 1; n <= deploys; n++ {
		id := fmt.Sprintf("%s-%s-%d", svc, date, n)
		version := day.Format("2006.01.02") + "." + strconv.Itoa(n)
		start = start.Add(time.Duration(30+rng.IntN(150)) * time.Minute)
		took := time.Duration(4+rng.IntN(14)) * time.Minute
		// Lead time: from a few hours today to days six weeks ago.
		lead := time.Duration((2 + rng.Float64()*(6+60*age)) * float64(time.Hour))
		var commits []metrics.Commit
		for k := range 1 + rng.IntN(4) {
			sum := sha256.Sum256([]byte(id + "/" + strconv.Itoa(k)))
			at := start.Add(-time.Duration(float64(lead) * (0.4 + 0.6*rng.Float64()))).Truncate(time.Second)
			commits = append(commits, metrics.Commit{SHA: hex.EncodeToString(sum[:20]), CommittedAt: at.UTC()})
		}
		ev(id+"-started", start, metrics.DeploymentStarted{DeploymentID: id, Service: svc, Environment: environment, Version: version, Commits: commits})
		fate, incidentAfter, fixIn := rng.Float64(), time.Duration(5+rng.IntN(20))*time.Minute, time.Duration(15+rng.IntN(100))*time.Minute
		failP, rollbackP := 0.03+0.07*age, 0.04+0.10*age
		switch {
		case fate < failP:
			ev(id+"-failed", start.Add(took), metrics.DeploymentFailed{DeploymentID: id})
			continue
		case fate < failP+rollbackP:
			done := start.Add(took)
			ev(id+"-succeeded", done, metrics.DeploymentSucceeded{DeploymentID: id})
			opened := done.Add(incidentAfter)
			inc := "inc-" + id
			ev(inc+"-opened", opened, metrics.IncidentOpened{IncidentID: inc, Service: svc, Environment: environment,
				Severity: "critical", CauseDeploymentID: id})
			ev(id+"-rolled-back", opened.Add(fixIn/2), metrics.DeploymentRolledBack{DeploymentID: id, ToVersion: prevVersion})
			ev(inc+"-resolved", opened.Add(fixIn), metrics.IncidentResolved{IncidentID: inc})
		default:
			ev(id+"-succeeded", start.Add(took), metrics.DeploymentSucceeded{DeploymentID: id})
			prevVersion = version
		}
	}
	// Now and then an incident no deployment is known to have caused.
	if rng.Float64() < 0.02+0.04*age {
		inc := fmt.Sprintf("inc-%s-%s-alert", svc, date)
		opened := day.Add(time.Duration(rng.IntN(24*60)) * time.Minute)
		ev(inc+"-opened", opened, metrics.IncidentOpened{IncidentID: inc, Service: svc, Environment: environment, Severity: "warning"})
		ev(inc+"-resolved", opened.Add(time.Duration(20+rng.IntN(200))*time.Minute), metrics.IncidentResolved{IncidentID: inc})
	}
	return out
}

// BadDeploymentID is the deployment of the day before the anchor that
// the history always holds: invoicing's release at 10:00 that raised its
// errors, opened a critical incident and was rolled back. Whatever the
// day, a report of the last seven days shows a rollback, its incident and
// their MTTR.
func BadDeploymentID(anchor time.Time) string {
	return "invoicing-" + anchor.UTC().Truncate(24*time.Hour).AddDate(0, 0, -1).Format("20060102") + "-bad"
}

// badDeployment is BadDeploymentID's events, on day.
func badDeployment(day time.Time) []metrics.Event {
	id := "invoicing-" + day.Format("20060102") + "-bad"
	start := day.Add(10 * time.Hour)
	sum := sha256.Sum256([]byte(id))
	inc := "inc-" + id
	ev := func(suffix string, at time.Time, d metrics.Data) metrics.Event {
		return metrics.Event{ID: id + suffix, Source: historySource, Time: at.UTC(), Data: d}
	}
	return []metrics.Event{
		ev("-started", start, metrics.DeploymentStarted{DeploymentID: id, Service: "invoicing", Environment: environment,
			Version: day.Format("2006.01.02") + ".9",
			Commits: []metrics.Commit{{SHA: hex.EncodeToString(sum[:20]), CommittedAt: start.Add(-5 * time.Hour).UTC()}}}),
		ev("-succeeded", start.Add(7*time.Minute), metrics.DeploymentSucceeded{DeploymentID: id}),
		{ID: inc + "-opened", Source: historySource, Time: start.Add(12 * time.Minute).UTC(), Data: metrics.IncidentOpened{
			IncidentID: inc, Service: "invoicing", Environment: environment, Severity: "critical", CauseDeploymentID: id}},
		// The post-deploy analysis failed it before the incident's
		// responders rolled it back: the rollback counts as decided
		// automatically.
		ev("-analysed", start.Add(11*time.Minute), metrics.DeploymentAnalysed{DeploymentID: id, Verdict: metrics.VerdictFailed,
			Reason: "errors rose from 0.21% to 9.7% (p = 3.1e-41)"}),
		ev("-rollback-recommended", start.Add(11*time.Minute), metrics.DeploymentRollbackRecommended{DeploymentID: id,
			Reason: "errors rose from 0.21% to 9.7% (p = 3.1e-41)"}),
		ev("-rolled-back", start.Add(31*time.Minute), metrics.DeploymentRolledBack{DeploymentID: id, ToVersion: day.Format("2006.01.02") + ".1"}),
		{ID: inc + "-resolved", Source: historySource, Time: start.Add(40 * time.Minute).UTC(), Data: metrics.IncidentResolved{IncidentID: inc}},
	}
}

// gameDay is Thursday's game day against credit: a latency fault at 14:00
// whose hypothesis breaks every other week, opening an incident that the
// report counts as chaos's.
func gameDay(day time.Time) []metrics.Event {
	if day.Weekday() != time.Thursday {
		return nil
	}
	id := "gameday-credit-" + day.Format("20060102")
	at := day.Add(14 * time.Hour)
	kind, target := "http-latency", "credit/"+environment
	_, week := day.ISOWeek()
	outcome := "hypothesis_held"
	out := []metrics.Event{
		{ID: id + "-started", Source: historySource, Time: at, Data: metrics.ChaosStarted{ExperimentID: id, Kind: kind, Target: target}},
	}
	if week%2 == 0 {
		outcome = "hypothesis_broken"
		inc := "inc-" + id
		out = append(out,
			metrics.Event{ID: inc + "-opened", Source: historySource, Time: at.Add(2 * time.Minute), Data: metrics.IncidentOpened{
				IncidentID: inc, Service: "credit", Environment: environment, Severity: "minor", ChaosExperimentID: id}},
			metrics.Event{ID: inc + "-resolved", Source: historySource, Time: at.Add(14 * time.Minute), Data: metrics.IncidentResolved{IncidentID: inc}})
	}
	return append(out, metrics.Event{ID: id + "-finished", Source: historySource, Time: at.Add(10 * time.Minute),
		Data: metrics.ChaosFinished{ExperimentID: id, Kind: kind, Target: target, Outcome: outcome}})
}

// historyBatch is how many events one request carries: well under the
// collector's default body limit.
const historyBatch = 200

// PostHistory posts events to the collector's events API in batches;
// events already stored count as duplicates there and change nothing.
// It returns how many were new.
func PostHistory(ctx context.Context, hc *http.Client, collectorURL string, events []metrics.Event) (int, error) {
	accepted := 0
	for chunk := range slices.Chunk(events, historyBatch) {
		body, err := json.Marshal(chunk)
		if err != nil {
			return accepted, fmt.Errorf("encoding events: %w", err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, collectorURL+"/v1/events", bytes.NewReader(body))
		if err != nil {
			return accepted, err
		}
		req.Header.Set("Content-Type", "application/cloudevents-batch+json")
		resp, err := hc.Do(req)
		if err != nil {
			return accepted, fmt.Errorf("posting events: %w", err)
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			return accepted, fmt.Errorf("posting events: the collector answered %d: %s", resp.StatusCode, bytes.TrimSpace(b))
		}
		var result struct {
			Accepted int `json:"accepted"`
		}
		_ = json.Unmarshal(b, &result)
		accepted += result.Accepted
	}
	return accepted, nil
}

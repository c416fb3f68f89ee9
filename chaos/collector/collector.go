// Package collector is how the chaos controller talks to the collector:
// it sends the runs' events to the reliability events API (POST
// /v1/events, CloudEvents in structured mode, built and checked with the
// metrics area's event model), and reads SLOs from the SLO API (GET
// /v1/slos/{name}).
package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/estatehq/estate/chaos"
	"github.com/estatehq/estate/metrics"
)

// Source is the CloudEvents source of the controller's events.
const Source = "estate/chaos"

// Client calls the collector's API at a base URL.
type Client struct {
	base string
	http *http.Client
}

var (
	_ chaos.EventSink = (*Client)(nil)
	_ chaos.SLOSource = (*Client)(nil)
)

// New returns a client of the collector at base (http://127.0.0.1:8088).
func New(base string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("collector url: must be an http(s) URL, not %q", base)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return &Client{base: strings.TrimSuffix(base, "/"), http: hc}, nil
}

// Event maps a run's event onto the metrics area's event model.
func Event(e chaos.Event) (metrics.Event, error) {
	me := metrics.Event{ID: e.ID, Source: Source, Time: e.Time.UTC()}
	switch e.Type {
	case chaos.EventChaosStarted:
		me.Data = metrics.ChaosStarted{ExperimentID: e.ExperimentID, Kind: e.Kind, Target: e.Target, Outcome: e.Outcome}
	case chaos.EventChaosFinished:
		me.Data = metrics.ChaosFinished{ExperimentID: e.ExperimentID, Kind: e.Kind, Target: e.Target, Outcome: e.Outcome}
	case chaos.EventIncidentOpened:
		me.Data = metrics.IncidentOpened{IncidentID: e.IncidentID, Service: e.Service, Environment: e.Environment,
			Severity: e.Severity, StartedAt: e.StartedAt.UTC(), ChaosExperimentID: e.ExperimentID}
	case chaos.EventIncidentResolved:
		me.Data = metrics.IncidentResolved{IncidentID: e.IncidentID}
	case chaos.EventChaosAction:
		me.Data = metrics.ChaosAction{Action: e.Action, Actor: e.Actor, Status: e.Status, ExperimentID: e.ExperimentID,
			Remote: e.Remote, ForwardedFor: e.ForwardedFor}
	default:
		return metrics.Event{}, fmt.Errorf("unknown event type %q", e.Type)
	}
	if err := me.Validate(); err != nil {
		return metrics.Event{}, fmt.Errorf("event %s: %w", e.ID, err)
	}
	return me, nil
}

// Send implements chaos.EventSink.
func (c *Client) Send(ctx context.Context, e chaos.Event) error {
	me, err := Event(e)
	if err != nil {
		return err
	}
	b, err := json.Marshal(me)
	if err != nil {
		return fmt.Errorf("encoding event: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/events", bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("event request: %w", err)
	}
	req.Header.Set("Content-Type", "application/cloudevents+json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("sending event: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("the events API answered %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

// sloAnswer is the SLO API's answer. Burn rates come by window, as an
// object ({"5m": 1.2}) or a list ([{"window": "5m", "burn_rate": 1.2}]).
type sloAnswer struct {
	Name       string          `json:"name"`
	Status     string          `json:"status"`
	Attainment float64         `json:"attainment"`
	Budget     json.RawMessage `json:"budget"`
	BurnRates  json.RawMessage `json:"burn_rates"`
}

// SLO implements chaos.SLOSource.
func (c *Client) SLO(ctx context.Context, name string) (chaos.SLOStatus, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/slos/"+url.PathEscape(name), nil)
	if err != nil {
		return chaos.SLOStatus{}, fmt.Errorf("SLO request: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return chaos.SLOStatus{}, fmt.Errorf("reading SLO: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return chaos.SLOStatus{}, fmt.Errorf("reading SLO: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return chaos.SLOStatus{}, chaos.ErrNoSuchSLO
	case resp.StatusCode >= 300:
		return chaos.SLOStatus{}, fmt.Errorf("the SLO API answered %d", resp.StatusCode)
	}
	var a sloAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return chaos.SLOStatus{}, fmt.Errorf("decoding SLO: %w", err)
	}
	st := chaos.SLOStatus{Name: a.Name, Status: a.Status, Attainment: a.Attainment, BurnRates: map[string]float64{}}
	var budget struct {
		Remaining float64 `json:"remaining"`
	}
	if json.Unmarshal(a.Budget, &budget) == nil {
		st.BudgetRemaining = budget.Remaining
	}
	if err := burnRates(a.BurnRates, st.BurnRates); err != nil {
		return chaos.SLOStatus{}, err
	}
	return st, nil
}

func burnRates(raw json.RawMessage, into map[string]float64) error {
	if len(raw) == 0 {
		return nil
	}
	var byWindow map[string]float64
	if json.Unmarshal(raw, &byWindow) == nil {
		for k, v := range byWindow {
			into[k] = v
		}
		return nil
	}
	var list []struct {
		Window   string   `json:"window"`
		BurnRate *float64 `json:"burn_rate"`
		Rate     *float64 `json:"rate"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return errors.New("decoding SLO: burn_rates is neither an object nor a list of windows")
	}
	for _, w := range list {
		switch {
		case w.BurnRate != nil:
			into[w.Window] = *w.BurnRate
		case w.Rate != nil:
			into[w.Window] = *w.Rate
		}
	}
	return nil
}

package chaoshttp

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/chaos"
	"github.com/estatehq/estate/chaos/chaostest"
	chaoscollector "github.com/estatehq/estate/chaos/collector"
	"github.com/estatehq/estate/chaos/sqlite"
	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/auth/authtest"
	"github.com/estatehq/estate/metrics"
)

func controller(t *testing.T) *chaos.Controller {
	t.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "chaos.db"), nil)
	require.NoError(t, err)
	ctl, err := chaos.New(chaos.Options{Store: store, Executors: []chaos.Executor{chaostest.NewExecutor()}, Prober: &chaos.Prober{}})
	require.NoError(t, err)
	require.NoError(t, ctl.Start(context.Background()))
	t.Cleanup(func() {
		require.NoError(t, ctl.Shutdown(context.Background()))
		require.NoError(t, store.Close())
	})
	return ctl
}

func TestRouteTable(t *testing.T) {
	iss := authtest.New(t)
	o := Options{Controller: controller(t), Authenticator: iss.Authenticator}
	keys, err := auth.Walk(NewRouter(o))
	require.NoError(t, err)
	authtest.CheckTable(t, keys, Access)
	iss.CheckRoutes(t, NewServer(o), keys, Access)
}

func TestEveryActionIsAudited(t *testing.T) {
	iss := authtest.New(t)
	var logs bytes.Buffer
	at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	sink := &recordingSink{}
	h := NewServer(Options{Controller: controller(t), Authenticator: iss.Authenticator, Events: sink,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Now: func() time.Time { return at }})
	oncall := iss.Token(t, "bob", auth.RoleChaosHalt)
	sre := iss.Token(t, "alice", auth.RoleChaosOperate)
	calls := []struct {
		method, path, token string
		status              int
		want                map[string]any
	}{
		{"POST", "/v1/halt", oncall, http.StatusOK, map[string]any{"who": "subject:bob", "action": "halt"}},
		{"POST", "/v1/resume", sre, http.StatusOK, map[string]any{"who": "subject:alice", "action": "resume"}},
		{"POST", "/v1/experiments?dry_run=true", sre, http.StatusUnprocessableEntity, map[string]any{"who": "subject:alice", "action": "dry_run"}},
		{"POST", "/v1/experiments", sre, http.StatusUnprocessableEntity, map[string]any{"who": "subject:alice", "action": "submit"}},
		{"POST", "/v1/experiments/run-1/abort", sre, http.StatusNotFound, map[string]any{"who": "subject:alice", "action": "abort", "run": "run-1"}},
	}
	for i, c := range calls {
		logs.Reset()
		req := httptest.NewRequest(c.method, c.path, bytes.NewReader([]byte("{}")))
		req.RemoteAddr = "192.0.2.7:5000"
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("X-Forwarded-For", "198.51.100.1")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, c.status, rec.Code, c.path)
		var got map[string]any
		require.NoError(t, json.Unmarshal(logs.Bytes(), &got), logs.String())
		for k, v := range c.want {
			require.Equal(t, v, got[k], "%s: %s", c.path, k)
		}
		require.Equal(t, "chaos action", got["msg"])
		require.Equal(t, at.Format(time.RFC3339), got["at"])
		require.Equal(t, "192.0.2.7:5000", got["remote"])
		require.Equal(t, []any{"198.51.100.1"}, got["x_forwarded_for"])
		require.Equal(t, false, got["x_forwarded_for_verified"])
		require.EqualValues(t, c.status, got["status"])

		// The same, as an event the events API accepts.
		require.Len(t, sink.events, i+1, "one event per action")
		e := sink.events[i]
		me, err := chaoscollector.Event(e)
		require.NoError(t, err)
		require.Equal(t, metrics.ChaosAction{Action: c.want["action"].(string), Actor: c.want["who"].(string), Status: strconv.Itoa(c.status),
			ExperimentID: e.ExperimentID, Remote: "192.0.2.7:5000", ForwardedFor: "198.51.100.1"}, me.Data)
		require.Equal(t, at, me.Time)
		if run, ok := c.want["run"]; ok {
			require.Equal(t, run, e.ExperimentID)
		}
	}
	require.Len(t, map[string]bool{sink.events[0].ID: true, sink.events[1].ID: true, sink.events[2].ID: true}, 3, "each event has an id of its own")

	logs.Reset()
	req := httptest.NewRequest("POST", "/v1/resume", nil)
	req.Header.Set("Authorization", "Bearer "+oncall)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusForbidden, rec.Code, "chaos.halt may not resume")
	require.NotContains(t, logs.String(), "chaos action")
	require.Len(t, sink.events, len(calls), "a refused request is no action")
}

// recordingSink keeps the events sent to it.
type recordingSink struct{ events []chaos.Event }

func (s *recordingSink) Send(_ context.Context, e chaos.Event) error {
	s.events = append(s.events, e)
	return nil
}

package metrics_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/metrics"
)

// TestFoldIdentifiesEventsBySourceAndID: an event from another source that
// claims the id of an intake's event, earlier and with other content, is
// another event: it neither replaces the real one nor is replaced by it,
// in any order.
func TestFoldIdentifiesEventsBySourceAndID(t *testing.T) {
	at := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	real := metrics.Event{ID: "alertmanager/f1@2026-11-03T10:00:00Z/opened", Source: "urn:estate:intake:alertmanager:http://am:9093",
		Time: at, Data: metrics.IncidentOpened{IncidentID: "f1", Service: "invoicing", Environment: "production", Severity: "page"}}
	forged := metrics.Event{ID: real.ID, Source: "https://attacker.example.com",
		Time: at.Add(-time.Hour), Data: metrics.IncidentOpened{IncidentID: "forged", Service: "credit", Environment: "production", Severity: "info"}}
	repeat := forged
	repeat.Time = at.Add(-2 * time.Hour) // the same (source, id), earlier: it wins over forged

	want := []metrics.Incident{
		{ID: "f1", Opened: true, Service: "invoicing", Environment: "production", Severity: "page", StartedAt: at},
		{ID: "forged", Opened: true, Service: "credit", Environment: "production", Severity: "info", StartedAt: repeat.Time},
	}
	for _, events := range [][]metrics.Event{{forged, real, repeat}, {real, repeat, forged}, {repeat, forged, real}} {
		_, incidents := metrics.Fold(events)
		require.Empty(t, cmp.Diff(want, incidents))
	}

	// Equal times: ordered by id, then source, whatever the order given.
	a := metrics.Event{ID: "x", Source: "a", Time: at, Data: metrics.IncidentResolved{IncidentID: "f1"}}
	b := metrics.Event{ID: "x", Source: "b", Time: at, Data: metrics.IncidentResolved{IncidentID: "f1"}}
	events := []metrics.Event{b, a}
	metrics.SortEvents(events)
	require.Equal(t, []metrics.Event{a, b}, events)
}

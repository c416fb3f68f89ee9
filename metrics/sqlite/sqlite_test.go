package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/metricstest"
	"github.com/estatehq/estate/metrics/sqlite"
)

func TestStore(t *testing.T) {
	metricstest.Run(t, func(t *testing.T) metrics.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		return s
	})
}

func TestReopenKeepsEvents(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	events := metricstest.Generate(metricstest.GenerateOptions{Seed: 1, Services: 1})[:100]

	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	require.NoError(t, err)
	n, err := s.Append(ctx, events)
	require.NoError(t, err)
	require.Equal(t, 100, n)
	require.NoError(t, s.Close())

	// Opening again migrates nothing and finds everything.
	s, err = sqlite.Open(ctx, path, sqlite.Options{})
	require.NoError(t, err)
	defer s.Close()
	got, err := s.Events(ctx, metrics.Filter{})
	require.NoError(t, err)
	require.Len(t, got, 100)
	n, err = s.Append(ctx, events)
	require.NoError(t, err)
	require.Equal(t, 0, n)
}

func TestOpenRejectsNonFiles(t *testing.T) {
	for _, p := range []string{"", ":memory:", "events.db?mode=memory"} {
		_, err := sqlite.Open(context.Background(), p, sqlite.Options{})
		require.Error(t, err, p)
	}
}

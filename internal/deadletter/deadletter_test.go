package deadletter_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/deadletter"
)

type letter struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

func lines(t *testing.T, name string) []letter {
	t.Helper()
	fh, err := os.Open(name)
	require.NoError(t, err)
	defer fh.Close()
	var out []letter
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		var l letter
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l), sc.Text())
		out = append(out, l)
	}
	require.NoError(t, sc.Err())
	return out
}

func TestWriteAppendsOneFilePerDay(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "deadletter")
	now := time.Date(2026, 11, 26, 23, 59, 0, 0, time.UTC)
	f := deadletter.New[letter](dir, "intake", func() time.Time { return now })
	require.Equal(t, dir, f.Dir())

	require.NoError(t, f.Write(), "nothing to write makes no folder")
	_, err := os.Stat(dir)
	require.ErrorIs(t, err, os.ErrNotExist)

	require.NoError(t, f.Write(letter{"a", "invalid"}, letter{"b", "invalid"}))
	require.NoError(t, f.Write(letter{"c", "too large"}))
	now = now.Add(2 * time.Minute)
	require.NoError(t, f.Write(letter{"d", "invalid"}))

	require.Empty(t, cmp.Diff([]letter{{"a", "invalid"}, {"b", "invalid"}, {"c", "too large"}},
		lines(t, filepath.Join(dir, "intake-2026-11-26.jsonl"))))
	require.Empty(t, cmp.Diff([]letter{{"d", "invalid"}}, lines(t, filepath.Join(dir, "intake-2026-11-27.jsonl"))))
}

func TestWriteFailsWhenTheFolderCannotBeMade(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	f := deadletter.New[letter](filepath.Join(file, "deadletter"), "intake", nil)
	require.ErrorContains(t, f.Write(letter{"a", "invalid"}), "creating dead-letter folder")
}

func TestWriteFailsOnARecordThatDoesNotEncode(t *testing.T) {
	dir := t.TempDir()
	f := deadletter.New[any](dir, "intake", nil)
	require.ErrorContains(t, f.Write(map[string]any{"ok": 1}, func() {}), "encoding dead letter")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "nothing of the batch appended")
}

package config

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestUnderNamesEveryError(t *testing.T) {
	require.NoError(t, Under("collector.", nil))
	err := Under("collector.", errors.Join(errors.New("max_bytes: must be positive"), Under("queue.", errors.New("when_full: bad"))))
	require.EqualError(t, err, "collector.max_bytes: must be positive\ncollector.queue.when_full: bad")
	wrapped := Under("a.", io.EOF)
	require.ErrorIs(t, wrapped, io.EOF, "the cause stays reachable")
}

func TestListenAddr(t *testing.T) {
	tests := map[string]string{
		":8088":           "",
		"127.0.0.1:0":     "",
		"[::1]:4317":      "",
		"8088":            `api: must be host:port, not "8088"`,
		"localhost:http":  `api: port must be a number from 0 to 65535, not "http"`,
		"localhost:70000": `api: port must be a number from 0 to 65535, not "70000"`,
	}
	for addr, want := range tests {
		err := ListenAddr("api", addr)
		if want == "" {
			require.NoError(t, err, addr)
			continue
		}
		require.EqualError(t, err, want, addr)
	}
}

func TestPositive(t *testing.T) {
	require.NoError(t, Positive("n", 1))
	require.NoError(t, Positive("d", time.Nanosecond))
	require.EqualError(t, Positive("n", int64(0)), "n: must be positive, not 0")
	require.EqualError(t, Positive("d", -time.Second), "d: must be positive, not -1s")
	require.EqualError(t, Positive("f", -0.5), "f: must be positive, not -0.5")
}

func TestCommaList(t *testing.T) {
	list := []string{"logs", "traces"}
	v := CommaList{List: &list}
	require.Equal(t, "logs,traces", v.String())
	require.NoError(t, v.Set(" traces , ,logs"))
	require.Equal(t, []string{"traces", "logs"}, list)
	require.NoError(t, v.Set(""))
	require.Equal(t, []string{}, list, "empty, not nil: nothing was asked for")
}

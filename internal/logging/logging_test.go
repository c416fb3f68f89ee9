package logging

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFormats(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		isJSON bool
	}{
		{"auto on a pipe is JSON", Config{Level: "info", Format: FormatAuto}, true},
		{"json", Config{Level: "info", Format: FormatJSON}, true},
		{"text", Config{Level: "info", Format: FormatText}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			l, err := New(tc.cfg, &b)
			require.NoError(t, err)
			l.Info("hello", "k", "v")
			var m map[string]any
			err = json.Unmarshal(b.Bytes(), &m)
			if tc.isJSON {
				require.NoError(t, err)
				require.Equal(t, "hello", m["msg"])
				require.Equal(t, "v", m["k"])
			} else {
				require.Error(t, err)
				require.Contains(t, b.String(), "msg=hello k=v")
			}
		})
	}
}

func TestLevel(t *testing.T) {
	var b bytes.Buffer
	l, err := New(Config{Level: "warn", Format: FormatJSON}, &b)
	require.NoError(t, err)
	l.Info("quiet")
	l.Warn("loud")
	require.NotContains(t, b.String(), "quiet")
	require.Contains(t, b.String(), "loud")
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"ok", Config{Level: "DEBUG", Format: "text"}, ""},
		{"bad level", Config{Level: "verbose", Format: "json"}, `log.level: must be debug, info, warn or error, not "verbose"`},
		{"bad format", Config{Level: "info", Format: "xml"}, `log.format: must be auto, json or text, not "xml"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.wantErr, err.Error())
		})
	}
}

package elasticsearch

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestParseInfo(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    cluster
		compat  bool
		ilm     bool
		wantErr bool
	}{
		{"es 8", `{"version":{"number":"8.19.0","build_flavor":"default"}}`, cluster{Flavor: "elasticsearch", Version: "8.19.0", Major: 8, Minor: 19}, true, true, false},
		{"es 9", `{"version":{"number":"9.1.0","build_flavor":"default"}}`, cluster{Flavor: "elasticsearch", Version: "9.1.0", Major: 9, Minor: 1}, true, true, false},
		{"es 7.10", `{"version":{"number":"7.10.2","build_flavor":"default"}}`, cluster{Flavor: "elasticsearch", Version: "7.10.2", Major: 7, Minor: 10}, false, true, false},
		{"aws es 7.10 (oss)", `{"version":{"number":"7.10.2","build_flavor":"oss"}}`, cluster{Flavor: "elasticsearch", Version: "7.10.2", Major: 7, Minor: 10, OSS: true}, false, false, false},
		{"opensearch 2", `{"version":{"distribution":"opensearch","number":"2.19.0"}}`, cluster{Flavor: "opensearch", Version: "2.19.0", Major: 2, Minor: 19}, false, false, false},
		{"snapshot", `{"version":{"number":"8.20.0-SNAPSHOT"}}`, cluster{Flavor: "elasticsearch", Version: "8.20.0-SNAPSHOT", Major: 8, Minor: 20}, true, true, false},
		{"es 7.9 refused", `{"version":{"number":"7.9.3"}}`, cluster{}, false, false, true},
		{"garbage", `{"version":{"number":"x"}}`, cluster{}, false, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseInfo([]byte(tc.body))
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Empty(t, cmp.Diff(tc.want, got))
			require.Equal(t, tc.compat, got.compatible())
			require.Equal(t, tc.ilm, got.ilm())
		})
	}
}

// TestTemplateGolden pins the template and ILM policy sent to each kind of
// cluster; run with -update after a deliberate change.
func TestTemplateGolden(t *testing.T) {
	clusters := map[string]cluster{
		"elasticsearch-8":   {Flavor: FlavorElasticsearch, Version: "8.19.0", Major: 8, Minor: 19},
		"elasticsearch-oss": {Flavor: FlavorElasticsearch, Version: "7.10.2", Major: 7, Minor: 10, OSS: true},
		"opensearch-2.19":   {Flavor: FlavorOpenSearch, Version: "2.19.0", Major: 2, Minor: 19},
		"opensearch-2.5":    {Flavor: FlavorOpenSearch, Version: "2.5.0", Major: 2, Minor: 5},
	}
	for name, c := range clusters {
		for _, mode := range []string{ModeDataStream, ModeDailyIndex} {
			t.Run(name+"-"+mode, func(t *testing.T) {
				var cfg Config
				cfg.RegisterFlags(flag.NewFlagSet("t", flag.ContinueOnError), "")
				cfg.Mode = mode
				e := &Exporter{cfg: cfg}
				tmpl, err := e.template(c)
				require.NoError(t, err)
				out := map[string]json.RawMessage{"index_template": tmpl}
				if c.ilm() {
					p, err := e.policy()
					require.NoError(t, err)
					out["ilm_policy"] = p
				}
				got, err := json.MarshalIndent(out, "", "  ")
				require.NoError(t, err)
				got = append(got, '\n')
				path := filepath.Join("testdata", "template-"+name+"-"+mode+".json")
				if *update {
					require.NoError(t, os.WriteFile(path, got, 0o644))
				}
				want, err := os.ReadFile(path)
				require.NoError(t, err, "run with -update to create it")
				require.Empty(t, cmp.Diff(string(want), string(got)))
				require.True(t, bytes.Contains(got, []byte(`"@timestamp"`)))
			})
		}
	}
}

//go:build !servicesonly

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/loadgen"
)

// TestLoadgen: the command sends the mix it is given with the token and a
// fresh key per POST, prints its figures as JSON on stdout and its
// progress on stderr.
func TestLoadgen(t *testing.T) {
	var mu sync.Mutex
	keys := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sesame" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			mu.Lock()
			defer mu.Unlock()
			k := r.Header.Get("Idempotency-Key")
			if k == "" || keys[k] {
				w.WriteHeader(http.StatusConflict)
				return
			}
			keys[k] = true
			w.WriteHeader(http.StatusCreated)
			return
		}
		if r.URL.Path == "/missing" {
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()

	out, errOut, err := runCmd(t, "loadgen", "--route", "GET "+srv.URL+"/a 2", "--route", "POST "+srv.URL+"/b",
		"--route", "GET "+srv.URL+"/missing", "--body", `{"n":{{.Seq}}}`, "--token", "sesame",
		"--rate", "200", "--duration", "500ms", "--warmup", "100ms", "--json", "--pid", fmt.Sprint(os.Getpid()), "--sample-every", "100ms")
	require.NoError(t, err, errOut)
	var s loadgen.Summary
	require.NoError(t, json.Unmarshal([]byte(out), &s), out)
	require.Equal(t, int64(100), s.Sent)
	require.Equal(t, int64(25), s.Errors)
	require.Equal(t, []loadgen.Count{{Kind: "404", N: 25}}, s.ByKind)
	require.Equal(t, map[int]int64{200: 50, 201: 25, 404: 25}, s.Statuses)
	require.Len(t, s.Routes, 3)
	require.Equal(t, "POST /b", s.Routes[1].Name)
	require.Len(t, keys, 30, "the warm-up's 5 and the run's 25 POSTs, each its own key")
	require.NotNil(t, s.Memory)
	require.NotEmpty(t, s.Memory.Samples)
	require.Contains(t, errOut, "sending: done, 100 requests in", "progress goes to stderr")

	out, _, err = runCmd(t, "loadgen", "--url", srv.URL+"/a", "-H", "Authorization: Bearer sesame", "--rate", "50", "--duration", "200ms")
	require.NoError(t, err)
	require.Contains(t, out, "sent 10, errors 0")
	require.Contains(t, out, "latency from due time: p50 ")
}

func TestLoadgenRoutesFile(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Mix") != "yes" {
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "mix.yaml")
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf("headers: {X-Mix: 'yes'}\nroutes:\n  - {name: home, method: GET, url: %q, weight: 3}\n  - {name: other, method: GET, url: %q}\n", srv.URL, srv.URL+"/o")), 0o600))
	out, _, err := runCmd(t, "loadgen", "--routes", path, "--rate", "40", "--duration", "200ms")
	require.NoError(t, err)
	require.Contains(t, out, "sent 8, errors 0")
	require.Regexp(t, `home\s+3\s+6\s+0`, out)
	require.Regexp(t, `other\s+1\s+2\s+0`, out)
}

// TestLoadgenRefuses: bad input is one line and an error, before any load.
func TestLoadgenRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		err  string
	}{
		"remote":        {[]string{"--url", "http://192.0.2.1/"}, "loadgen: route 1: url: 192.0.2.1 is not a loopback address; load goes to loopback only (--allow-remote sends it elsewhere)"},
		"no route":      {nil, "loadgen: give the routes one way: --url, --route or --routes"},
		"two ways":      {[]string{"--url", "http://127.0.0.1:1/", "--route", "GET http://127.0.0.1:1/"}, "give the routes one way"},
		"bad route":     {[]string{"--route", "GET"}, `route "GET": want METHOD URL [WEIGHT]`},
		"bad header":    {[]string{"-H", "nocolon"}, `header "nocolon": want 'Name: value'`},
		"bad rate":      {[]string{"--url", "http://127.0.0.1:1/", "--rate", "0"}, "loadgen: rate: must be positive, not 0"},
		"bad duration":  {[]string{"--url", "http://127.0.0.1:1/", "--duration", "0s"}, "--duration must be positive"},
		"bad template":  {[]string{"--url", "http://127.0.0.1:1/", "--body", "{{.Seq"}, "route 1: body:"},
		"no such pid":   {[]string{"--url", "http://127.0.0.1:1/", "--pid", "999999999"}, "loadgen: --pid: reading the memory of process 999999999"},
		"missing file":  {[]string{"--routes", "/nonexistent/mix.yaml"}, "reading routes"},
		"stray arg":     {[]string{"--url", "http://127.0.0.1:1/", "extra"}, `unexpected argument "extra"`},
		"unknown flag":  {[]string{"--nope"}, "flag provided but not defined: -nope"},
		"body and file": {[]string{"--url", "http://127.0.0.1:1/", "--body", "x", "--body-file", "y"}, "give one"},
	} {
		t.Run(name, func(t *testing.T) {
			out, _, err := runCmd(t, append([]string{"loadgen"}, tc.args...)...)
			require.ErrorContains(t, err, tc.err)
			require.NotContains(t, err.Error(), "\n", "one line")
			require.Empty(t, out)
		})
	}
	out, _, err := runCmd(t, "loadgen", "-h")
	require.Error(t, err)
	require.True(t, strings.HasPrefix(out, "Usage: estate loadgen"))
}

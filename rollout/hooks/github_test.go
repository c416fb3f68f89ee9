package hooks_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/rollout"
	"github.com/estatehq/estate/rollout/hooks"
)

const githubToken = "test-github-token-0123456789"

// githubAPI answers "Create a workflow dispatch event" as GitHub's REST API
// documentation specifies it: POST
// /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches with a
// bearer token, Accept application/vnd.github+json, the API version
// header and a JSON body {"ref", "inputs"}; 204 with no body.
type githubAPI struct {
	base   string // the path the API is served under ("/api/v3" on GHES)
	bodies bodies
}

func (g *githubAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	want := map[string]string{
		"Accept":               "application/vnd.github+json",
		"Authorization":        "Bearer " + githubToken,
		"X-Github-Api-Version": "2022-11-28",
		"Content-Type":         "application/json",
		"User-Agent":           "estate-rollout",
	}
	for k, v := range want {
		if r.Header.Get(k) != v {
			http.Error(w, `{"message":"header `+k+`"}`, http.StatusBadRequest)
			return
		}
	}
	if r.Method != http.MethodPost || r.URL.EscapedPath() != g.base+"/repos/estatehq/estate/actions/workflows/rollback.yml/dispatches" {
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		return
	}
	if !g.bodies.keep(w, r) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func githubConfig(t *testing.T, api string) hooks.Config {
	cfg := defaults(t)
	cfg.GitHub.APIURL = api
	cfg.GitHub.Repo = "estatehq/estate"
	cfg.GitHub.Workflow = "rollback.yml"
	cfg.GitHub.Token = githubToken
	return cfg
}

func TestGitHub(t *testing.T) {
	for _, tc := range []struct {
		name, base string
		ref        string
		rec        func() rollout.Recommendation
		want       map[string]any
	}{
		{
			name: "github.com", rec: recommendation,
			want: map[string]any{"ref": "main", "inputs": map[string]any{
				"deployment_id": "dep-42", "service": "invoicing", "environment": "production", "version": "v1.8.0", "rollback_to": "v1.7.3",
			}},
		},
		{
			name: "Enterprise Server, a tag, empty inputs left out", base: "/api/v3", ref: "v2-release",
			rec: func() rollout.Recommendation {
				r := recommendation()
				r.RollbackTo, r.Environment = "", ""
				return r
			},
			want: map[string]any{"ref": "v2-release", "inputs": map[string]any{
				"deployment_id": "dep-42", "service": "invoicing", "version": "v1.8.0",
			}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &githubAPI{base: tc.base}
			srv := httptest.NewServer(api)
			defer srv.Close()
			cfg := githubConfig(t, srv.URL+tc.base)
			if tc.ref != "" {
				cfg.GitHub.Ref = tc.ref
			}
			h := only(t, cfg, srv.Client(), hooks.Options{Now: clock})
			require.Equal(t, "github", h.Name())
			requireSent(t, h, tc.rec(), rollout.Answer{Status: http.StatusNoContent}, &api.bodies, tc.want)
		})
	}
}

func TestGitHubAnswers(t *testing.T) {
	reset := now.Add(25 * time.Minute)
	runAnswers(t, []answerCase{
		{name: "401 bad credentials", status: 401, body: `{"message":"Bad credentials"}`, want: permanent},
		{name: "403 without a rate limit", status: 403, body: `{"message":"Resource not accessible by integration"}`, want: permanent},
		{name: "404", status: 404, body: `{"message":"Not Found"}`, want: permanent},
		{name: "422 undeclared input", status: 422, body: `{"message":"Unexpected inputs provided: [\"rollback_to\"]"}`, want: permanent},
		{name: "500", status: 500, want: retry},
		{name: "502", status: 502, body: "bad gateway", want: retry},
		{name: "503 with Retry-After", status: 503, header: map[string]string{"Retry-After": "30"}, want: throttle, delay: 30 * time.Second},
		{name: "primary rate limit", status: 403, header: map[string]string{"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": strconv.FormatInt(reset.Unix(), 10)},
			body: `{"message":"API rate limit exceeded"}`, want: throttle, delay: 25 * time.Minute},
		{name: "secondary rate limit", status: 403, header: map[string]string{"Retry-After": "60"},
			body: `{"message":"You have exceeded a secondary rate limit"}`, want: throttle, delay: time.Minute},
		{name: "429 naming no time waits a minute", status: 429, want: throttle, delay: time.Minute},
	}, func(t *testing.T, url string) rollout.Hook {
		return only(t, githubConfig(t, url), nil, hooks.Options{Now: clock})
	})
}

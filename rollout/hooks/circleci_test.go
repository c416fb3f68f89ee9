package hooks_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/rollout"
	"github.com/estatehq/estate/rollout/hooks"
)

const circleToken = "test-circleci-token-0123456789"

// circleAPI answers "Trigger a new pipeline" as CircleCI's API v2
// documentation specifies it: POST /api/v2/project/{project-slug}/pipeline
// with the Circle-Token header and a JSON body {"branch", "parameters"};
// 201 with the pipeline's id, state, number and creation time.
type circleAPI struct{ bodies bodies }

func (c *circleAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Circle-Token") != circleToken {
		http.Error(w, `{"message":"You must log in first."}`, http.StatusUnauthorized)
		return
	}
	if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("User-Agent") != "estate-rollout" {
		http.Error(w, `{"message":"headers"}`, http.StatusBadRequest)
		return
	}
	if r.Method != http.MethodPost || r.URL.EscapedPath() != "/api/v2/project/gh/estatehq/estate/pipeline" {
		http.Error(w, `{"message":"Project not found"}`, http.StatusNotFound)
		return
	}
	if !c.bodies.keep(w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, `{"number":125,"state":"pending","id":"4b9b35c7-d292-4af4-a993-81006e006474","created_at":"2026-12-02T14:00:01.447Z"}`)
}

func circleConfig(t *testing.T, api string) hooks.Config {
	cfg := defaults(t)
	cfg.CircleCI.APIURL = api
	cfg.CircleCI.ProjectSlug = "gh/estatehq/estate"
	cfg.CircleCI.Token = circleToken
	return cfg
}

func TestCircleCI(t *testing.T) {
	for _, tc := range []struct {
		name, branch string
		rec          func() rollout.Recommendation
		want         map[string]any
	}{
		{
			name: "a branch", branch: "main", rec: recommendation,
			want: map[string]any{"branch": "main", "parameters": map[string]any{
				"deployment_id": "dep-42", "service": "invoicing", "rollback_to": "v1.7.3",
			}},
		},
		{
			name: "the default branch, the version before unknown",
			rec: func() rollout.Recommendation {
				r := recommendation()
				r.RollbackTo = ""
				return r
			},
			want: map[string]any{"parameters": map[string]any{
				"deployment_id": "dep-42", "service": "invoicing", "rollback_to": "",
			}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &circleAPI{}
			srv := httptest.NewServer(api)
			defer srv.Close()
			cfg := circleConfig(t, srv.URL)
			cfg.CircleCI.Branch = tc.branch
			h := only(t, cfg, srv.Client(), hooks.Options{Now: clock})
			require.Equal(t, "circleci", h.Name())
			requireSent(t, h, tc.rec(), rollout.Answer{Status: http.StatusCreated, Detail: "pipeline 125"}, &api.bodies, tc.want)
		})
	}
}

func TestCircleCITokenFile(t *testing.T) {
	api := &circleAPI{}
	srv := httptest.NewServer(api)
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(file, []byte(circleToken+"\n"), 0o600))
	cfg := circleConfig(t, srv.URL)
	cfg.CircleCI.Token, cfg.CircleCI.TokenFile = "", file
	_, err := only(t, cfg, srv.Client(), hooks.Options{}).Call(context.Background(), recommendation())
	require.NoError(t, err)
	require.Len(t, api.bodies, 1)
}

func TestCircleCIAnswers(t *testing.T) {
	runAnswers(t, []answerCase{
		{name: "401", status: 401, body: `{"message":"You must log in first."}`, want: permanent},
		{name: "404", status: 404, body: `{"message":"Project not found"}`, want: permanent},
		{name: "400", status: 400, body: `{"message":"Branch not found"}`, want: permanent},
		{name: "422", status: 422, want: permanent},
		{name: "500", status: 500, want: retry},
		{name: "503", status: 503, body: "unavailable", want: retry},
		{name: "429 with Retry-After", status: 429, header: map[string]string{"Retry-After": "12"}, want: throttle, delay: 12 * time.Second},
	}, func(t *testing.T, url string) rollout.Hook {
		return only(t, circleConfig(t, url), nil, hooks.Options{Now: clock})
	})
}

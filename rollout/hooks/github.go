package hooks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/estatehq/estate/internal/delivery"
	"github.com/estatehq/estate/rollout"
)

// GitHub dispatches a GitHub Actions workflow (workflow_dispatch) with the
// recommendation as inputs: deployment_id, service, environment, version
// and rollback_to, those that are not empty. The workflow must declare
// them under on.workflow_dispatch.inputs: GitHub refuses an undeclared
// input with 422.
//
// It is one request written with net/http: one endpoint does not earn a
// client library (google/go-github is not a dependency of the estate).
type GitHub struct {
	endpoint, ref string
	token         secret
	s             sender
}

// The REST API version the requests ask for.
const githubAPIVersion = "2022-11-28"

// githubDefaultWait is how long GitHub asks a client to wait on a rate
// limit that names no time ("wait for at least one minute").
const githubDefaultWait = time.Minute

// NewGitHub returns the workflow dispatch of cfg.GitHub.
func NewGitHub(cfg Config, client *http.Client, opts Options) (*GitHub, error) {
	g := cfg.GitHub
	if err := ready(g.enabled(), "github.repo", g.validate(), g.token()); err != nil {
		return nil, err
	}
	owner, name, _ := strings.Cut(g.Repo, "/")
	endpoint := strings.TrimSuffix(g.APIURL, "/") + "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name) +
		"/actions/workflows/" + url.PathEscape(g.Workflow) + "/dispatches"
	return &GitHub{endpoint: endpoint, ref: g.Ref, token: g.token(), s: newSender(client, cfg.Timeout, opts)}, nil
}

// Name is "github".
func (*GitHub) Name() string { return NameGitHub }

// Call dispatches the workflow once; GitHub answers 204. Errors are
// classified as rollout.Hook says, and GitHub's rate limits (403 or 429
// with Retry-After or x-ratelimit-remaining: 0) are throttles.
func (g *GitHub) Call(ctx context.Context, r rollout.Recommendation) (rollout.Answer, error) {
	if err := check(r); err != nil {
		return rollout.Answer{}, err
	}
	inputs := map[string]string{}
	for k, v := range map[string]string{
		"deployment_id": r.DeploymentID, "service": r.Service, "environment": r.Environment,
		"version": r.Version, "rollback_to": r.RollbackTo,
	} {
		if v != "" {
			inputs[k] = v
		}
	}
	body, err := json.Marshal(struct {
		Ref    string            `json:"ref"`
		Inputs map[string]string `json:"inputs"`
	}{g.ref, inputs})
	if err != nil {
		return rollout.Answer{}, delivery.Permanent(fmt.Errorf("encoding the dispatch: %w", err))
	}
	token, err := g.token.get()
	if err != nil {
		return rollout.Answer{}, err
	}
	h := jsonHeader()
	h.Set("Accept", "application/vnd.github+json")
	h.Set("Authorization", "Bearer "+token)
	h.Set("X-GitHub-Api-Version", githubAPIVersion)
	return g.s.post(ctx, g.endpoint, h, body, func(resp *http.Response, b []byte) (rollout.Answer, error) {
		return answer(resp, b), g.classify(resp, b)
	})
}

// classify reads GitHub's rate limits as its documentation says to
// ("Troubleshooting the REST API"): a 403 or 429 with Retry-After waits
// that long; with x-ratelimit-remaining 0, until x-ratelimit-reset (Unix
// seconds); a 429 with neither, a minute. Any other answer is classified
// as every hook's.
func (g *GitHub) classify(resp *http.Response, body []byte) error {
	code := resp.StatusCode
	if code != http.StatusForbidden && code != http.StatusTooManyRequests {
		return g.s.classify(resp, body)
	}
	now := g.s.now()
	err := fmt.Errorf("HTTP %s", resp.Status)
	if d := cut(body); d != "" {
		err = fmt.Errorf("HTTP %s: %s", resp.Status, d)
	}
	if d, ok := delivery.ParseRetryAfter(resp.Header.Get("Retry-After"), now); ok {
		return delivery.Throttle(err, d)
	}
	if resp.Header.Get("X-Ratelimit-Remaining") == "0" {
		if reset, perr := strconv.ParseInt(resp.Header.Get("X-Ratelimit-Reset"), 10, 64); perr == nil {
			return delivery.Throttle(err, max(time.Unix(reset, 0).Sub(now), 0))
		}
		return delivery.Throttle(err, githubDefaultWait)
	}
	if code == http.StatusTooManyRequests {
		return delivery.Throttle(err, githubDefaultWait)
	}
	return delivery.Permanent(err)
}

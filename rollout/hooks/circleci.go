package hooks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/estatehq/estate/internal/delivery"
	"github.com/estatehq/estate/rollout"
)

// CircleCI triggers a pipeline of a project (POST
// /api/v2/project/{project-slug}/pipeline) with three string pipeline
// parameters: deployment_id, service and rollback_to (empty when the
// event log does not know the version before). The pipeline's
// configuration must declare them: CircleCI refuses an undeclared
// parameter.
//
// Written with net/http: CircleCI publishes no Go client, and this is one
// request.
type CircleCI struct {
	endpoint, branch string
	token            secret
	s                sender
}

// NewCircleCI returns the pipeline trigger of cfg.CircleCI.
func NewCircleCI(cfg Config, client *http.Client, opts Options) (*CircleCI, error) {
	c := cfg.CircleCI
	if err := ready(c.enabled(), "circleci.project_slug", c.validate(), c.token()); err != nil {
		return nil, err
	}
	parts := strings.Split(c.ProjectSlug, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	endpoint := strings.TrimSuffix(c.APIURL, "/") + "/api/v2/project/" + strings.Join(parts, "/") + "/pipeline"
	return &CircleCI{endpoint: endpoint, branch: c.Branch, token: c.token(), s: newSender(client, cfg.Timeout, opts)}, nil
}

// Name is "circleci".
func (*CircleCI) Name() string { return NameCircleCI }

// Call triggers the pipeline once; CircleCI answers 201 with the
// pipeline, whose number is the Answer's Detail ("pipeline 125"). Errors
// are classified as rollout.Hook says.
func (c *CircleCI) Call(ctx context.Context, r rollout.Recommendation) (rollout.Answer, error) {
	if err := check(r); err != nil {
		return rollout.Answer{}, err
	}
	body, err := json.Marshal(struct {
		Branch     string            `json:"branch,omitempty"`
		Parameters map[string]string `json:"parameters"`
	}{c.branch, map[string]string{"deployment_id": r.DeploymentID, "service": r.Service, "rollback_to": r.RollbackTo}})
	if err != nil {
		return rollout.Answer{}, delivery.Permanent(fmt.Errorf("encoding the trigger: %w", err))
	}
	token, err := c.token.get()
	if err != nil {
		return rollout.Answer{}, err
	}
	h := jsonHeader()
	h.Set("Accept", "application/json")
	h.Set("Circle-Token", token)
	return c.s.post(ctx, c.endpoint, h, body, c.read)
}

// read makes the pipeline's number the Answer's detail.
func (c *CircleCI) read(resp *http.Response, body []byte) (rollout.Answer, error) {
	a, err := c.s.read(resp, body)
	if err != nil {
		return a, err
	}
	var p struct {
		Number *int64 `json:"number"`
	}
	if json.Unmarshal(body, &p) == nil && p.Number != nil {
		a.Detail = fmt.Sprintf("pipeline %d", *p.Number)
	}
	return a, nil
}

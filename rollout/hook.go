package rollout

import (
	"context"
	"time"
)

// Recommendation is what a failed analysis hands the rollback hooks: the
// deployment to undo, why, and the evidence. Hooks send it, or what their
// receiver expects made from it, to whoever rolls back.
type Recommendation struct {
	DeploymentID string `json:"deployment_id"`
	Service      string `json:"service"`
	Environment  string `json:"environment"`
	// Version is the version the deployment shipped; RollbackTo the one
	// in production before it, when the event log knows it.
	Version    string `json:"version"`
	RollbackTo string `json:"rollback_to,omitempty"`
	// DeployedAt is when the deployment reached production, DecidedAt
	// when the analysis failed it.
	DeployedAt time.Time `json:"deployed_at"`
	DecidedAt  time.Time `json:"decided_at"`
	Reason     string    `json:"reason"`
	// Result is the analysis with its numbers and queries.
	Result Result `json:"result"`
}

// Answer is what a hook's receiver said, kept as evidence that the
// rollback was asked for.
type Answer struct {
	// Status is the receiver's HTTP status (0 when it gave none).
	Status int `json:"status,omitempty"`
	// Detail is what the receiver said, cut to a few hundred bytes: a
	// body, a pipeline's number, a rollout's phase.
	Detail string `json:"detail,omitempty"`
}

// Hook asks some system to roll a deployment back.
type Hook interface {
	// Name identifies the hook among those configured ("webhook",
	// "github", "circleci", "argo"); an answer is recorded once per
	// deployment and name.
	Name() string
	// Call asks for the rollback once. Its error is classified as
	// internal/delivery classifies errors: a *delivery.PermanentError is
	// not retried (a 4xx other than 408 and 429, a refused token), a
	// *delivery.ThrottleError names the wait the receiver asked for, and
	// anything else is retried. The Answer is kept even with an error.
	Call(ctx context.Context, r Recommendation) (Answer, error)
}

// Package circleci maps CircleCI workflow-completed webhooks onto
// deployment events, after checking their circleci-signature header.
//
// Only workflows whose name matches the deploy pattern are deployments. A
// successful one yields started (at the workflow's created_at) and
// succeeded (at its stopped_at); a failed, errored or canceled one yields
// started and failed. The pipeline's commit is the deployment's one commit
// for the lead time. The deployment id is "circleci/<workflow id>", so a
// redelivered webhook is a duplicate.
package circleci

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/intake"
)

// SignatureHeader carries the payload's signatures.
const SignatureHeader = "Circleci-Signature"

// defaultDeployPattern matches workflows named like deployments.
var defaultDeployPattern = regexp.MustCompile(`(?i)deploy`)

// Options say which workflows are deployments, and where they deploy.
type Options struct {
	// DeployPattern selects the workflows that are deployments, by name;
	// nil means `(?i)deploy`. A named group "environment" in it, as in
	// `^deploy-(?P<environment>[a-z]+)$`, names the environment.
	DeployPattern *regexp.Regexp
	// Environment is the environment of deployments whose pattern does not
	// name one; default "production".
	Environment string
}

// Verify checks header, the value of circleci-signature (a comma-separated
// list of versioned signatures such as "v1=<hex HMAC-SHA256 of body>"),
// against secret in constant time: one v1 signature must match. Errors
// are *metrics.SignatureError (errors.Is metrics.ErrSignature).
func Verify(body []byte, header, secret string) error {
	if secret == "" {
		return &metrics.SignatureError{Reason: "no webhook secret configured"}
	}
	if header == "" {
		return &metrics.SignatureError{Reason: "circleci-signature is missing"}
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	want := mac.Sum(nil)
	found := false
	for _, part := range strings.Split(header, ",") {
		version, sig, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || version != "v1" {
			continue
		}
		found = true
		got, err := hex.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	if !found {
		return &metrics.SignatureError{Reason: "circleci-signature has no v1 signature"}
	}
	return &metrics.SignatureError{Reason: "circleci-signature does not match the payload"}
}

// Sign returns the circleci-signature value of body under secret.
func Sign(body []byte, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// WorkflowCompleted is the part of a workflow-completed webhook that Estate
// reads.
type WorkflowCompleted struct {
	Type       string    `json:"type"`
	ID         string    `json:"id"`
	HappenedAt time.Time `json:"happened_at"`
	Project    struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		Slug string `json:"slug"`
	} `json:"project"`
	Workflow struct {
		ID        string    `json:"id"`
		Name      string    `json:"name"`
		Status    string    `json:"status"`
		CreatedAt time.Time `json:"created_at"`
		StoppedAt time.Time `json:"stopped_at"`
		URL       string    `json:"url"`
	} `json:"workflow"`
	Pipeline struct {
		ID     string `json:"id"`
		Number int64  `json:"number"`
		// VCS is there for GitHub and Bitbucket projects.
		VCS struct {
			Revision string `json:"revision"`
			Commit   struct {
				CommittedAt time.Time `json:"committed_at"`
			} `json:"commit"`
		} `json:"vcs"`
		// TriggerParameters.GitLab is there for GitLab projects instead.
		TriggerParameters struct {
			GitLab struct {
				CheckoutSHA     string    `json:"checkout_sha"`
				CommitSHA       string    `json:"commit_sha"`
				CommitTimestamp time.Time `json:"commit_timestamp"`
			} `json:"gitlab"`
		} `json:"trigger_parameters"`
	} `json:"pipeline"`
}

// Decode maps a webhook body. Other webhook types (job-completed), workflows
// that are not deployments, and workflows that did not run to an outcome
// (unauthorized, for example) map to nothing. Problems are
// *metrics.InvalidError naming the payload field.
func Decode(body []byte, o Options) ([]metrics.Event, error) {
	if o.DeployPattern == nil {
		o.DeployPattern = defaultDeployPattern
	}
	if o.Environment == "" {
		o.Environment = "production"
	}
	var p WorkflowCompleted
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, metrics.JSONProblem(err, "a CircleCI webhook payload")
	}
	if p.Type != "workflow-completed" {
		if p.Type == "" {
			return nil, metrics.Invalid("type", "is required")
		}
		return nil, nil
	}
	w := p.Workflow
	switch {
	case w.ID == "":
		return nil, metrics.Invalid("workflow.id", "is required")
	case w.Name == "":
		return nil, metrics.Invalid("workflow.name", "is required")
	}
	match := o.DeployPattern.FindStringSubmatch(w.Name)
	if match == nil {
		return nil, nil
	}
	var outcome metrics.Data
	deployment := "circleci/" + w.ID
	switch w.Status {
	case "success":
		outcome = metrics.DeploymentSucceeded{DeploymentID: deployment}
	case "failed", "error", "canceled":
		outcome = metrics.DeploymentFailed{DeploymentID: deployment}
	default:
		return nil, nil
	}
	environment := o.Environment
	if i := o.DeployPattern.SubexpIndex("environment"); i > 0 && match[i] != "" {
		environment = match[i]
	}
	switch {
	case p.Project.Name == "":
		return nil, metrics.Invalid("project.name", "is required")
	case w.CreatedAt.IsZero():
		return nil, metrics.Invalid("workflow.created_at", "is required")
	}
	stopped := w.StoppedAt
	if stopped.IsZero() {
		stopped = p.HappenedAt
	}
	if stopped.IsZero() {
		return nil, metrics.Invalid("workflow.stopped_at", "is required")
	}
	rev, committed := p.Pipeline.VCS.Revision, p.Pipeline.VCS.Commit.CommittedAt
	if gl := p.Pipeline.TriggerParameters.GitLab; rev == "" {
		rev, committed = cmp.Or(gl.CheckoutSHA, gl.CommitSHA), gl.CommitTimestamp
	}
	version := rev
	if version == "" {
		version = fmt.Sprintf("pipeline-%d", p.Pipeline.Number)
	}
	var commits []metrics.Commit
	if rev != "" && !committed.IsZero() {
		commits = []metrics.Commit{{SHA: rev, CommittedAt: committed.UTC()}}
	}
	source := intake.Source("circleci", "https://circleci.com/"+p.Project.Slug)
	events := []metrics.Event{
		{ID: deployment + "/started", Source: source, Time: w.CreatedAt.UTC(), Data: metrics.DeploymentStarted{
			DeploymentID: deployment, Service: p.Project.Name, Environment: environment, Version: version, Commits: commits}},
		{ID: deployment + "/" + w.Status, Source: source, Time: stopped.UTC(), Data: outcome},
	}
	if err := metrics.CheckMapped("workflow", events...); err != nil {
		return nil, err
	}
	return events, nil
}

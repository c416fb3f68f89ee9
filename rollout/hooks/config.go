package hooks

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Defaults of Config.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultGitHubAPI   = "https://api.github.com"
	DefaultGitHubRef   = "main"
	DefaultCircleCIAPI = "https://circleci.com"
	DefaultRollout     = "{{service}}"
)

// Config is the configuration of the rollback hooks. A hook is on when its
// key is set: webhook.url, github.repo, circleci.project_slug,
// argo.namespace. Its YAML keys and flags follow internal/config's rule:
// the flag prefix+"github.token-file" is the key github: {token_file:}.
type Config struct {
	// Timeout bounds one call of a hook (one HTTP request, one patch).
	Timeout  time.Duration  `yaml:"timeout"`
	Webhook  WebhookConfig  `yaml:"webhook"`
	GitHub   GitHubConfig   `yaml:"github"`
	CircleCI CircleCIConfig `yaml:"circleci"`
	Argo     ArgoConfig     `yaml:"argo"`
}

// WebhookConfig is a signed JSON POST of the recommendation.
type WebhookConfig struct {
	// URL receives the POST; the hook is on when it is set.
	URL string `yaml:"url"`
	// Secret, or the contents of SecretFile (one of the two), signs the
	// body in the Estate-Signature header.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
}

// GitHubConfig is a workflow_dispatch of a GitHub Actions workflow.
type GitHubConfig struct {
	// APIURL is the REST API's base: https://api.github.com, or
	// https://HOST/api/v3 on GitHub Enterprise Server.
	APIURL string `yaml:"api_url"`
	// Repo is owner/name; the hook is on when it is set.
	Repo string `yaml:"repo"`
	// Workflow is the workflow's file name (rollback.yml) or numeric id.
	Workflow string `yaml:"workflow"`
	// Ref is the branch or tag whose workflow file runs.
	Ref string `yaml:"ref"`
	// Token, or the contents of TokenFile (one of the two), is sent as a
	// bearer token: a fine-grained token or GitHub App installation token
	// with the actions:write permission.
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
}

// CircleCIConfig is a trigger of a CircleCI pipeline.
type CircleCIConfig struct {
	// APIURL is the API's base: https://circleci.com, or a CircleCI
	// server's.
	APIURL string `yaml:"api_url"`
	// ProjectSlug is vcs/org/repo (gh/estatehq/estate); the hook is on
	// when it is set.
	ProjectSlug string `yaml:"project_slug"`
	// Branch is the branch whose configuration runs; empty runs the
	// project's default branch.
	Branch string `yaml:"branch"`
	// Token, or the contents of TokenFile (one of the two), is a personal
	// API token, sent as Circle-Token.
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
}

// ArgoConfig is an abort of an Argo Rollouts Rollout.
type ArgoConfig struct {
	// Kubeconfig reaches the cluster; empty uses $KUBECONFIG,
	// ~/.kube/config or the pod's service account.
	Kubeconfig string `yaml:"kubeconfig"`
	// Namespace holds the Rollouts; the hook is on when it is set.
	Namespace string `yaml:"namespace"`
	// Rollout is the Rollout's name, in which {{service}} and
	// {{environment}} stand for the recommendation's.
	Rollout string `yaml:"rollout"`
}

// RegisterFlags sets the defaults and binds the flags, named prefix +
// "webhook.url" and so on (prefix is empty or ends with a separator).
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.DurationVar(&c.Timeout, prefix+"timeout", DefaultTimeout, "timeout of one call of a rollback hook")

	p := prefix + "webhook."
	fs.StringVar(&c.Webhook.URL, p+"url", "", "URL the rollback recommendation is POSTed to as signed JSON; the webhook hook is on when set")
	fs.StringVar(&c.Webhook.Secret, p+"secret", "", "secret that signs the webhook's body (Estate-Signature); or use "+p+"secret-file")
	fs.StringVar(&c.Webhook.SecretFile, p+"secret-file", "", "file holding the webhook's signing secret, read at each call")

	p = prefix + "github."
	fs.StringVar(&c.GitHub.APIURL, p+"api-url", DefaultGitHubAPI, "GitHub REST API base URL (https://HOST/api/v3 on GitHub Enterprise Server)")
	fs.StringVar(&c.GitHub.Repo, p+"repo", "", "owner/name of the repository whose workflow rolls back; the GitHub hook is on when set")
	fs.StringVar(&c.GitHub.Workflow, p+"workflow", "", "file name (rollback.yml) or id of the workflow dispatched")
	fs.StringVar(&c.GitHub.Ref, p+"ref", DefaultGitHubRef, "branch or tag whose workflow file runs")
	fs.StringVar(&c.GitHub.Token, p+"token", "", "GitHub token with actions:write; or use "+p+"token-file")
	fs.StringVar(&c.GitHub.TokenFile, p+"token-file", "", "file holding the GitHub token, read at each call")

	p = prefix + "circleci."
	fs.StringVar(&c.CircleCI.APIURL, p+"api-url", DefaultCircleCIAPI, "CircleCI API base URL (a CircleCI server's)")
	fs.StringVar(&c.CircleCI.ProjectSlug, p+"project-slug", "", "project slug (gh/ORG/REPO) whose pipeline rolls back; the CircleCI hook is on when set")
	fs.StringVar(&c.CircleCI.Branch, p+"branch", "", "branch whose pipeline configuration runs; empty runs the project's default branch")
	fs.StringVar(&c.CircleCI.Token, p+"token", "", "CircleCI personal API token; or use "+p+"token-file")
	fs.StringVar(&c.CircleCI.TokenFile, p+"token-file", "", "file holding the CircleCI token, read at each call")

	p = prefix + "argo."
	fs.StringVar(&c.Argo.Kubeconfig, p+"kubeconfig", "", "kubeconfig of the cluster of the Rollouts; empty uses $KUBECONFIG, ~/.kube/config or the pod's service account")
	fs.StringVar(&c.Argo.Namespace, p+"namespace", "", "namespace of the Argo Rollouts aborted; the Argo hook is on when set")
	fs.StringVar(&c.Argo.Rollout, p+"rollout", DefaultRollout, "name of the Rollout aborted; {{service}} and {{environment}} stand for the deployment's")
}

// Validate names every key at fault; it checks a hook only when it is on,
// and refuses a hook's settings without the key that turns it on.
func (c *Config) Validate() error {
	var errs []error
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: must be positive, not %v", c.Timeout))
	}
	errs = append(errs, c.Webhook.validate()...)
	errs = append(errs, c.GitHub.validate()...)
	errs = append(errs, c.CircleCI.validate()...)
	errs = append(errs, c.Argo.validate()...)
	return errors.Join(errs...)
}

func (c *WebhookConfig) enabled() bool { return c.URL != "" }

func (c *WebhookConfig) validate() []error {
	if !c.enabled() {
		return orphans("webhook.url", map[string]string{"webhook.secret": c.Secret, "webhook.secret_file": c.SecretFile})
	}
	var errs []error
	// The URL is not quoted: a receiver's URL may carry its own token.
	if !httpURL(c.URL) {
		errs = append(errs, errors.New("webhook.url: must be an http(s) URL with a host"))
	}
	return append(errs, c.secret().validate()...)
}

func (c *WebhookConfig) secret() secret {
	return secret{key: "webhook.secret", value: c.Secret, file: c.SecretFile}
}

func (c *GitHubConfig) enabled() bool { return c.Repo != "" }

// githubName is what GitHub accepts in an owner's or a repository's name.
var githubName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

func (c *GitHubConfig) validate() []error {
	if !c.enabled() {
		return orphans("github.repo", map[string]string{"github.workflow": c.Workflow, "github.token": c.Token, "github.token_file": c.TokenFile})
	}
	var errs []error
	if !httpURL(c.APIURL) {
		errs = append(errs, fmt.Errorf("github.api_url: must be an http(s) URL with a host, not %q", c.APIURL))
	}
	if owner, name, ok := strings.Cut(c.Repo, "/"); !ok || !githubName.MatchString(owner) || !githubName.MatchString(name) {
		errs = append(errs, fmt.Errorf("github.repo: must be owner/name, not %q", c.Repo))
	}
	if strings.TrimSpace(c.Workflow) == "" || strings.Contains(c.Workflow, "/") {
		errs = append(errs, fmt.Errorf("github.workflow: must be a workflow's file name or id, not %q", c.Workflow))
	}
	if strings.TrimSpace(c.Ref) == "" {
		errs = append(errs, errors.New("github.ref: must be a branch or tag"))
	}
	return append(errs, c.token().validate()...)
}

func (c *GitHubConfig) token() secret {
	return secret{key: "github.token", value: c.Token, file: c.TokenFile}
}

func (c *CircleCIConfig) enabled() bool { return c.ProjectSlug != "" }

func (c *CircleCIConfig) validate() []error {
	if !c.enabled() {
		return orphans("circleci.project_slug", map[string]string{"circleci.branch": c.Branch, "circleci.token": c.Token, "circleci.token_file": c.TokenFile})
	}
	var errs []error
	if !httpURL(c.APIURL) {
		errs = append(errs, fmt.Errorf("circleci.api_url: must be an http(s) URL with a host, not %q", c.APIURL))
	}
	if parts := strings.Split(c.ProjectSlug, "/"); len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		errs = append(errs, fmt.Errorf("circleci.project_slug: must be vcs/org/repo (gh/estatehq/estate), not %q", c.ProjectSlug))
	}
	return append(errs, c.token().validate()...)
}

func (c *CircleCIConfig) token() secret {
	return secret{key: "circleci.token", value: c.Token, file: c.TokenFile}
}

func (c *ArgoConfig) enabled() bool { return c.Namespace != "" }

func (c *ArgoConfig) validate() []error {
	if !c.enabled() {
		return orphans("argo.namespace", map[string]string{"argo.kubeconfig": c.Kubeconfig})
	}
	var errs []error
	if len(validation.IsDNS1123Label(c.Namespace)) > 0 {
		errs = append(errs, fmt.Errorf("argo.namespace: must be a namespace name, not %q", c.Namespace))
	}
	// A sample name finds placeholders unknown and names malformed
	// whatever the service.
	if name := rolloutName(c.Rollout, "svc", "env"); strings.Contains(name, "{{") || len(validation.IsDNS1123Subdomain(name)) > 0 {
		errs = append(errs, fmt.Errorf("argo.rollout: must be a Rollout's name, with {{service}} and {{environment}} as placeholders, not %q", c.Rollout))
	}
	return errs
}

// rolloutName fills the placeholders of tmpl.
func rolloutName(tmpl, service, environment string) string {
	return strings.NewReplacer("{{service}}", service, "{{environment}}", environment).Replace(tmpl)
}

// orphans refuses the settings of a hook that is off, each naming the key
// that turns it on.
func orphans(on string, set map[string]string) []error {
	var keys []string
	for k, v := range set {
		if v != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	return []error{fmt.Errorf("%s: must be set with %s", on, strings.Join(keys, ", "))}
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

// secret is a credential given inline or in a file. The file is read at
// each call, so a mounted Secret may rotate. Its value never appears in an
// error.
type secret struct {
	key         string // key of the inline value; the file's is key+"_file"
	value, file string
}

func (s secret) validate() []error {
	switch {
	case s.value != "" && s.file != "":
		return []error{fmt.Errorf("%s, %s_file: set one, not both", s.key, s.key)}
	case s.value == "" && s.file == "":
		return []error{fmt.Errorf("%s: must be set (or %s_file)", s.key, s.key)}
	}
	return nil
}

// get returns the secret, read from its file when it has one.
func (s secret) get() (string, error) {
	if s.file == "" {
		return s.value, nil
	}
	b, err := os.ReadFile(s.file)
	if err != nil {
		return "", fmt.Errorf("%s_file: %w", s.key, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s_file: %s is empty", s.key, s.file)
	}
	return v, nil
}

package hooks_test

import (
	"flag"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/config"
	"github.com/estatehq/estate/rollout"
	"github.com/estatehq/estate/rollout/hooks"
)

func TestNoHooks(t *testing.T) {
	cfg := defaults(t)
	require.NoError(t, cfg.Validate())
	hs, err := hooks.New(cfg, nil, hooks.Options{})
	require.NoError(t, err)
	require.Empty(t, hs)
}

func TestFlags(t *testing.T) {
	var cfg hooks.Config
	fs := newFlagSet()
	cfg.RegisterFlags(fs, "rollout.hooks.")
	require.NoError(t, fs.Parse([]string{
		"--rollout.hooks.timeout=3s",
		"--rollout.hooks.webhook.url=https://hooks.example.com/rollback",
		"--rollout.hooks.webhook.secret=" + webhookSecret,
		"--rollout.hooks.github.repo=estatehq/estate",
		"--rollout.hooks.github.workflow=rollback.yml",
		"--rollout.hooks.github.token-file=" + filepath.Join("testdata", "token"),
		"--rollout.hooks.circleci.project-slug=gh/estatehq/estate",
		"--rollout.hooks.circleci.token=" + circleToken,
	}))
	require.Equal(t, hooks.Config{
		Timeout: 3 * time.Second,
		Webhook: hooks.WebhookConfig{URL: "https://hooks.example.com/rollback", Secret: webhookSecret},
		GitHub: hooks.GitHubConfig{APIURL: "https://api.github.com", Repo: "estatehq/estate", Workflow: "rollback.yml", Ref: "main",
			TokenFile: filepath.Join("testdata", "token")},
		CircleCI: hooks.CircleCIConfig{APIURL: "https://circleci.com", ProjectSlug: "gh/estatehq/estate", Token: circleToken},
		Argo:     hooks.ArgoConfig{Rollout: "{{service}}"},
	}, cfg)
	hs, err := hooks.New(cfg, http.DefaultClient, hooks.Options{})
	require.NoError(t, err)
	var names []string
	for _, h := range hs {
		names = append(names, h.Name())
	}
	require.Equal(t, []string{"webhook", "github", "circleci"}, names)
	var _ []rollout.Hook = hs
}

// Each flag is the YAML key internal/config's rule makes of it, so a
// configuration file decodes strictly into the same struct.
func TestFlagsAreKeys(t *testing.T) {
	var cfg hooks.Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs, "")
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		parts := strings.Split(strings.ReplaceAll(f.Name, "-", "_"), ".")
		doc := ""
		for i, p := range parts {
			doc += strings.Repeat("  ", i) + p + ":"
			if i < len(parts)-1 {
				doc += "\n"
			}
		}
		var into hooks.Config
		require.NoError(t, config.Decode([]byte(doc+" 1s\n"), &into), "flag %s as YAML:\n%s", f.Name, doc)
	})
	require.Equal(t, 18, n)
}

func TestValidate(t *testing.T) {
	const secret = "s3cr3t-that-must-never-show-0123"
	for _, tc := range []struct {
		name string
		set  func(*hooks.Config)
		want []string // keys named, one error each
	}{
		{name: "timeout", set: func(c *hooks.Config) { c.Timeout = 0 }, want: []string{"timeout:"}},
		{name: "webhook url", set: func(c *hooks.Config) { c.Webhook.URL, c.Webhook.Secret = "ftp://example.com/"+secret, secret }, want: []string{"webhook.url:"}},
		{name: "webhook url with credentials", set: func(c *hooks.Config) {
			c.Webhook.URL, c.Webhook.Secret = "https://user:"+secret+"@example.com/", secret
		}, want: []string{"webhook.url:"}},
		{name: "webhook secret missing", set: func(c *hooks.Config) { c.Webhook.URL = "https://example.com/" }, want: []string{"webhook.secret:"}},
		{name: "webhook secret twice", set: func(c *hooks.Config) {
			c.Webhook.URL, c.Webhook.Secret, c.Webhook.SecretFile = "https://example.com/", secret, "/run/secrets/webhook"
		}, want: []string{"webhook.secret, webhook.secret_file:"}},
		{name: "webhook secret without url", set: func(c *hooks.Config) { c.Webhook.Secret = secret }, want: []string{"webhook.url: must be set with webhook.secret"}},
		{name: "github repo", set: func(c *hooks.Config) {
			c.GitHub.Repo, c.GitHub.Workflow, c.GitHub.Token = "estate", "rollback.yml", secret
		}, want: []string{"github.repo:"}},
		{name: "github workflow, ref, api", set: func(c *hooks.Config) {
			c.GitHub.Repo, c.GitHub.Token, c.GitHub.Ref, c.GitHub.APIURL = "estatehq/estate", secret, " ", "api.github.com"
		}, want: []string{"github.workflow:", "github.ref:", "github.api_url:"}},
		{name: "github token missing", set: func(c *hooks.Config) { c.GitHub.Repo, c.GitHub.Workflow = "estatehq/estate", "1234" }, want: []string{"github.token: must be set (or github.token_file)"}},
		{name: "github settings without repo", set: func(c *hooks.Config) { c.GitHub.Workflow, c.GitHub.Token = "rollback.yml", secret },
			want: []string{"github.repo: must be set with github.token, github.workflow"}},
		{name: "circleci slug", set: func(c *hooks.Config) { c.CircleCI.ProjectSlug, c.CircleCI.Token = "gh/estatehq", secret }, want: []string{"circleci.project_slug:"}},
		{name: "circleci api and token", set: func(c *hooks.Config) {
			c.CircleCI.ProjectSlug, c.CircleCI.APIURL = "gh/estatehq/estate", ""
		}, want: []string{"circleci.api_url:", "circleci.token:"}},
		{name: "circleci token without slug", set: func(c *hooks.Config) { c.CircleCI.TokenFile = "/run/secrets/circleci" },
			want: []string{"circleci.project_slug: must be set with circleci.token_file"}},
		{name: "argo namespace", set: func(c *hooks.Config) { c.Argo.Namespace = "Rollouts_NS" }, want: []string{"argo.namespace:"}},
		{name: "argo rollout", set: func(c *hooks.Config) { c.Argo.Namespace, c.Argo.Rollout = "apps", "{{svc}}" }, want: []string{"argo.rollout:"}},
		{name: "argo rollout empty", set: func(c *hooks.Config) { c.Argo.Namespace, c.Argo.Rollout = "apps", "" }, want: []string{"argo.rollout:"}},
		{name: "argo kubeconfig without namespace", set: func(c *hooks.Config) { c.Argo.Kubeconfig = "/etc/kube/config" },
			want: []string{"argo.namespace: must be set with argo.kubeconfig"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaults(t)
			tc.set(&cfg)
			err := cfg.Validate()
			require.Error(t, err)
			lines := strings.Split(err.Error(), "\n")
			require.Len(t, lines, len(tc.want), "errors: %v", err)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
			require.NotContains(t, err.Error(), secret)
			_, err = hooks.New(cfg, nil, hooks.Options{})
			require.Error(t, err, "New validates")
		})
	}
}

func TestNewReadsSecretFiles(t *testing.T) {
	cfg := defaults(t)
	cfg.CircleCI.ProjectSlug = "gh/estatehq/estate"
	cfg.CircleCI.TokenFile = filepath.Join(t.TempDir(), "missing")
	_, err := hooks.New(cfg, nil, hooks.Options{})
	require.ErrorContains(t, err, "circleci.token_file: open ")
}

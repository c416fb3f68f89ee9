package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"
	"k8s.io/client-go/rest"

	"github.com/estatehq/estate/internal/delivery"
	"github.com/estatehq/estate/rollout"
)

// The hooks' names (rollout.Hook.Name).
const (
	NameWebhook  = "webhook"
	NameGitHub   = "github"
	NameCircleCI = "circleci"
	NameArgo     = "argo"
)

// UserAgent is the User-Agent of every hook's requests.
const UserAgent = "estate-rollout"

// Options are the hooks' dependencies.
type Options struct {
	// Now is the clock of signatures and of Retry-After dates; time.Now
	// when nil.
	Now func() time.Time
	// Kube, when set, reaches the Argo hook's cluster instead of
	// argo.kubeconfig.
	Kube *rest.Config
}

func (o Options) now() func() time.Time {
	if o.Now == nil {
		return time.Now
	}
	return o.Now
}

// New validates cfg and returns the hooks it turns on, in the order
// webhook, GitHub, CircleCI, Argo; none when nothing is set. client sends
// the HTTP hooks' requests (nil: a client with Go's default transport);
// its redirect policy is replaced by one that follows redirects to the
// same host only, so credentials reach no other.
func New(cfg Config, client *http.Client, opts Options) ([]rollout.Hook, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var hooks []rollout.Hook
	if cfg.Webhook.enabled() {
		h, err := NewWebhook(cfg, client, opts)
		if err != nil {
			return nil, err
		}
		hooks = append(hooks, h)
	}
	if cfg.GitHub.enabled() {
		h, err := NewGitHub(cfg, client, opts)
		if err != nil {
			return nil, err
		}
		hooks = append(hooks, h)
	}
	if cfg.CircleCI.enabled() {
		h, err := NewCircleCI(cfg, client, opts)
		if err != nil {
			return nil, err
		}
		hooks = append(hooks, h)
	}
	if cfg.Argo.enabled() {
		h, err := NewArgo(cfg, opts)
		if err != nil {
			return nil, err
		}
		hooks = append(hooks, h)
	}
	return hooks, nil
}

// ready checks an HTTP hook's settings before it is built: on (its key,
// on, is set), valid (errs are its validation's), its credential readable.
func ready(enabled bool, on string, errs []error, s secret) error {
	if !enabled {
		return fmt.Errorf("%s: must be set", on)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	_, err := s.get()
	return err
}

// check refuses a recommendation no hook can send: retrying it cannot help.
func check(r rollout.Recommendation) error {
	switch {
	case r.DeploymentID == "":
		return delivery.Permanent(errors.New("the recommendation has no deployment_id"))
	case r.Service == "":
		return delivery.Permanent(errors.New("the recommendation has no service"))
	case !httpguts.ValidHeaderFieldValue(r.DeploymentID):
		return delivery.Permanent(fmt.Errorf("deployment_id %q cannot be sent in a header", r.DeploymentID))
	}
	return nil
}

// maxBody bounds the part of an answer's body read; maxDetail the part
// kept in Answer.Detail.
const (
	maxBody   = 64 << 10
	maxDetail = 512
)

// sender sends the HTTP hooks' requests.
type sender struct {
	client  *http.Client
	timeout time.Duration
	now     func() time.Time
}

func newSender(client *http.Client, timeout time.Duration, opts Options) sender {
	c := &http.Client{}
	if client != nil {
		copied := *client
		c = &copied
	}
	c.CheckRedirect = sameHost
	return sender{client: c, timeout: timeout, now: opts.now()}
}

// sameHost follows a redirect (GitHub answers 307 for a renamed
// repository) only to the scheme and host of the first request: the
// client would forward a header such as Circle-Token to any host.
func sameHost(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("stopped after 5 redirects")
	}
	if req.URL.Scheme != via[0].URL.Scheme || req.URL.Host != via[0].URL.Host {
		return http.ErrUseLastResponse
	}
	return nil
}

// reader makes the Answer and the error of an answer, given its body cut
// to maxBody.
type reader func(resp *http.Response, body []byte) (rollout.Answer, error)

// post POSTs body to target within the timeout and reads the answer with
// read. Errors name target's scheme and host only: a receiver's URL may
// carry a token.
func (s sender) post(ctx context.Context, target string, header http.Header, body []byte, read reader) (rollout.Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return rollout.Answer{}, delivery.Permanent(fmt.Errorf("a request to %s cannot be made", origin(target)))
	}
	req.Header = header
	resp, err := s.client.Do(req)
	if err != nil {
		// A *url.Error quotes the whole URL; keep its cause.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return rollout.Answer{}, fmt.Errorf("POST %s: %w", origin(target), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return answer(resp, b), fmt.Errorf("POST %s: reading the answer: %w", origin(target), err)
	}
	return read(resp, b)
}

// read is the reader of most hooks: the answer, classified.
func (s sender) read(resp *http.Response, body []byte) (rollout.Answer, error) {
	return answer(resp, body), s.classify(resp, body)
}

// classify is the error class of an answer: nil for 2xx; retryable for
// 408, 429 and 5xx, a *delivery.ThrottleError when the receiver named a
// Retry-After (or answered 429); permanent for any other status.
func (s sender) classify(resp *http.Response, body []byte) error {
	return delivery.HTTPError(resp, body, retryable, s.now())
}

func retryable(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// answer is what a receiver said, as evidence.
func answer(resp *http.Response, body []byte) rollout.Answer {
	return rollout.Answer{Status: resp.StatusCode, Detail: cut(body)}
}

// cut trims b and cuts it, at a character's start, to maxDetail bytes.
func cut(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) <= maxDetail {
		return string(b)
	}
	n := maxDetail - len("...")
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return string(b[:n]) + "..."
}

// origin is the scheme and host of a URL, what errors may show of it.
func origin(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return "the configured URL"
	}
	return u.Scheme + "://" + u.Host
}

// jsonHeader is the header of a JSON POST.
func jsonHeader() http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", UserAgent)
	return h
}

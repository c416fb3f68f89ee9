package hooks_test

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/rollout"
	"github.com/estatehq/estate/rollout/hooks"
	"github.com/estatehq/estate/services/kit/webhook"
)

const webhookSecret = "3f6c1e0b9a7d4c2e8f5a1b6d0c9e7f3a"

// receiver is a webhook receiver as a party of the estate writes one: it
// verifies the signature, keeps the idempotency key and the decoded
// recommendation, and answers 202.
type receiver struct {
	secret string
	got    []rollout.Recommendation
	bodies [][]byte
	keys   []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	switch {
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadRequest)
	case r.Method != http.MethodPost || r.URL.Path != "/hooks/rollback":
		http.Error(w, "wrong method or path: "+r.Method+" "+r.URL.Path, http.StatusNotFound)
	case r.Header.Get("Content-Type") != "application/json" || r.Header.Get("User-Agent") != "estate-rollout":
		http.Error(w, "wrong headers", http.StatusBadRequest)
	default:
		if err := webhook.Verify(r.Header.Get(webhook.Header), body, rc.secret, now, webhook.DefaultTolerance); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var rec rollout.Recommendation
		if err := json.Unmarshal(body, &rec); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.got = append(rc.got, rec)
		rc.bodies = append(rc.bodies, body)
		rc.keys = append(rc.keys, r.Header.Get("Idempotency-Key"))
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, "  queued rollback of "+rec.DeploymentID+"\n")
	}
}

func webhookConfig(t *testing.T, url string) hooks.Config {
	cfg := defaults(t)
	cfg.Webhook.URL = url + "/hooks/rollback"
	cfg.Webhook.Secret = webhookSecret
	return cfg
}

func TestWebhook(t *testing.T) {
	rc := &receiver{secret: webhookSecret}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	h := only(t, webhookConfig(t, srv.URL), srv.Client(), hooks.Options{Now: clock})
	require.Equal(t, "webhook", h.Name())

	rec := recommendation()
	// The evidence holds infinities, which JSON has not: the +Inf bucket,
	// a ratio over no errors before. They go as "+Inf" and come back.
	rec.Result.Before.Buckets = append(rec.Result.Before.Buckets, rollout.Bucket{Le: math.Inf(1), Count: 1000})
	rec.Result.ErrorTest.Ratio = math.Inf(1)

	a, err := h.Call(context.Background(), rec)
	require.NoError(t, err)
	require.Equal(t, rollout.Answer{Status: http.StatusAccepted, Detail: "queued rollback of dep-42"}, a)
	require.Equal(t, []string{"dep-42"}, rc.keys)
	require.Len(t, rc.got, 1)
	require.Empty(t, cmp.Diff(rec, rc.got[0]))
	require.Contains(t, string(rc.bodies[0]), `"le":"+Inf"`)
}

func TestWebhookSecretFile(t *testing.T) {
	rc := &receiver{secret: "first-secret-of-thirty-two-bytes"}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(file, []byte(rc.secret+"\n"), 0o600))
	cfg := webhookConfig(t, srv.URL)
	cfg.Webhook.Secret, cfg.Webhook.SecretFile = "", file
	h := only(t, cfg, srv.Client(), hooks.Options{Now: clock})

	_, err := h.Call(context.Background(), recommendation())
	require.NoError(t, err)

	// The file is read at each call: a rotated Secret signs the next.
	rc.secret = "second-secret-of-thirty-two-byte"
	require.NoError(t, os.WriteFile(file, []byte(rc.secret), 0o600))
	_, err = h.Call(context.Background(), recommendation())
	require.NoError(t, err)
	require.Len(t, rc.got, 2)

	require.NoError(t, os.Remove(file))
	_, err = h.Call(context.Background(), recommendation())
	requireClass(t, err, retry, 0)
	require.ErrorContains(t, err, "webhook.secret_file")
}

func TestWebhookAnswers(t *testing.T) {
	long := strings.Repeat("é", 400) // 800 bytes
	runAnswers(t, []answerCase{
		{name: "500 is retried", status: 500, body: "internal error", want: retry},
		{name: "502 is retried", status: 502, want: retry},
		{name: "408 is retried", status: 408, want: retry},
		{name: "400 is permanent", status: 400, body: `{"error":"bad body"}`, want: permanent},
		{name: "401 is permanent", status: 401, want: permanent},
		{name: "404 is permanent", status: 404, want: permanent},
		{name: "429 with Retry-After", status: 429, header: map[string]string{"Retry-After": "7"}, want: throttle, delay: 7 * time.Second},
		{name: "429 without Retry-After", status: 429, want: throttle, delay: 0},
		{name: "503 with a Retry-After date", status: 503, header: map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, want: throttle, delay: 90 * time.Second},
	}, func(t *testing.T, url string) rollout.Hook {
		cfg := webhookConfig(t, url)
		return only(t, cfg, nil, hooks.Options{Now: clock})
	})

	t.Run("a long body is cut", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, long)
		}))
		defer srv.Close()
		a, err := only(t, webhookConfig(t, srv.URL), srv.Client(), hooks.Options{Now: clock}).Call(context.Background(), recommendation())
		require.NoError(t, err)
		require.LessOrEqual(t, len(a.Detail), 512)
		require.Equal(t, strings.Repeat("é", 254)+"...", a.Detail)
	})
}

func TestWebhookKeepsSecrets(t *testing.T) {
	const token = "tok-in-the-path-0123456789"
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls++
		http.Error(w, "no", http.StatusBadRequest)
	}))
	cfg := webhookConfig(t, srv.URL)
	cfg.Webhook.URL = srv.URL + "/hooks/" + token + "?key=" + token
	h := only(t, cfg, nil, hooks.Options{Now: clock})

	_, err := h.Call(context.Background(), recommendation())
	requireClass(t, err, permanent, 0)
	require.Equal(t, 1, calls)
	srv.Close()
	// Unreachable: the transport's error would quote the whole URL.
	_, err = h.Call(context.Background(), recommendation())
	requireClass(t, err, retry, 0)
	require.ErrorContains(t, err, "POST http://127.0.0.1:")
	for _, s := range []string{token, webhookSecret} {
		require.NotContains(t, err.Error(), s)
	}
}

func TestWebhookRedirects(t *testing.T) {
	// A redirect to another host would carry the signature and the
	// idempotency key there: it is not followed.
	var elsewhere int
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { elsewhere++ }))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, other.URL+"/hooks/rollback", http.StatusTemporaryRedirect)
			return
		}
		http.Redirect(w, r, "/moved", http.StatusPermanentRedirect)
	}))
	defer srv.Close()
	a, err := only(t, webhookConfig(t, srv.URL), srv.Client(), hooks.Options{Now: clock}).Call(context.Background(), recommendation())
	requireClass(t, err, permanent, 0)
	require.Equal(t, http.StatusTemporaryRedirect, a.Status, "the same host's redirect is followed, the other's is the answer")
	require.Zero(t, elsewhere)
}

func TestWebhookRefusesIncompleteRecommendations(t *testing.T) {
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls++ }))
	defer srv.Close()
	h := only(t, webhookConfig(t, srv.URL), srv.Client(), hooks.Options{Now: clock})
	for _, mutate := range []func(*rollout.Recommendation){
		func(r *rollout.Recommendation) { r.DeploymentID = "" },
		func(r *rollout.Recommendation) { r.Service = "" },
		func(r *rollout.Recommendation) { r.DeploymentID = "dep\r\nX-Injected: 1" },
	} {
		r := recommendation()
		mutate(&r)
		_, err := h.Call(context.Background(), r)
		requireClass(t, err, permanent, 0)
	}
	require.Zero(t, calls)
}

package fault_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/auth/authtest"
	"github.com/estatehq/estate/internal/problem/problemtest"
	"github.com/estatehq/estate/services/kit/fault"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// router serves two routes behind the injector, as httpapi mounts it: after
// routing, so the route pattern is known.
func router(i *fault.Injector) http.Handler {
	r := chi.NewRouter()
	r.Group(func(r chi.Router) {
		r.Use(i.Middleware)
		r.Get("/v1/invoices/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
		r.Post("/v1/invoices", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusCreated) })
	})
	return r
}

func serve(h http.Handler, method, path string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
	return w
}

func TestMiddlewareByRouteMethodAndPercentage(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	draws := []float64{0.1, 0.9}
	n := 0
	i := fault.New(fault.Options{Now: func() time.Time { return now }, Rand: func() float64 { n++; return draws[(n-1)%2] }})
	defer i.Close()
	h := router(i)
	exp := now.Add(time.Minute)

	require.Equal(t, http.StatusOK, serve(h, "GET", "/v1/invoices/1").Code, "no fault")

	require.NoError(t, i.Set(fault.Fault{ID: "a", Action: fault.ActionAbort, Route: "/v1/invoices/{id}", Method: "get", Percentage: 100, Status: 503, ExpiresAt: exp}))
	w := serve(h, "GET", "/v1/invoices/1")
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
	require.Equal(t, http.StatusCreated, serve(h, "POST", "/v1/invoices").Code, "another route")
	require.True(t, i.Remove("a"))
	require.False(t, i.Remove("a"))

	// An error rate of 50%: the draws 0.1 and 0.9 hit one request of two.
	require.NoError(t, i.Set(fault.Fault{ID: "e", Action: fault.ActionError, Percentage: 50, ExpiresAt: exp}))
	require.Equal(t, http.StatusInternalServerError, serve(h, "POST", "/v1/invoices").Code)
	require.Equal(t, http.StatusCreated, serve(h, "POST", "/v1/invoices").Code)
	require.Equal(t, 1, i.Clear())
	require.Equal(t, http.StatusCreated, serve(h, "POST", "/v1/invoices").Code)
}

func TestAbortWithoutStatusResetsTheConnection(t *testing.T) {
	i := fault.New(fault.Options{})
	defer i.Close()
	srv := httptest.NewServer(router(i))
	defer srv.Close()
	srv.Config.ErrorLog = nil
	require.NoError(t, i.Set(fault.Fault{ID: "r", Action: fault.ActionAbort, Percentage: 100, ExpiresAt: time.Now().Add(time.Minute)}))
	resp, err := srv.Client().Get(srv.URL + "/v1/invoices/1")
	if err == nil {
		resp.Body.Close()
	}
	require.Error(t, err, "the connection is closed without an answer")
}

func TestLatencyAndDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		i := fault.New(fault.Options{})
		defer i.Close()
		h := router(i)
		require.NoError(t, i.Set(fault.Fault{ID: "l", Action: fault.ActionLatency, DelayMS: 300, Percentage: 100, ExpiresAt: time.Now().Add(time.Minute)}))
		start := time.Now()
		require.Equal(t, http.StatusOK, serve(h, "GET", "/v1/invoices/1").Code)
		require.Equal(t, 300*time.Millisecond, time.Since(start))
		require.Len(t, i.Active(), 1)

		// No one removes the fault: its deadline does.
		time.Sleep(time.Minute)
		synctest.Wait()
		require.Empty(t, i.Active())
		start = time.Now()
		serve(h, "GET", "/v1/invoices/1")
		require.Zero(t, time.Since(start))
	})
}

func TestSetRefusesInvalidAndExpired(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	i := fault.New(fault.Options{Now: func() time.Time { return now }})
	defer i.Close()
	for name, tc := range map[string]struct {
		f    fault.Fault
		want string
	}{
		"no id":         {fault.Fault{Action: fault.ActionError, Percentage: 10, ExpiresAt: now.Add(time.Minute)}, "id: "},
		"action":        {fault.Fault{ID: "x", Action: "explode", Percentage: 10, ExpiresAt: now.Add(time.Minute)}, "action: "},
		"no delay":      {fault.Fault{ID: "x", Action: fault.ActionLatency, Percentage: 10, ExpiresAt: now.Add(time.Minute)}, "delay_ms: "},
		"error status":  {fault.Fault{ID: "x", Action: fault.ActionError, Status: 404, Percentage: 10, ExpiresAt: now.Add(time.Minute)}, "status: "},
		"percentage":    {fault.Fault{ID: "x", Action: fault.ActionError, Percentage: 0, ExpiresAt: now.Add(time.Minute)}, "percentage: "},
		"route":         {fault.Fault{ID: "x", Action: fault.ActionError, Route: "v1", Percentage: 5, ExpiresAt: now.Add(time.Minute)}, "route: "},
		"no deadline":   {fault.Fault{ID: "x", Action: fault.ActionError, Percentage: 5}, "expires_at: "},
		"past deadline": {fault.Fault{ID: "x", Action: fault.ActionError, Percentage: 5, ExpiresAt: now.Add(-time.Second)}, "deadline has passed"},
	} {
		t.Run(name, func(t *testing.T) {
			err := i.Set(tc.f)
			require.ErrorContains(t, err, tc.want)
		})
	}
	require.Empty(t, i.Active())
}

// control starts the control surface of an injector and returns a token
// source for a subject with the given scopes.
func control(t *testing.T, i *fault.Injector) (*httptest.Server, func(scopes ...string) string) {
	t.Helper()
	iss := authtest.New(t)
	srv := httptest.NewServer(fault.NewControlHandler(fault.ControlOptions{Injector: i, Authenticator: iss.Authenticator, MaxTTL: 10 * time.Minute}))
	t.Cleanup(srv.Close)
	return srv, func(scopes ...string) string { return iss.Token(t, "estate-chaos", scopes...) }
}

func TestControlNeedsChaosOperate(t *testing.T) {
	i := fault.New(fault.Options{})
	defer i.Close()
	srv, token := control(t, i)
	f := fault.Fault{ID: "f1", Action: fault.ActionError, Percentage: 100, ExpiresAt: time.Now().Add(time.Minute)}
	for name, tc := range map[string]struct {
		token  string
		status int
	}{
		"no token":        {"", http.StatusUnauthorized},
		"forged token":    {"abc.def.ghi", http.StatusUnauthorized},
		"no chaos scope":  {token("invoicing/history.read"), http.StatusForbidden},
		"chaos.halt only": {token(auth.RoleChaosHalt), http.StatusForbidden},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := fault.NewClient(fault.ClientOptions{URL: srv.URL, Token: func(context.Context) (string, error) { return tc.token, nil }})
			require.NoError(t, err)
			err = c.Set(context.Background(), f)
			var se *fault.StatusError
			require.ErrorAs(t, err, &se)
			require.Equal(t, tc.status, se.Status)
			require.Empty(t, i.Active())
		})
	}

	c, err := fault.NewClient(fault.ClientOptions{URL: srv.URL, Token: func(context.Context) (string, error) { return token(fault.Scope), nil }})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, c.Set(ctx, f))
	got, err := c.List(ctx)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "f1", got[0].ID)

	far := f
	far.ExpiresAt = time.Now().Add(time.Hour)
	var se *fault.StatusError
	require.ErrorAs(t, c.Set(ctx, far), &se)
	require.Equal(t, http.StatusUnprocessableEntity, se.Status)
	require.Contains(t, se.Detail, "expires_at")

	require.NoError(t, c.Remove(ctx, "f1"))
	require.NoError(t, c.Remove(ctx, "f1"), "removing a fault that is gone")
	require.Empty(t, i.Active())
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	i := fault.New(fault.Options{Registerer: reg})
	defer i.Close()
	require.NoError(t, i.Set(fault.Fault{ID: "e", Action: fault.ActionError, Percentage: 100, ExpiresAt: time.Now().Add(time.Minute)}))
	serve(router(i), "GET", "/v1/invoices/1")
	mfs, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got[mf.GetName()] += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	require.Equal(t, map[string]float64{"estate_fault_active": 1, "estate_fault_injected_requests_total": 1}, got)
}

// BenchmarkMiddlewareNoFault is the cost a service pays for the injector
// when no fault is set: the goal is at most 1 µs and no allocation.
func BenchmarkMiddlewareNoFault(b *testing.B) {
	i := fault.New(fault.Options{})
	defer i.Close()
	h := i.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest("GET", "/v1/invoices/1", nil)
	w := discard{}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

type discard struct{}

func (discard) Header() http.Header         { return nil }
func (discard) Write(b []byte) (int, error) { return io.Discard.Write(b) }
func (discard) WriteHeader(int)             {}

func TestControlUnroutedAnswersProblems(t *testing.T) {
	problemtest.RequireUnrouted(t, fault.NewControlHandler(fault.ControlOptions{}),
		problemtest.Unrouted{Method: http.MethodGet, Path: "/v1/nowhere"},
		problemtest.Unrouted{Method: http.MethodPost, Path: "/v1/faults", Allow: "GET, DELETE"},
		problemtest.Unrouted{Method: http.MethodGet, Path: "/v1/faults/f-1", Allow: "PUT, DELETE"},
	)
}

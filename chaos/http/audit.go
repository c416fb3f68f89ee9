package chaoshttp

import (
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/estatehq/estate/internal/auth"
)

// audited logs every call of an action, after it is answered: who (the
// principal), what (the action, the run, a dry run, the answer's status),
// when, and from where (the peer's address, and X-Forwarded-For as the
// client sent it, which nothing here verifies).
func audited(o Options, action string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		at := o.Now().UTC()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h(rec, r)
		what := action
		if dry, _ := strconv.ParseBool(r.URL.Query().Get("dry_run")); dry && action == "submit" {
			what = "dry_run"
		}
		who := "anonymous"
		if p, ok := auth.FromContext(r.Context()); ok {
			who = p.Who()
		}
		attrs := []any{"audit", true, "who", who, "action", what, "at", at, "status", rec.status,
			"remote", r.RemoteAddr}
		if id := chi.URLParam(r, "id"); id != "" {
			attrs = append(attrs, "run", id)
		}
		if loc := rec.Header().Get("Location"); loc != "" {
			attrs = append(attrs, "location", loc)
		}
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			attrs = append(attrs, "x_forwarded_for", xff, "x_forwarded_for_verified", false)
		}
		o.Logger.InfoContext(r.Context(), "chaos action", attrs...)
	}
}

// statusRecorder remembers the status a handler answered.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

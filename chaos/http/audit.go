package chaoshttp

import (
	"context"
	"crypto/rand"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/estatehq/estate/chaos"
	"github.com/estatehq/estate/internal/auth"
)

// audited logs every call of an action, after it is answered: who (the
// principal), what (the action, the run, a dry run, the answer's status),
// when, and from where (the peer's address, and X-Forwarded-For as the
// client sent it, which nothing here verifies). With Options.Events set,
// the same is sent as a dev.estate.chaos.action event once the answer is
// flushed to the client: a halt is answered before its audit is sent.
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
		run := chi.URLParam(r, "id")
		if run != "" {
			attrs = append(attrs, "run", run)
		}
		if loc := rec.Header().Get("Location"); loc != "" {
			attrs = append(attrs, "location", loc)
			if run == "" {
				run = loc[strings.LastIndexByte(loc, '/')+1:]
			}
		}
		xff := r.Header.Values("X-Forwarded-For")
		if len(xff) > 0 {
			attrs = append(attrs, "x_forwarded_for", xff, "x_forwarded_for_verified", false)
		}
		o.Logger.InfoContext(r.Context(), "chaos action", attrs...)
		if o.Events == nil {
			return
		}
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		e := chaos.Event{ID: "action-" + at.Format("20060102T150405.000000000Z") + "-" + rand.Text()[:8], Type: chaos.EventChaosAction,
			Time: at, ExperimentID: run, Action: what, Actor: who, Status: strconv.Itoa(rec.status), Remote: r.RemoteAddr,
			ForwardedFor: strings.Join(xff, ", ")}
		if err := o.Events.Send(context.WithoutCancel(r.Context()), e); err != nil {
			o.Logger.WarnContext(r.Context(), "sending the chaos action's audit event", "action", what, "who", who, "err", err)
		}
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

package http

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/estatehq/estate/collector"
	"github.com/estatehq/estate/internal/problem"
	"github.com/estatehq/estate/internal/timebound"
)

// MaxLimit bounds the limit parameter.
const MaxLimit = 10000

var levelNames = []string{"trace", "debug", "info", "warn", "warning", "error", "fatal"}

func handleLogs(store collector.QueryStore, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := params{v: r.URL.Query()}
		p.allow("service", "level", "q", "trace_id", "from", "to", "limit")
		q := collector.LogQuery{
			Service: p.v.Get("service"),
			Level:   p.oneOf("level", levelNames),
			Text:    p.v.Get("q"),
			TraceID: p.traceID("trace_id"),
			From:    p.time("from"),
			To:      p.time("to"),
			Limit:   p.limit(),
		}
		p.window(q.From, q.To)
		if p.bad(w, r) {
			return
		}
		logs, err := store.QueryLogs(r.Context(), q)
		if err != nil {
			internal(w, r, logger, err)
			return
		}
		writeJSON(w, map[string]any{"logs": logs})
	})
}

func handleTraces(store collector.QueryStore, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := params{v: r.URL.Query()}
		p.allow("service", "min_duration", "from", "to", "limit")
		q := collector.TraceQuery{
			Service:     p.v.Get("service"),
			MinDuration: p.duration("min_duration"),
			From:        p.time("from"),
			To:          p.time("to"),
			Limit:       p.limit(),
		}
		p.window(q.From, q.To)
		if p.bad(w, r) {
			return
		}
		traces, err := store.QueryTraces(r.Context(), q)
		if err != nil {
			internal(w, r, logger, err)
			return
		}
		writeJSON(w, map[string]any{"traces": traces})
	})
}

func handleTrace(store collector.QueryStore, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "trace_id")
		if !validTraceID(id) {
			problem.Write(w, r, problem.New(http.StatusBadRequest, "trace_id must be 32 hexadecimal characters",
				problem.FieldError{Location: "path.trace_id", Message: "must be 32 hexadecimal characters, not all zero", Value: id}))
			return
		}
		spans, err := store.Trace(r.Context(), id)
		if errors.Is(err, collector.ErrNotFound) {
			problem.Write(w, r, problem.New(http.StatusNotFound, "no trace with this id is stored"))
			return
		}
		if err != nil {
			internal(w, r, logger, err)
			return
		}
		writeJSON(w, map[string]any{"trace_id": strings.ToLower(id), "spans": spans})
	})
}

func internal(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	if r.Context().Err() != nil {
		return
	}
	logger.Error("query failed", "path", r.URL.Path, "err", err)
	problem.Write(w, r, problem.New(http.StatusInternalServerError, "the query failed; see the collector's log"))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func validTraceID(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 16 && !slices.Equal(b, make([]byte, 16))
}

// params parses query parameters, collecting one error per bad one.
type params struct {
	v    url.Values
	errs []problem.FieldError
}

func (p *params) fail(name, msg string, value any) {
	p.errs = append(p.errs, problem.FieldError{Location: "query." + name, Message: msg, Value: value})
}

func (p *params) allow(names ...string) {
	var unknown []string
	for k := range p.v {
		if !slices.Contains(names, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		p.fail(k, "unknown parameter; known: "+strings.Join(names, ", "), nil)
	}
	for _, k := range names {
		if len(p.v[k]) > 1 {
			p.fail(k, "given more than once", nil)
		}
	}
}

func (p *params) oneOf(name string, allowed []string) string {
	s := p.v.Get(name)
	if s != "" && !slices.Contains(allowed, strings.ToLower(s)) {
		p.fail(name, "must be one of "+strings.Join(allowed, ", "), s)
	}
	return s
}

func (p *params) traceID(name string) string {
	s := p.v.Get(name)
	if s != "" && !validTraceID(s) {
		p.fail(name, "must be 32 hexadecimal characters, not all zero", s)
	}
	return s
}

func (p *params) time(name string) time.Time {
	s := p.v.Get(name)
	if s == "" {
		return time.Time{}
	}
	t, err := timebound.Parse(s)
	if err != nil {
		p.fail(name, err.Error(), s)
	}
	return t
}

func (p *params) window(from, to time.Time) {
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		p.fail("to", "must be after from", p.v.Get("to"))
	}
}

func (p *params) duration(name string) time.Duration {
	s := p.v.Get(name)
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		p.fail(name, "must be a non-negative duration such as 250ms or 2s", s)
	}
	return d
}

func (p *params) limit() int {
	s := p.v.Get("limit")
	if s == "" {
		return 100
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		p.fail("limit", fmt.Sprintf("must be a whole number from 1 to %d", MaxLimit), s)
	}
	return n
}

// bad writes the problem when a parameter was bad.
func (p *params) bad(w http.ResponseWriter, r *http.Request) bool {
	if len(p.errs) == 0 {
		return false
	}
	names := make([]string, 0, len(p.errs))
	for _, e := range p.errs {
		names = append(names, strings.TrimPrefix(e.Location, "query."))
	}
	problem.Write(w, r, problem.New(http.StatusBadRequest, "invalid query parameter: "+strings.Join(names, ", "), p.errs...))
	return true
}

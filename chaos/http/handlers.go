package chaoshttp

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/estatehq/estate/chaos"
	"github.com/estatehq/estate/internal/problem"
)

// statusOf is the one table from the domain's error codes to HTTP.
var statusOf = map[string]int{
	chaos.EINVALID:     http.StatusUnprocessableEntity,
	chaos.ENOTFOUND:    http.StatusNotFound,
	chaos.ECONFLICT:    http.StatusConflict,
	chaos.EHALTED:      http.StatusConflict,
	chaos.EUNAVAILABLE: http.StatusUnprocessableEntity,
	chaos.EINTERNAL:    http.StatusInternalServerError,
}

// RunDetail is a run with its journal.
type RunDetail struct {
	chaos.Run
	Journal []chaos.Entry `json:"journal"`
}

// HaltState is the kill switch.
type HaltState struct {
	Halted bool   `json:"halted"`
	Reason string `json:"reason,omitempty"`
	// Aborted counts the runs a halt aborted.
	Aborted int `json:"aborted,omitempty"`
}

func fail(w http.ResponseWriter, r *http.Request, o Options, err error) {
	code := chaos.ErrorCode(err)
	status := statusOf[code]
	if code == chaos.EINTERNAL {
		o.Logger.ErrorContext(r.Context(), "internal error", "err", err, "path", r.URL.Path)
		problem.Write(w, r, problem.New(status, "internal error"))
		return
	}
	var fields []problem.FieldError
	for _, f := range chaos.ErrorFields(err) {
		loc := "body"
		if f.Field != "" {
			loc += "." + f.Field
		}
		fields = append(fields, problem.FieldError{Location: loc, Message: f.Message})
	}
	problem.Write(w, r, problem.New(status, chaos.ErrorMessage(err), fields...))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func handleSubmit(o Options) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, chaos.MaxDocumentBytes))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				problem.Write(w, r, problem.New(http.StatusRequestEntityTooLarge, "the experiment is too large"))
				return
			}
			problem.Write(w, r, problem.New(http.StatusBadRequest, "the body could not be read"))
			return
		}
		exp, err := chaos.Decode(body)
		if err != nil {
			fail(w, r, o, err)
			return
		}
		if dry, _ := strconv.ParseBool(r.URL.Query().Get("dry_run")); dry {
			plan, err := o.Controller.DryRun(r.Context(), exp)
			if err != nil {
				fail(w, r, o, err)
				return
			}
			writeJSON(w, http.StatusOK, plan)
			return
		}
		run, err := o.Controller.Submit(r.Context(), exp)
		if err != nil {
			fail(w, r, o, err)
			return
		}
		w.Header().Set("Location", "/v1/experiments/"+run.ID)
		writeJSON(w, http.StatusCreated, run)
	}
}

func handleList(o Options) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f := chaos.RunFilter{ParentID: q.Get("parent")}
		for _, s := range strings.Split(q.Get("state"), ",") {
			if s != "" {
				f.States = append(f.States, chaos.State(s))
			}
		}
		if l := q.Get("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil || n < 1 || n > 1000 {
				problem.Write(w, r, problem.New(http.StatusBadRequest, "limit must be in [1, 1000]", problem.FieldError{Location: "query.limit", Message: "must be in [1, 1000]"}))
				return
			}
			f.Limit = n
		}
		runs, err := o.Controller.Runs(r.Context(), f)
		if err != nil {
			fail(w, r, o, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"runs": runs})
	}
}

func handleGet(o Options) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "id")
		run, err := o.Controller.Run(r.Context(), id)
		if err != nil {
			fail(w, r, o, err)
			return
		}
		j, err := o.Controller.Journal(r.Context(), id, 0)
		if err != nil {
			fail(w, r, o, err)
			return
		}
		writeJSON(w, http.StatusOK, RunDetail{Run: run, Journal: j})
	}
}

func handleJournal(o Options) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		after := 0
		if a := r.URL.Query().Get("after"); a != "" {
			n, err := strconv.Atoi(a)
			if err != nil || n < 0 {
				problem.Write(w, r, problem.New(http.StatusBadRequest, "after must be a sequence number", problem.FieldError{Location: "query.after", Message: "must be a non-negative integer"}))
				return
			}
			after = n
		}
		j, err := o.Controller.Journal(r.Context(), chi.URLParam(r, "id"), after)
		if err != nil {
			fail(w, r, o, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"entries": j})
	}
}

// reason reads an optional {"reason": "..."} body.
func reason(r *http.Request) string {
	var b struct {
		Reason string `json:"reason"`
	}
	_ = json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&b)
	return strings.TrimSpace(b.Reason)
}

func handleAbort(o Options) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "id")
		if err := o.Controller.Abort(r.Context(), id, reason(r)); err != nil {
			fail(w, r, o, err)
			return
		}
		run, err := o.Controller.Run(r.Context(), id)
		if err != nil {
			fail(w, r, o, err)
			return
		}
		writeJSON(w, http.StatusOK, run)
	}
}

func handleHalt(o Options) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n, err := o.Controller.Halt(r.Context(), reason(r))
		if err != nil {
			fail(w, r, o, err)
			return
		}
		h, why := o.Controller.Halted()
		writeJSON(w, http.StatusOK, HaltState{Halted: h, Reason: why, Aborted: n})
	}
}

func handleHaltState(o Options) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		h, why := o.Controller.Halted()
		writeJSON(w, http.StatusOK, HaltState{Halted: h, Reason: why})
	}
}

func handleResume(o Options) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := o.Controller.Resume(r.Context()); err != nil {
			fail(w, r, o, err)
			return
		}
		writeJSON(w, http.StatusOK, HaltState{})
	}
}

// Package promquery is how Estate asks questions of metrics in time: in
// PromQL, through one Querier with two backends. A Prometheus server's HTTP
// API answers in production (a real Prometheus, or any server speaking its
// API, the collector's embedded one included); on one machine the
// collector's embedded store, built from Prometheus's own tsdb and promql
// packages, answers in process. SLO budgets, chaos steady-state probes, the
// weekly report's SLIs, post-deploy analysis and the dashboards' queries all
// go through it, so the same queries run, and are tested, on both.
//
// Results are github.com/prometheus/common/model values, the types
// Prometheus's own API client returns.
package promquery

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/common/model"
)

// Querier evaluates PromQL.
type Querier interface {
	// Query evaluates expr at t. The value is a model.Vector, a
	// model.Matrix (for a range selector such as x[5m], raw samples), a
	// *model.Scalar or a *model.String. Errors: an *Error whose Type says
	// what went wrong (ErrBadData for an expression that does not parse,
	// ErrTimeout, ErrCanceled, ErrExecution, ErrUnavailable when the backend
	// cannot be reached).
	Query(ctx context.Context, expr string, t time.Time) (model.Value, error)
	// QueryRange evaluates expr at every step of r, ends included. Errors
	// as Query.
	QueryRange(ctx context.Context, expr string, r Range) (model.Matrix, error)
}

// Range is the span and resolution of a range query.
type Range struct {
	Start, End time.Time
	Step       time.Duration
}

// ErrorType classifies a query's failure as Prometheus's HTTP API does.
type ErrorType string

// The error types, with the names Prometheus's API gives them.
const (
	ErrBadData     ErrorType = "bad_data"
	ErrExecution   ErrorType = "execution"
	ErrTimeout     ErrorType = "timeout"
	ErrCanceled    ErrorType = "canceled"
	ErrUnavailable ErrorType = "unavailable"
	ErrInternal    ErrorType = "internal"
)

// Error is a failed query.
type Error struct {
	Type ErrorType
	// Msg says what failed, in the backend's words.
	Msg string
	// Err is the cause, when there is one.
	Err error
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Type, e.Msg) }
func (e *Error) Unwrap() error { return e.Err }

package promquery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// HTTP is the backend of a server that speaks Prometheus's HTTP API: a
// real Prometheus, or the collector's embedded API. It uses Prometheus's own
// API client.
type HTTP struct {
	api v1.API
}

var _ Querier = (*HTTP)(nil)

// HTTPOptions are what an HTTP backend is built from.
type HTTPOptions struct {
	// URL is the server's base URL, such as http://prometheus:9090 (the API
	// is under /api/v1).
	URL string
	// Transport sends the requests; http.DefaultTransport when nil.
	Transport http.RoundTripper
}

// NewHTTP returns the backend of the server at o.URL; it does not connect.
func NewHTTP(o HTTPOptions) (*HTTP, error) {
	rt := o.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	c, err := api.NewClient(api.Config{Address: o.URL, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("prometheus url %q: %w", o.URL, err)
	}
	return &HTTP{api: v1.NewAPI(c)}, nil
}

// Query implements Querier.
func (h *HTTP) Query(ctx context.Context, expr string, t time.Time) (model.Value, error) {
	v, _, _, err := h.api.Query(ctx, expr, t)
	if err != nil {
		return nil, httpError(err)
	}
	return v, nil
}

// QueryRange implements Querier.
func (h *HTTP) QueryRange(ctx context.Context, expr string, r Range) (model.Matrix, error) {
	v, _, _, err := h.api.QueryRange(ctx, expr, v1.Range{Start: r.Start, End: r.End, Step: r.Step})
	if err != nil {
		return nil, httpError(err)
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return nil, &Error{Type: ErrInternal, Msg: fmt.Sprintf("a range query answered %s, not a matrix", v.Type())}
	}
	return m, nil
}

// httpError classifies the client's errors: the API's own error types, and
// a server that cannot be reached.
func httpError(err error) error {
	var ae *v1.Error
	if errors.As(err, &ae) {
		t, msg := ErrorType(ae.Type), ae.Msg
		// The client reads the API's error body only for 400 and 422; the
		// body of a 503 or 500 (unavailable, internal) is in Detail.
		var body struct {
			ErrorType string `json:"errorType"`
			Error     string `json:"error"`
		}
		if (ae.Type == v1.ErrServer || ae.Type == v1.ErrClient) && json.Unmarshal([]byte(ae.Detail), &body) == nil && body.ErrorType != "" {
			t, msg = ErrorType(body.ErrorType), body.Error
		}
		switch t {
		case ErrBadData, ErrExecution, ErrTimeout, ErrCanceled, ErrUnavailable, ErrInternal:
		case ErrorType(v1.ErrClient):
			t = ErrBadData
		default: // the client's server_error and bad_response
			t = ErrInternal
		}
		return &Error{Type: t, Msg: msg, Err: err}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Type: ErrTimeout, Msg: err.Error(), Err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Type: ErrCanceled, Msg: err.Error(), Err: err}
	}
	return &Error{Type: ErrUnavailable, Msg: err.Error(), Err: err}
}

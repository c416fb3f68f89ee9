package fault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/problem"
)

// DefaultMaxTTL bounds how far ahead a fault's deadline may be.
const DefaultMaxTTL = time.Hour

// ControlOptions are what the control surface is built from.
type ControlOptions struct {
	Injector *Injector
	// Authenticator checks the controller's credentials; every route
	// requires what Access says.
	Authenticator *auth.Authenticator
	// MaxTTL bounds a fault's deadline from now; DefaultMaxTTL when zero.
	MaxTTL time.Duration
	Now    func() time.Time
	Logger *slog.Logger
}

// NewControlHandler returns the control surface of the faults:
//
//	GET    /v1/faults        the active faults
//	PUT    /v1/faults/{id}   set a fault (a Fault; its id is the path's)
//	DELETE /v1/faults/{id}   end a fault
//	DELETE /v1/faults        end every fault
//
// Every route needs the role chaos.operate (Access): 401 without a valid
// token, 403 without the role. Serve it on a listener of its own, never
// beside the service's API.
func NewControlHandler(o ControlOptions) http.Handler {
	r := NewControlRouter(o)
	return o.Authenticator.Guard(r, Access)(r)
}

// Access is what each route of the control surface requires.
var Access = auth.RouteTable{
	"GET /v1/faults":         auth.Need(auth.RoleChaosOperate),
	"PUT /v1/faults/{id}":    auth.Need(auth.RoleChaosOperate),
	"DELETE /v1/faults/{id}": auth.Need(auth.RoleChaosOperate),
	"DELETE /v1/faults":      auth.Need(auth.RoleChaosOperate),
}

// NewControlRouter returns the control surface's routes without their
// guard, for listing them (auth.Walk); serve NewControlHandler.
func NewControlRouter(o ControlOptions) chi.Router {
	if o.MaxTTL <= 0 {
		o.MaxTTL = DefaultMaxTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := chi.NewRouter()
	problem.Route(r)
	r.Get("/v1/faults", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, o.Injector.Active())
	})
	r.Put("/v1/faults/{id}", handleSet(o))
	r.Delete("/v1/faults/{id}", func(w http.ResponseWriter, r *http.Request) {
		o.Injector.Remove(chi.URLParam(r, "id"))
		w.WriteHeader(http.StatusNoContent)
	})
	r.Delete("/v1/faults", func(w http.ResponseWriter, _ *http.Request) {
		o.Injector.Clear()
		w.WriteHeader(http.StatusNoContent)
	})
	return r
}

func handleSet(o ControlOptions) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			problem.Write(w, r, problem.New(http.StatusBadRequest, "the body is not a fault: "+err.Error()))
			return
		}
		f.ID = chi.URLParam(r, "id")
		if err := f.Validate(); err != nil {
			problem.Write(w, r, problem.New(http.StatusUnprocessableEntity, err.Error()))
			return
		}
		if ttl := f.ExpiresAt.Sub(o.Now()); ttl > o.MaxTTL {
			problem.Write(w, r, problem.New(http.StatusUnprocessableEntity,
				fmt.Sprintf("expires_at: must be at most %s ahead, not %s", o.MaxTTL, ttl.Round(time.Second))))
			return
		}
		if err := o.Injector.Set(f); err != nil {
			status := http.StatusUnprocessableEntity
			if !errors.Is(err, ErrExpired) {
				status = http.StatusServiceUnavailable
			}
			problem.Write(w, r, problem.New(status, err.Error()))
			return
		}
		if p, ok := auth.FromContext(r.Context()); ok {
			o.Logger.Info("fault commanded", "id", f.ID, "by", p.Who())
		}
		writeJSON(w, http.StatusOK, f)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Client commands the faults of one service through its control surface.
type Client struct {
	base  string
	token func(ctx context.Context) (string, error)
	http  *http.Client
}

// ClientOptions are what a Client is built from.
type ClientOptions struct {
	// URL is the control surface's base URL.
	URL string
	// Token returns a bearer token of a principal holding chaos.operate.
	Token func(ctx context.Context) (string, error)
	// HTTPClient sends the requests; a client with a 10 s timeout when nil.
	HTTPClient *http.Client
}

// NewClient returns a client; it does not connect.
func NewClient(o ClientOptions) (*Client, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("fault control url: must be an http(s) URL, not %q", o.URL)
	}
	if o.Token == nil {
		return nil, errors.New("fault control: a token source is required")
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return &Client{base: strings.TrimSuffix(o.URL, "/"), token: o.Token, http: o.HTTPClient}, nil
}

// URL is the control surface's base URL.
func (c *Client) URL() string { return c.base }

// Set sets f on the service.
func (c *Client) Set(ctx context.Context, f Fault) error {
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encoding fault: %w", err)
	}
	return c.do(ctx, http.MethodPut, "/v1/faults/"+url.PathEscape(f.ID), b, nil)
}

// Remove ends the fault with the id; ending a fault that is gone is not an
// error.
func (c *Client) Remove(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/faults/"+url.PathEscape(id), nil, nil)
}

// List returns the service's active faults.
func (c *Client) List(ctx context.Context) ([]Fault, error) {
	var out []Fault
	err := c.do(ctx, http.MethodGet, "/v1/faults", nil, &out)
	return out, err
}

// StatusError is a refusal of the control surface.
type StatusError struct {
	Status int
	Detail string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("fault control answered %d: %s", e.Status, e.Detail)
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	tok, err := c.token(ctx)
	if err != nil {
		return fmt.Errorf("fault control token: %w", err)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("fault control request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("fault control %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		var p struct {
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(b, &p)
		return &StatusError{Status: resp.StatusCode, Detail: p.Detail}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("decoding fault control answer: %w", err)
		}
	}
	return nil
}

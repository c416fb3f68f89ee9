package chaoshttp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/estatehq/estate/chaos"
	"github.com/estatehq/estate/internal/problem"
)

// Client calls the controller's API.
type Client struct {
	base string
	http *http.Client
}

// NewClient returns a client of the API at base.
func NewClient(base string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: strings.TrimSuffix(base, "/"), http: hc}
}

// APIError is a problem the API answered.
type APIError struct{ problem.Details }

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(e.Details.Error())
	for _, f := range e.Errors {
		fmt.Fprintf(&b, "\n  %s: %s", strings.TrimPrefix(f.Location, "body."), f.Message)
	}
	return b.String()
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("chaos API request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/yaml")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("calling the chaos controller at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("reading the chaos controller's answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		e := &APIError{}
		if json.Unmarshal(b, &e.Details) != nil || e.Status == 0 {
			e.Status, e.Title = resp.StatusCode, http.StatusText(resp.StatusCode)
		}
		return e
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decoding the chaos controller's answer: %w", err)
	}
	return nil
}

// Submit starts an experiment from its document.
func (c *Client) Submit(ctx context.Context, doc []byte) (chaos.Run, error) {
	var r chaos.Run
	return r, c.do(ctx, http.MethodPost, "/v1/experiments", doc, &r)
}

// DryRun says what the document would inject where.
func (c *Client) DryRun(ctx context.Context, doc []byte) (chaos.Plan, error) {
	var p chaos.Plan
	return p, c.do(ctx, http.MethodPost, "/v1/experiments?dry_run=true", doc, &p)
}

// Runs lists runs, newest first.
func (c *Client) Runs(ctx context.Context, f chaos.RunFilter) ([]chaos.Run, error) {
	q := url.Values{}
	if len(f.States) > 0 {
		var ss []string
		for _, s := range f.States {
			ss = append(ss, string(s))
		}
		q.Set("state", strings.Join(ss, ","))
	}
	if f.ParentID != "" {
		q.Set("parent", f.ParentID)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out struct {
		Runs []chaos.Run `json:"runs"`
	}
	return out.Runs, c.do(ctx, http.MethodGet, "/v1/experiments?"+q.Encode(), nil, &out)
}

// Run returns a run with its journal.
func (c *Client) Run(ctx context.Context, id string) (RunDetail, error) {
	var r RunDetail
	return r, c.do(ctx, http.MethodGet, "/v1/experiments/"+url.PathEscape(id), nil, &r)
}

// Journal returns a run's entries after Seq after.
func (c *Client) Journal(ctx context.Context, id string, after int) ([]chaos.Entry, error) {
	var out struct {
		Entries []chaos.Entry `json:"entries"`
	}
	return out.Entries, c.do(ctx, http.MethodGet, "/v1/experiments/"+url.PathEscape(id)+"/journal?after="+strconv.Itoa(after), nil, &out)
}

// Abort aborts a run or schedule.
func (c *Client) Abort(ctx context.Context, id, reason string) (chaos.Run, error) {
	var r chaos.Run
	return r, c.do(ctx, http.MethodPost, "/v1/experiments/"+url.PathEscape(id)+"/abort", reasonBody(reason), &r)
}

// Halt turns the kill switch on.
func (c *Client) Halt(ctx context.Context, reason string) (HaltState, error) {
	var h HaltState
	return h, c.do(ctx, http.MethodPost, "/v1/halt", reasonBody(reason), &h)
}

// Resume turns the kill switch off.
func (c *Client) Resume(ctx context.Context) (HaltState, error) {
	var h HaltState
	return h, c.do(ctx, http.MethodPost, "/v1/resume", []byte("{}"), &h)
}

func reasonBody(reason string) []byte {
	b, _ := json.Marshal(map[string]string{"reason": reason})
	return b
}

package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/template"
	"time"

	"sigs.k8s.io/yaml"
)

// Spec describes a route in data: from flags or a routes file.
type Spec struct {
	Name    string            `json:"name,omitempty"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Weight  int               `json:"weight,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	// Body is a text/template of the body, executed per request with
	// {{.Seq}} (the request's number), {{.Key}} (its Idempotency-Key) and
	// {{.Run}} (the run's id).
	Body string `json:"body,omitempty"`
}

// RoutesFile is the file of a mix of routes, YAML or JSON.
type RoutesFile struct {
	// Headers are sent with every route's requests; a route's own win.
	Headers map[string]string `json:"headers,omitempty"`
	Routes  []Spec            `json:"routes"`
}

// ReadRoutes reads a routes file, refusing unknown keys.
func ReadRoutes(path string) (RoutesFile, error) {
	var f RoutesFile
	b, err := os.ReadFile(path)
	if err != nil {
		return f, fmt.Errorf("reading routes: %w", err)
	}
	if err := yaml.UnmarshalStrict(b, &f); err != nil {
		return f, fmt.Errorf("%s: %w", path, err)
	}
	if len(f.Routes) == 0 {
		return f, fmt.Errorf("%s: routes: give at least one route", path)
	}
	for i := range f.Routes {
		h := map[string]string{}
		for k, v := range f.Headers {
			h[k] = v
		}
		for k, v := range f.Routes[i].Headers {
			h[k] = v
		}
		f.Routes[i].Headers = h
	}
	return f, nil
}

// ParseRoute parses a route of the command line: "METHOD URL [WEIGHT]".
func ParseRoute(s string) (Spec, error) {
	f := strings.Fields(s)
	if len(f) < 2 || len(f) > 3 {
		return Spec{}, fmt.Errorf("route %q: want METHOD URL [WEIGHT]", s)
	}
	sp := Spec{Method: f[0], URL: f[1], Weight: 1}
	if len(f) == 3 {
		w, err := strconv.Atoi(f[2])
		if err != nil || w <= 0 {
			return Spec{}, fmt.Errorf("route %q: the weight must be a positive integer, not %q", s, f[2])
		}
		sp.Weight = w
	}
	return sp, nil
}

// RouteOptions are what the routes of a spec share.
type RouteOptions struct {
	// Run names the run in the Idempotency-Keys: "loadgen-RUN-SEQ".
	Run string
	// IdempotencyKeys puts a fresh Idempotency-Key on every request whose
	// method is not GET, HEAD or OPTIONS.
	IdempotencyKeys bool
	// AllowRemote lets URLs name hosts other than loopback.
	AllowRemote bool
}

// Route turns the spec into a route: it checks the method, the URL (and
// that it names loopback unless o.AllowRemote) and the body's template.
func (sp Spec) Route(o RouteOptions) (Route, error) {
	method := strings.ToUpper(sp.Method)
	if method == "" || strings.ContainsAny(method, " \t/:") {
		return Route{}, fmt.Errorf("method: %q is not an HTTP method", sp.Method)
	}
	u, err := url.Parse(sp.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Route{}, fmt.Errorf("url: must be an http or https URL with a host, not %q", sp.URL)
	}
	if !o.AllowRemote {
		if err := CheckLoopback(u.Hostname()); err != nil {
			return Route{}, fmt.Errorf("url: %w (--allow-remote sends it elsewhere)", err)
		}
	}
	if sp.Weight < 0 {
		return Route{}, fmt.Errorf("weight: must not be negative, not %d", sp.Weight)
	}
	tmpl, err := template.New("body").Option("missingkey=error").Parse(sp.Body)
	if err != nil {
		return Route{}, fmt.Errorf("body: %w", err)
	}
	name := sp.Name
	if name == "" {
		name = method + " " + u.Path
	}
	keyed := o.IdempotencyKeys && method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
	header := http.Header{}
	for k, v := range sp.Headers {
		header.Set(k, v)
	}
	if sp.Body != "" && header.Get("Content-Type") == "" {
		header.Set("Content-Type", "application/json")
	}
	target := u.String()
	build := func(seq int64) (*http.Request, error) {
		vars := struct {
			Seq      int64
			Key, Run string
		}{seq, fmt.Sprintf("loadgen-%s-%d", o.Run, seq), o.Run}
		var body bytes.Buffer
		if err := tmpl.Execute(&body, vars); err != nil {
			return nil, err
		}
		r, err := http.NewRequest(method, target, &body)
		if err != nil {
			return nil, err
		}
		r.Header = header.Clone()
		if keyed {
			r.Header.Set("Idempotency-Key", vars.Key)
		}
		return r, nil
	}
	// Build the first request now, so a template that cannot run is an
	// error before the load starts rather than a failure per request.
	if _, err := build(0); err != nil {
		return Route{}, fmt.Errorf("body: %w", err)
	}
	return Route{Name: name, Weight: sp.Weight, Build: build}, nil
}

// ErrNotLoopback is the error of a target outside loopback: load is sent to
// this machine only, unless the user says otherwise.
var ErrNotLoopback = errors.New("not a loopback address")

// CheckLoopback returns nil when host is a loopback address, or a name
// that resolves to loopback addresses only.
func CheckLoopback(host string) error {
	if ip := net.ParseIP(host); ip != nil {
		if ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("%s is %w; load goes to loopback only", host, ErrNotLoopback)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil || len(addrs) == 0 {
		return fmt.Errorf("%s: cannot tell whether it is loopback; load goes to loopback only", host)
	}
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return fmt.Errorf("%s resolves to %s, %w; load goes to loopback only", host, a.IP, ErrNotLoopback)
		}
	}
	return nil
}

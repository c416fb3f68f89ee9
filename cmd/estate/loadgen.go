//go:build !servicesonly

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/estatehq/estate/internal/config"
	"github.com/estatehq/estate/internal/loadgen"
	"github.com/estatehq/estate/internal/progress"
)

const loadgenUsage = `Usage: estate loadgen --url URL [--method M] [-H 'K: V'] [--token T] [--body TEMPLATE | --body-file FILE]
       estate loadgen --route 'METHOD URL [WEIGHT]' [--route ...] | --routes FILE
       [--rate N] [--duration D] [--warmup D] [--max-in-flight N] [--pid PID] [--json]

Sends requests at a fixed rate, open loop (latency is measured from when
each request was due, so a server falling behind shows in the
percentiles), to loopback only unless --allow-remote, and prints p50, p99
and p99.9, errors by status (timeouts and connection errors apart), the
rate achieved and, with --pid, the target's RssAnon and RssFile sampled
every second with their slope. A body is a Go template: {{.Seq}} numbers
the request, {{.Key}} is its Idempotency-Key, fresh for every request
that is not a GET, HEAD or OPTIONS. See docs/loadgen.md.

Options:`

// headerFlags is a repeated -H 'Name: value'.
type headerFlags map[string]string

func (h headerFlags) String() string { return "" }

func (h headerFlags) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("header %q: want 'Name: value'", v)
	}
	h[strings.TrimSpace(name)] = strings.TrimSpace(value)
	return nil
}

// routeFlags is a repeated --route.
type routeFlags []loadgen.Spec

func (r *routeFlags) String() string { return "" }

func (r *routeFlags) Set(v string) error {
	sp, err := loadgen.ParseRoute(v)
	if err != nil {
		return err
	}
	*r = append(*r, sp)
	return nil
}

// loadgenOptions are the options of `estate loadgen`.
type loadgenOptions struct {
	url, method, body, bodyFile string
	headers                     headerFlags
	token                       *string
	routes                      routeFlags
	routesFile                  string
	rate, maxInFlight, pid      int
	duration, warmup, timeout   time.Duration
	sampleEvery                 time.Duration
	allowRemote, asJSON, noKeys bool
}

func (o *loadgenOptions) register(env *environ, fs *flag.FlagSet) {
	o.headers = headerFlags{}
	fs.StringVar(&o.url, "url", "", "the URL to load (one route; or --route, --routes)")
	fs.StringVar(&o.method, "method", "GET", "the method of --url")
	fs.Var(o.headers, "H", "a header of every request, 'Name: value' (repeatable)")
	o.token = tokenFlag(env, fs, "sent as Authorization: Bearer on every request")
	fs.StringVar(&o.body, "body", "", "the body of every request, a Go template ({{.Seq}}, {{.Key}})")
	fs.StringVar(&o.bodyFile, "body-file", "", "a file holding the body template")
	fs.Var(&o.routes, "route", "a route of a mix, 'METHOD URL [WEIGHT]' (repeatable; the --body and headers apply to each)")
	fs.StringVar(&o.routesFile, "routes", "", "a YAML or JSON file of the routes of a mix: headers:, routes: [{name, method, url, weight, headers, body}]")
	fs.IntVar(&o.rate, "rate", 100, "requests per second")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to send")
	fs.DurationVar(&o.warmup, "warmup", 0, "load sent first and not measured")
	fs.IntVar(&o.maxInFlight, "max-in-flight", 0, "requests awaiting an answer at most; one due beyond is not sent and counts as an error (default: one second of --rate)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "a request without an answer this long is a timeout")
	fs.IntVar(&o.pid, "pid", 0, "the process under load, whose memory is sampled from /proc/PID/status")
	fs.DurationVar(&o.sampleEvery, "sample-every", time.Second, "how often the memory of --pid is read")
	fs.BoolVar(&o.allowRemote, "allow-remote", false, "send load to an address that is not loopback")
	fs.BoolVar(&o.asJSON, "json", false, "print the result as JSON")
	fs.BoolVar(&o.noKeys, "no-idempotency-key", false, "send no Idempotency-Key header")
}

// specs are the routes the options name, checked.
func (o *loadgenOptions) specs() ([]loadgen.Spec, error) {
	n := 0
	for _, set := range []bool{o.url != "", len(o.routes) > 0, o.routesFile != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("give the routes one way: --url, --route or --routes")
	}
	if o.body != "" && o.bodyFile != "" {
		return nil, errors.New("--body and --body-file both give the body: give one")
	}
	body := o.body
	if o.bodyFile != "" {
		b, err := os.ReadFile(o.bodyFile)
		if err != nil {
			return nil, fmt.Errorf("--body-file: %w", err)
		}
		body = string(b)
	}
	var specs []loadgen.Spec
	switch {
	case o.url != "":
		specs = []loadgen.Spec{{Method: o.method, URL: o.url, Body: body}}
	case len(o.routes) > 0:
		specs = o.routes
		for i := range specs {
			specs[i].Body = body
		}
	default:
		if body != "" {
			return nil, errors.New("--body applies to --url and --route; a routes file gives each route's body")
		}
		f, err := loadgen.ReadRoutes(o.routesFile)
		if err != nil {
			return nil, err
		}
		specs = f.Routes
	}
	for i := range specs {
		h := map[string]string{}
		if *o.token != "" {
			h["Authorization"] = "Bearer " + *o.token
		}
		for k, v := range o.headers {
			h[k] = v
		}
		for k, v := range specs[i].Headers {
			h[k] = v
		}
		specs[i].Headers = h
	}
	return specs, nil
}

func runLoadgen(ctx context.Context, env *environ, args []string) error {
	fs := flag.NewFlagSet("estate loadgen", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o loadgenOptions
	o.register(env, fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(env.stdout, loadgenUsage)
			config.PrintUsage(env.stdout, fs)
		}
		return fmt.Errorf("loadgen: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("loadgen: unexpected argument %q", fs.Arg(0))
	}
	specs, err := o.specs()
	if err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	switch {
	case o.duration <= 0:
		return fmt.Errorf("loadgen: --duration must be positive, not %s", o.duration)
	case o.warmup < 0:
		return fmt.Errorf("loadgen: --warmup must not be negative, not %s", o.warmup)
	case o.timeout <= 0:
		return fmt.Errorf("loadgen: --timeout must be positive, not %s", o.timeout)
	case o.sampleEvery <= 0:
		return fmt.Errorf("loadgen: --sample-every must be positive, not %s", o.sampleEvery)
	}
	if o.pid != 0 {
		if _, err := loadgen.ReadMemory(o.pid); err != nil {
			return fmt.Errorf("loadgen: --pid: %w", err)
		}
	}
	ro := loadgen.RouteOptions{Run: fmt.Sprint(env.now().UnixNano()), IdempotencyKeys: !o.noKeys, AllowRemote: o.allowRemote}
	routes := make([]loadgen.Route, len(specs))
	for i, sp := range specs {
		if routes[i], err = sp.Route(ro); err != nil {
			return fmt.Errorf("loadgen: route %d: %w", i+1, err)
		}
	}
	conns := o.maxInFlight
	if conns == 0 {
		conns = o.rate
	}
	lo := loadgen.Options{Routes: routes, Rate: o.rate, MaxInFlight: o.maxInFlight, PID: o.pid, SampleEvery: o.sampleEvery,
		Client: loadgen.NewClient(conns, o.timeout)}
	g, err := loadgen.New(lo)
	if err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	if o.warmup > 0 {
		if _, err := g.Run(ctx, o.warmup); err != nil {
			return fmt.Errorf("loadgen: warm-up: %w", err)
		}
	}
	res, err := runWithProgress(ctx, env, g, o.duration)
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("loadgen: %w", err)
	}
	// Interrupted: what was measured is still worth printing.
	if o.asJSON {
		return res.WriteJSON(env.stdout)
	}
	return res.WriteText(env.stdout)
}

// runWithProgress runs the load, showing on stderr the requests sent.
func runWithProgress(ctx context.Context, env *environ, g *loadgen.Generator, d time.Duration) (*loadgen.Result, error) {
	p := progress.New(env.stderr, progress.Options{Description: "sending", Total: g.Requests(d), Unit: "requests"})
	defer p.Finish()
	return g.RunProgress(ctx, d, p.Set)
}

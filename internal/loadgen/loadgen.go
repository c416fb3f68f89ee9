// Package loadgen sends HTTP load at a fixed rate, open loop, and measures
// what came back: latency percentiles from a histogram, errors by status
// (and timeouts and connection errors apart), the rate achieved, and the
// memory of the process under load over time.
//
// Open loop: request i is due at start + i/rate whether or not earlier
// answers have come back, and its latency is measured from when it was due,
// not from when it left, so a server that falls behind shows it in the
// percentiles instead of slowing the generator down (the coordinated
// omission of closed-loop tools). What may be in flight at once is bounded
// (Options.MaxInFlight); a request due while the bound is reached is not
// sent and is counted as an error of its own, so memory stays bounded and
// the run ends on time when the server stalls.
//
// It is the engine of `estate loadgen`, of the invoicing benchmarks
// (services/invoicing/bench) and of the load and soak test of `estate up`.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Build makes the request numbered seq. Seq runs on across the runs of a
// Generator (a warm-up and then the measured run), so a key derived from it
// is never reused.
type Build func(seq int64) (*http.Request, error)

// Route is one kind of request of a mix.
type Route struct {
	// Name labels the route's figures; the method and URL by default.
	Name string
	// Weight is the route's share of the requests against the other
	// routes' weights; 1 when zero.
	Weight int
	Build  Build
}

// Options configure a Generator.
type Options struct {
	// Routes are the requests sent, mixed by weight; at least one.
	Routes []Route
	// Rate is the requests per second sent; positive.
	Rate int
	// MaxInFlight bounds the requests awaiting an answer; Rate (one
	// second of requests) when zero.
	MaxInFlight int
	// Client sends the requests; one with a 10 s timeout and enough idle
	// connections for the rate when nil.
	Client *http.Client
	// PID is the process whose memory is sampled while the load runs;
	// none when zero.
	PID int
	// SampleEvery is how often the memory of PID is read; 1 s when zero.
	SampleEvery time.Duration
}

// Validate names the first option that is wrong.
func (o Options) Validate() error {
	var errs []error
	if len(o.Routes) == 0 {
		errs = append(errs, errors.New("routes: give at least one route"))
	}
	for i, r := range o.Routes {
		if r.Weight < 0 {
			errs = append(errs, fmt.Errorf("routes[%d].weight: must not be negative, not %d", i, r.Weight))
		}
		if r.Build == nil {
			errs = append(errs, fmt.Errorf("routes[%d]: no request", i))
		}
	}
	if o.Rate <= 0 {
		errs = append(errs, fmt.Errorf("rate: must be positive, not %d", o.Rate))
	}
	if o.MaxInFlight < 0 {
		errs = append(errs, fmt.Errorf("max-in-flight: must not be negative, not %d", o.MaxInFlight))
	}
	if o.SampleEvery < 0 {
		errs = append(errs, fmt.Errorf("sample-every: must not be negative, not %s", o.SampleEvery))
	}
	return errors.Join(errs...)
}

// Generator sends the load of its options, one run at a time.
type Generator struct {
	o      Options
	weight []int // cumulative weights of the routes
	seq    atomic.Int64
}

// New returns a generator of o's load.
func New(o Options) (*Generator, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = o.Rate
	}
	if o.SampleEvery == 0 {
		o.SampleEvery = time.Second
	}
	if o.Client == nil {
		o.Client = NewClient(o.MaxInFlight, 10*time.Second)
	}
	g := &Generator{o: o}
	sum := 0
	for _, r := range o.Routes {
		sum += max(r.Weight, 1)
		g.weight = append(g.weight, sum)
	}
	return g, nil
}

// NewClient is an HTTP client that keeps up to conns connections to a host
// open between requests, each request failing after timeout.
func NewClient(conns int, timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil, // loopback load never goes through a proxy
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     time.Minute,
		},
		Timeout: timeout,
	}
}

// route is the index of the route of request n: the routes take turns in
// proportion to their weights, the same way in every run.
func (g *Generator) route(n int64) int {
	k := int(n % int64(g.weight[len(g.weight)-1]))
	i, _ := slices.BinarySearch(g.weight, k+1)
	return i
}

// Requests is the number of requests a run of d sends.
func (g *Generator) Requests(d time.Duration) int64 { return int64(d / g.interval()) }

func (g *Generator) interval() time.Duration { return time.Second / time.Duration(g.o.Rate) }

// Run sends the load for d, waits for the answers of what it sent and
// returns the figures. It stops sending early when ctx ends, and then
// returns what it measured with ctx's error.
func (g *Generator) Run(ctx context.Context, d time.Duration) (*Result, error) {
	return g.RunProgress(ctx, d, nil)
}

// RunProgress is Run, calling progress (when not nil) with the requests
// due so far about every 100 ms, and once more at the end.
func (g *Generator) RunProgress(ctx context.Context, d time.Duration, progress func(due int64)) (*Result, error) {
	interval := g.interval()
	n := g.Requests(d)
	res := newResult(g.o)
	sampler := startSampler(g.o.PID, g.o.SampleEvery)
	slots := make(chan struct{}, g.o.MaxInFlight)
	var wg sync.WaitGroup
	start := time.Now()
	res.Start = start
	lastProgress := start
	var err error
	var i int64
	for ; i < n; i++ {
		due := start.Add(time.Duration(i) * interval)
		if w := time.Until(due); w > 0 {
			t := time.NewTimer(w)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
		if err = ctx.Err(); err != nil {
			break
		}
		if progress != nil && time.Since(lastProgress) >= 100*time.Millisecond {
			lastProgress = time.Now()
			progress(i)
		}
		route := g.route(i)
		select {
		case slots <- struct{}{}:
		default:
			res.overLimit(route)
			continue
		}
		seq := g.seq.Add(1)
		wg.Go(func() {
			defer func() { <-slots }()
			o := g.send(g.o.Routes[route].Build, seq)
			res.record(route, o, time.Since(due))
		})
	}
	res.Elapsed = time.Since(start)
	wg.Wait()
	res.Memory = sampler.stop()
	if progress != nil {
		progress(i)
	}
	return res, err
}

// outcome is what became of one request: its status, or why none came.
type outcome struct {
	status int
	fail   Failure
}

// Failure is why a request got no answer.
type Failure string

// The failures besides an answer with an error status.
const (
	// FailTimeout: no answer within the client's timeout.
	FailTimeout Failure = "timeout"
	// FailConnection: the connection failed or was refused or reset.
	FailConnection Failure = "connection"
	// FailBuild: the request could not be built.
	FailBuild Failure = "build"
	// FailInFlight: not sent, as MaxInFlight requests awaited answers.
	FailInFlight Failure = "in-flight limit"
)

func (g *Generator) send(build Build, seq int64) outcome {
	r, err := build(seq)
	if err != nil {
		return outcome{fail: FailBuild}
	}
	resp, err := g.o.Client.Do(r)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return outcome{fail: FailTimeout}
		}
		return outcome{fail: FailConnection}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return outcome{fail: FailTimeout}
		}
		return outcome{fail: FailConnection}
	}
	return outcome{status: resp.StatusCode}
}

// Figures are the counts and latencies of a run or of one route of it.
type Figures struct {
	// Sent counts the requests sent, answered or not; Errors those that
	// failed: an answer of status 400 or above, no answer, or not sent
	// for the in-flight limit.
	Sent, Errors int64
	// Statuses counts the answers by status, successes included.
	Statuses map[int]int64
	// Failures counts the requests that had no answer, by why.
	Failures map[Failure]int64
	latency  *hdrhistogram.Histogram
}

func newFigures() *Figures {
	// 1 µs to 2 min, three significant digits: about 30 kB, whatever the
	// number of requests.
	return &Figures{Statuses: map[int]int64{}, Failures: map[Failure]int64{},
		latency: hdrhistogram.New(int64(time.Microsecond), int64(2*time.Minute), 3)}
}

func (f *Figures) record(o outcome, lat time.Duration) {
	f.Sent++
	if o.fail != "" {
		f.Errors++
		f.Failures[o.fail]++
	} else {
		f.Statuses[o.status]++
		if o.status >= 400 {
			f.Errors++
		}
	}
	_ = f.latency.RecordValue(min(int64(lat), f.latency.HighestTrackableValue()))
}

// Percentile is the latency at p (0 to 100) of the requests that were
// sent, answered or not, measured from when each was due.
func (f *Figures) Percentile(p float64) time.Duration {
	if f.latency.TotalCount() == 0 {
		return 0
	}
	return time.Duration(f.latency.ValueAtPercentile(p))
}

// Max is the highest latency.
func (f *Figures) Max() time.Duration { return time.Duration(f.latency.Max()) }

// ErrorCounts are the errors by kind: "503", "timeout", "connection",
// "in-flight limit", most first.
func (f *Figures) ErrorCounts() []Count {
	var out []Count
	for code, n := range f.Statuses {
		if code >= 400 {
			out = append(out, Count{fmt.Sprint(code), n})
		}
	}
	for why, n := range f.Failures {
		out = append(out, Count{string(why), n})
	}
	slices.SortFunc(out, func(a, b Count) int {
		if a.N != b.N {
			return int(b.N - a.N)
		}
		return strings.Compare(a.Kind, b.Kind)
	})
	return out
}

// Count is a number of errors of a kind.
type Count struct {
	Kind string `json:"kind"`
	N    int64  `json:"count"`
}

// Result is what a run measured.
type Result struct {
	Figures
	// Rate and MaxInFlight are the options of the run.
	Rate, MaxInFlight int
	// Start is when the first request was due; Elapsed how long sending
	// took (answers still awaited are not counted).
	Start   time.Time
	Elapsed time.Duration
	// Routes are the figures of each route, in the options' order.
	Routes []RouteFigures
	// Memory is the process's memory over the run, when a PID was given.
	Memory []MemorySample

	mu sync.Mutex
}

// RouteFigures are one route's figures.
type RouteFigures struct {
	Name   string
	Weight int
	*Figures
}

func newResult(o Options) *Result {
	r := &Result{Figures: *newFigures(), Rate: o.Rate, MaxInFlight: o.MaxInFlight}
	for _, rt := range o.Routes {
		r.Routes = append(r.Routes, RouteFigures{Name: rt.Name, Weight: max(rt.Weight, 1), Figures: newFigures()})
	}
	return r
}

func (r *Result) record(route int, o outcome, lat time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Figures.record(o, lat)
	r.Routes[route].record(o, lat)
}

// overLimit counts a request not sent for the in-flight limit; it has no
// latency.
func (r *Result) overLimit(route int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range []*Figures{&r.Figures, r.Routes[route].Figures} {
		f.Sent++
		f.Errors++
		f.Failures[FailInFlight]++
	}
}

// Achieved is the rate at which requests went out.
func (r *Result) Achieved() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Sent-r.Failures[FailInFlight]) / r.Elapsed.Seconds()
}

// ErrorText is the errors in one phrase: "0", or "12 (503: 10, timeout: 2)".
func (f *Figures) ErrorText() string {
	if f.Errors == 0 {
		return "0"
	}
	var parts []string
	for _, c := range f.ErrorCounts() {
		parts = append(parts, fmt.Sprintf("%s: %d", c.Kind, c.N))
	}
	return fmt.Sprintf("%d (%s)", f.Errors, strings.Join(parts, ", "))
}

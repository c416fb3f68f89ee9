// Package reportserver serves the home page (package home: the estate
// now) and the weekly reliability report: the latest report, the
// archive, and each week's report in HTML, Markdown or JSON, generated on
// demand when it is not archived. On a schedule (Monday 06:00
// UTC by default) it archives the last complete week's report and posts
// its summary to a chat webhook, retried without holding the archive up.
package reportserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/delivery"
	"github.com/estatehq/estate/sloreport"
	"github.com/estatehq/estate/sloreport/home"
)

// Options are what a Server is built from.
type Options struct {
	// Generate computes a week's report. Required.
	Generate func(ctx context.Context, w sloreport.ISOWeek) (*sloreport.Report, error)
	// Archive keeps the archived reports. Required.
	Archive *Archive
	// Schedule is when the last complete week is archived, in cron's five
	// fields, UTC; DefaultSchedule when empty; ScheduleOff for never.
	Schedule string
	// Retry retries a failed archive run; by default 5 attempts, a
	// minute apart then doubling to 15.
	Retry *delivery.Retry
	// Webhook receives each archived report's summary; none when its URL
	// is empty.
	Webhook Webhook
	// PublicURL is the server's URL as readers reach it, for the link of
	// the webhook's summary; none when nil or empty.
	PublicURL func() string
	// Home is the home page, served at /; without it / redirects to the
	// latest report.
	Home *home.Page
	// SignIn checks the tokens pasted into the sign-in page (/signin),
	// which then keeps them in the session cookie (auth.SessionCookie);
	// without it there is no sign-in page.
	SignIn *auth.Authenticator
	// Extra mounts more routes, such as the incidents' reviews.
	Extra func(chi.Router)
	// Now is the clock; time.Now when nil.
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Webhook is a Slack-compatible incoming webhook.
type Webhook struct {
	URL string
	// Timeout bounds one post.
	Timeout time.Duration
	// Retry retries failed posts.
	Retry delivery.Retry
	// Client sends the posts; http.DefaultClient when nil.
	Client *http.Client
}

// Server is the report server: its HTTP handler, and the schedule that
// Start runs until Shutdown.
type Server struct {
	o        Options
	schedule cron.Schedule
	handler  chi.Router
	metrics  *serverMetrics

	cancel context.CancelFunc
	done   chan struct{}
	// posts are the webhook posts in flight.
	posts sync.WaitGroup
	// ctx is the context of the schedule and of the posts.
	ctx context.Context
}

// New returns a server; nothing runs until Start. It fails only for
// options that cannot work.
func New(o Options) (*Server, error) {
	var errs []error
	if o.Generate == nil {
		errs = append(errs, errors.New("generate is required"))
	}
	if o.Archive == nil {
		errs = append(errs, errors.New("archive is required"))
	}
	if o.Schedule == "" {
		o.Schedule = DefaultSchedule
	}
	sched, err := ParseSchedule(o.Schedule)
	if err != nil {
		errs = append(errs, fmt.Errorf("schedule: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("report server: %w", err)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Retry == nil {
		o.Retry = &delivery.Retry{Backoff: delivery.Backoff{Initial: time.Minute, Max: 15 * time.Minute}, MaxAttempts: 5}
	}
	if o.Webhook.Client == nil {
		o.Webhook.Client = http.DefaultClient
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, fmt.Errorf("report server: %w", err)
	}
	s := &Server{o: o, schedule: sched, metrics: m, ctx: context.Background()}
	s.handler = s.routes()
	return s, nil
}

// Handler serves the report server's routes (routes.go). It requires no
// credentials: the target guards it (Routes lists what to guard).
func (s *Server) Handler() http.Handler { return s.handler }

// Routes are the report server's routes, for a guard and its route table.
func (s *Server) Routes() chi.Routes { return s.handler }

// Start runs the schedule in the background until Shutdown.
func (s *Server) Start(context.Context) error {
	ctx, cancel := context.WithCancel(context.Background())
	s.ctx, s.cancel, s.done = ctx, cancel, make(chan struct{})
	go s.run(ctx)
	return nil
}

// Shutdown stops the schedule and the webhook posts in flight, and waits
// for them until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	stopped := make(chan struct{})
	go func() {
		<-s.done
		s.posts.Wait()
		close(stopped)
	}()
	select {
	case <-stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stopping the report schedule: %w", ctx.Err())
	}
}

// run archives the last complete week at each time of the schedule.
func (s *Server) run(ctx context.Context) {
	defer close(s.done)
	if s.schedule == nil {
		return
	}
	for {
		now := s.o.Now().UTC()
		next := s.schedule.Next(now)
		t := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		w := sloreport.WeekOf(next).Add(-1)
		err := s.o.Retry.Do(ctx, func(ctx context.Context) error { return s.Publish(ctx, w) })
		if err != nil && ctx.Err() == nil {
			s.o.Logger.Error("archiving the weekly report", "week", w.String(), "err", err)
		}
	}
}

// Publish generates a week's report, archives it, and posts its summary to
// the webhook in the background: a slow or failing webhook never holds
// the archive up. Errors: the report's and the archive's.
func (s *Server) Publish(ctx context.Context, w sloreport.ISOWeek) error {
	return s.publish(ctx, w, triggerSchedule)
}

func (s *Server) publish(ctx context.Context, w sloreport.ISOWeek, trigger string) error {
	r, err := s.o.Generate(ctx, w)
	s.metrics.generated(trigger, err)
	if err != nil {
		return fmt.Errorf("generating report %s: %w", w, err)
	}
	if err := s.o.Archive.Put(r); err != nil {
		return err
	}
	s.metrics.archived.Set(float64(s.o.Now().Unix()))
	s.o.Logger.Info("weekly report archived", "week", w.String(), "dir", s.o.Archive.Dir())
	if s.o.Webhook.URL != "" {
		text := r.SummaryText(s.reportURL(w))
		s.posts.Go(func() { s.post(s.ctx, w, text) })
	}
	return nil
}

// reportURL is where readers find a week's report, "" when the server's
// URL is not known.
func (s *Server) reportURL(w sloreport.ISOWeek) string {
	if s.o.PublicURL == nil || s.o.PublicURL() == "" {
		return ""
	}
	return strings.TrimRight(s.o.PublicURL(), "/") + "/reports/" + w.String() + ".html"
}

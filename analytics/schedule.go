package analytics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/estatehq/estate/internal/modules"
	"github.com/estatehq/estate/metrics"
)

// DefaultSchedule is 00:30 UTC every day, in cron's five fields: the day
// before is over, and its late events have had half an hour.
const DefaultSchedule = "30 0 * * *"

// DefaultScheduleDays is how many days before the run each scheduled
// export covers: yesterday and the day before, so that an event that
// arrives a day late is in the files the next night.
const DefaultScheduleDays = 2

// ScheduleOptions configure a Schedule.
type ScheduleOptions struct {
	// Schedule is when to export, in cron's five fields or a descriptor
	// (@daily), UTC; DefaultSchedule when empty.
	Schedule string
	// Days is how many whole days before the run's day each run exports;
	// DefaultScheduleDays when zero.
	Days int
	// Events reads the whole event log. Required.
	Events func(ctx context.Context) ([]metrics.Event, error)
	// Export configures each run; its Now is the schedule's clock.
	Export Options
	// Logger receives a line per run; discarded when nil.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Schedule runs exports at the times of a cron schedule, in the
// background between Start and Shutdown.
type Schedule struct {
	o        ScheduleOptions
	schedule cron.Schedule
	bg       modules.Background
}

// NewSchedule checks o and returns its Schedule. Errors: name the option
// at fault.
func NewSchedule(o ScheduleOptions) (*Schedule, error) {
	if o.Schedule == "" {
		o.Schedule = DefaultSchedule
	}
	if o.Days == 0 {
		o.Days = DefaultScheduleDays
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Export.Now = o.Now
	var errs []error
	sched, err := cron.ParseStandard(o.Schedule)
	if err != nil {
		errs = append(errs, fmt.Errorf("schedule: %q is not a cron schedule: %w", o.Schedule, err))
	}
	if o.Days < 0 {
		errs = append(errs, errors.New("days must be positive"))
	}
	if o.Events == nil {
		errs = append(errs, errors.New("events is required"))
	}
	if err := o.Export.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Schedule{o: o, schedule: sched}, nil
}

// Start runs the schedule in the background until Shutdown.
func (s *Schedule) Start(ctx context.Context) error {
	s.bg = modules.Background{What: "the export schedule", Run: s.loop}
	return s.bg.Start(ctx)
}

// Shutdown stops it, cancelling the work in flight, and waits for it
// until ctx ends.
func (s *Schedule) Shutdown(ctx context.Context) error { return s.bg.Shutdown(ctx) }

func (s *Schedule) loop(ctx context.Context) {
	for {
		now := s.o.Now().UTC()
		t := time.NewTimer(s.schedule.Next(now).Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if _, err := s.Run(ctx); err != nil && ctx.Err() == nil {
			s.o.Logger.Error("exporting the analytics tables", "err", err)
		}
	}
}

// Run exports the Days days before today (UTC) now, and returns the
// run's manifest. Errors: the event log's and the export's.
func (s *Schedule) Run(ctx context.Context) (Manifest, error) {
	to := day(s.o.Now())
	from := to.AddDate(0, 0, -s.o.Days)
	events, err := s.o.Events(ctx)
	if err != nil {
		return Manifest{}, fmt.Errorf("reading the events: %w", err)
	}
	m, err := Export(ctx, events, from, to, s.o.Export)
	if err != nil {
		return m, err
	}
	written := 0
	for _, t := range m.Tables {
		for _, p := range t.Partitions {
			if p.Status != StatusUnchanged {
				written++
			}
		}
	}
	s.o.Logger.Info("analytics tables exported", "from", from.Format(time.DateOnly), "to", to.Format(time.DateOnly),
		"events", m.Events, "partitions_changed", written, "manifest", ManifestDir+"/"+m.RunID+".json")
	return m, nil
}

package delivery_test

import (
	"context"
	"errors"
	"flag"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/config"
	"github.com/estatehq/estate/internal/delivery"
)

const ms = time.Millisecond

func TestBackoffDelays(t *testing.T) {
	tests := []struct {
		name    string
		backoff delivery.Backoff
		want    []time.Duration // retries 1, 2, ...
	}{
		{"doubles up to max", delivery.Backoff{Initial: 100 * ms, Max: time.Second},
			[]time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second}},
		{"initial above max", delivery.Backoff{Initial: 2 * time.Second, Max: time.Second},
			[]time.Duration{time.Second, time.Second}},
		{"multiplier", delivery.Backoff{Initial: 100 * ms, Max: time.Second, Multiplier: 1.5},
			[]time.Duration{100 * ms, 150 * ms, 225 * ms, 337500 * time.Microsecond}},
		{"unbounded", delivery.Backoff{Initial: 50 * ms},
			[]time.Duration{50 * ms, 100 * ms, 200 * ms, 400 * ms}},
		{"jitter takes up to half off", delivery.Backoff{Initial: 50 * ms, Jitter: func() float64 { return 0.5 }},
			[]time.Duration{37500 * time.Microsecond, 75 * ms, 150 * ms}},
		{"no jitter at zero", delivery.Backoff{Initial: 50 * ms, Max: 60 * ms, Jitter: func() float64 { return 0 }},
			[]time.Duration{50 * ms, 60 * ms}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []time.Duration
			for n := 1; n <= len(tc.want); n++ {
				got = append(got, tc.backoff.Delay(n))
			}
			require.Empty(t, cmp.Diff(tc.want, got))
		})
	}
	t.Run("does not overflow", func(t *testing.T) {
		require.Equal(t, time.Duration(math.MaxInt64), delivery.Backoff{Initial: time.Hour}.Delay(200))
		require.Equal(t, time.Minute, delivery.Backoff{Initial: time.Hour, Max: time.Minute}.Delay(1<<30))
	})
}

// recorder is an injected sleep that returns at once and remembers.
type recorder struct{ slept []time.Duration }

func (r *recorder) sleep(ctx context.Context, d time.Duration) error {
	r.slept = append(r.slept, d)
	return ctx.Err()
}

func TestRetryDo(t *testing.T) {
	transient := errors.New("unavailable")
	throttle := func(d time.Duration) error { return delivery.Throttle(errors.New("slow down"), d) }
	permanent := delivery.Permanent(errors.New("bad request"))
	tests := []struct {
		name      string
		capDelay  bool
		script    []error // op's answers in turn; nil after the script
		wantCalls int
		wantSleep []time.Duration
		check     func(*testing.T, error)
	}{
		{"success at once", false, nil, 1, nil, func(t *testing.T, err error) { require.NoError(t, err) }},
		{"transient then success", false, []error{transient, transient}, 3, []time.Duration{100 * ms, 200 * ms},
			func(t *testing.T, err error) { require.NoError(t, err) }},
		{"server delay honoured", false, []error{throttle(700 * ms)}, 2, []time.Duration{700 * ms},
			func(t *testing.T, err error) { require.NoError(t, err) }},
		{"throttle without delay backs off", false, []error{throttle(0), transient}, 3, []time.Duration{100 * ms, 200 * ms},
			func(t *testing.T, err error) { require.NoError(t, err) }},
		{"permanent is not retried", false, []error{permanent}, 1, nil,
			func(t *testing.T, err error) { require.Same(t, permanent, err) }},
		{"shutdown is not retried", false, []error{&delivery.ShutdownError{Err: delivery.ErrShutdown}}, 1, nil,
			func(t *testing.T, err error) { require.True(t, delivery.IsShutdown(err)) }},
		{"attempts run out", false, []error{transient, transient, transient, transient}, 4,
			[]time.Duration{100 * ms, 200 * ms, 400 * ms}, func(t *testing.T, err error) {
				require.ErrorIs(t, err, transient)
				require.ErrorContains(t, err, "after 4 attempts")
				require.False(t, delivery.IsPermanent(err))
				_, throttled := delivery.RetryAfter(err)
				require.False(t, throttled)
			}},
		{"attempts run out on a throttle", false, []error{throttle(ms), throttle(ms), throttle(ms), throttle(2 * ms)}, 4,
			[]time.Duration{ms, ms, ms}, func(t *testing.T, err error) {
				d, ok := delivery.RetryAfter(err)
				require.True(t, ok)
				require.Equal(t, 2*ms, d)
			}},
		{"long server delay handed back", false, []error{transient, throttle(time.Minute)}, 2, []time.Duration{100 * ms},
			func(t *testing.T, err error) {
				d, ok := delivery.RetryAfter(err)
				require.True(t, ok)
				require.Equal(t, time.Minute, d)
			}},
		{"long server delay capped", true, []error{throttle(time.Minute)}, 2, []time.Duration{time.Second},
			func(t *testing.T, err error) { require.NoError(t, err) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rec recorder
			var retried []int
			r := delivery.Retry{
				Backoff:     delivery.Backoff{Initial: 100 * ms, Max: time.Second},
				MaxAttempts: 4, CapServerDelay: tc.capDelay, Sleep: rec.sleep,
				OnRetry: func(attempt int, err error, d time.Duration) {
					require.Error(t, err)
					require.Len(t, rec.slept, len(retried), "told before the wait")
					retried = append(retried, attempt)
				},
			}
			calls := 0
			err := r.Do(t.Context(), func(context.Context) error {
				calls++
				if calls <= len(tc.script) {
					return tc.script[calls-1]
				}
				return nil
			})
			tc.check(t, err)
			require.Equal(t, tc.wantCalls, calls)
			require.Empty(t, cmp.Diff(tc.wantSleep, rec.slept))
			require.Len(t, retried, len(tc.wantSleep))
		})
	}
}

func TestRetryDoStopsWithItsContext(t *testing.T) {
	t.Run("during the wait", func(t *testing.T) {
		ctx, cancel := context.WithCancelCause(t.Context())
		stop := errors.New("stop")
		r := delivery.Retry{Backoff: delivery.Backoff{Initial: ms}, Sleep: func(ctx context.Context, _ time.Duration) error {
			cancel(stop)
			return ctx.Err()
		}}
		err := r.Do(ctx, func(context.Context) error { return errors.New("transient") })
		require.True(t, delivery.IsShutdown(err))
		require.ErrorIs(t, err, stop, "the cause is kept")
	})
	t.Run("during the call", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		r := delivery.Retry{Backoff: delivery.Backoff{Initial: ms}}
		err := r.Do(ctx, func(context.Context) error {
			cancel()
			return errors.New("connection reset")
		})
		require.True(t, delivery.IsShutdown(err))
		require.ErrorIs(t, err, context.Canceled)
	})
	t.Run("unbounded attempts until the context ends, with the default sleep", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			r := delivery.Retry{Backoff: delivery.Backoff{Initial: time.Second, Max: 8 * time.Second}}
			var at []time.Duration
			start := time.Now()
			err := r.Do(ctx, func(context.Context) error {
				at = append(at, time.Since(start))
				return errors.New("transient")
			})
			require.True(t, delivery.IsShutdown(err))
			require.ErrorIs(t, err, context.DeadlineExceeded)
			s := time.Second
			require.Equal(t, []time.Duration{0, s, 3 * s, 7 * s, 15 * s, 23 * s, 31 * s, 39 * s, 47 * s, 55 * s}, at)
			require.Equal(t, time.Minute, time.Since(start))
		})
	})
}

func TestSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		require.NoError(t, delivery.Sleep(t.Context(), 3*time.Second))
		require.Equal(t, 3*time.Second, time.Since(start))

		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		require.ErrorIs(t, delivery.Sleep(ctx, time.Hour), context.DeadlineExceeded)
		require.Equal(t, 4*time.Second, time.Since(start), "returned when ctx ended")
	})
}

func TestRetryValidate(t *testing.T) {
	tests := []struct {
		name  string
		retry delivery.Retry
		want  []string
	}{
		{"valid", delivery.Retry{Backoff: delivery.Backoff{Initial: ms, Max: ms}, MaxAttempts: 1}, nil},
		{"attempts", delivery.Retry{Backoff: delivery.Backoff{Initial: ms, Max: ms}}, []string{"jaeger.max_attempts: must be positive, not 0"}},
		{"initial", delivery.Retry{MaxAttempts: 1}, []string{"jaeger.initial_backoff: must be positive"}},
		{"max below initial", delivery.Retry{Backoff: delivery.Backoff{Initial: 2 * ms, Max: ms}, MaxAttempts: 1},
			[]string{"jaeger.max_backoff: must be at least initial_backoff"}},
		{"all of them", delivery.Retry{Backoff: delivery.Backoff{Initial: -ms, Max: -2 * ms}, MaxAttempts: -1},
			[]string{"jaeger.max_attempts", "jaeger.initial_backoff", "jaeger.max_backoff"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.retry.Validate("jaeger.")
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestRetryConfig(t *testing.T) {
	// An exporter's configuration, as the targets load it: the retry keys
	// inline beside the exporter's own.
	var cfg struct {
		Endpoint             string `yaml:"endpoint"`
		delivery.RetryConfig `yaml:",inline"`
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs, "otlp-")
	require.NoError(t, fs.Parse([]string{"--otlp-max-attempts", "3"}))
	require.Equal(t, delivery.RetryConfig{Timeout: 10 * time.Second, MaxAttempts: 3, InitialBackoff: 100 * ms, MaxBackoff: 5 * time.Second}, cfg.RetryConfig)

	require.NoError(t, config.Decode([]byte("endpoint: x\ntimeout: 2s\nmax_backoff: 1s\n"), &cfg))
	require.Equal(t, "x", cfg.Endpoint)
	require.Equal(t, 2*time.Second, cfg.Timeout)
	require.NoError(t, cfg.Validate("otlp."))
	r := cfg.Retry()
	require.Equal(t, delivery.Backoff{Initial: 100 * ms, Max: time.Second}, r.Backoff)
	require.Equal(t, 3, r.MaxAttempts)
	require.Error(t, config.Decode([]byte("max_atempts: 3\n"), &cfg), "strict: unknown keys are errors")

	cfg.Timeout, cfg.MaxAttempts = 0, 0
	err := cfg.Validate("otlp.")
	require.ErrorContains(t, err, "otlp.timeout: must be positive")
	require.ErrorContains(t, err, "otlp.max_attempts: must be positive")
}

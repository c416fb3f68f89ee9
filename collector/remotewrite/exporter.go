// Package remotewrite sends metrics to a remote_write 1.0 receiver such as
// Prometheus with --web.enable-remote-write-receiver, on two paths.
//
// It pushes a Prometheus registry (the collector's RED and DORA series and
// its own health), for setups where Prometheus cannot scrape the
// collector: every Interval it gathers the registry once, converts the
// snapshot to a prompb.WriteRequest (histograms and summaries as their
// classic series), and sends it snappy-compressed, retrying 5xx and 429
// with backoff. The gatherer is only held for the gathering itself: a slow
// or absent receiver delays pushes, never the registry.
//
// And it forwards the OTLP metrics the collector receives (OTLPSink), a
// consumer of the collector's queue that translates them with Prometheus's
// own OTLP translator, as the embedded metrics store does.
package remotewrite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/prompb"

	"github.com/estatehq/estate/collector/internal/promotlp"
	"github.com/estatehq/estate/internal/delivery"
)

// Options are the exporter's dependencies.
type Options struct {
	// Gatherer is the registry pushed; required.
	Gatherer   prometheus.Gatherer
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now stamps samples; time.Now when nil.
	Now func() time.Time
	// Sleep waits between retries and returns early with ctx's error;
	// delivery.Sleep when nil.
	Sleep func(ctx context.Context, d time.Duration) error
	// Client sends the requests; one with its own transport when nil.
	Client *http.Client
	// Translation is how the OTLP metrics path names series; it must be
	// the embedded store's, so that both hold the same series.
	Translation promotlp.Config
}

// Exporter pushes a registry periodically.
type Exporter struct {
	cfg      Config
	opts     Options
	log      *slog.Logger
	client   *http.Client
	ownsConn bool
	metrics  *metrics
	instance string
	retry    delivery.Retry
	life     delivery.Lifecycle

	// The OTLP metrics path: its retries hand a long delay back to the
	// queue, which waits instead of the call.
	translator *promotlp.Translator
	queueRetry delivery.Retry

	mu      sync.Mutex
	running bool // the push loop
}

// New builds an exporter from a valid configuration.
func New(cfg Config, opts Options) (*Exporter, error) {
	if !cfg.Enabled() {
		return nil, errors.New("prometheus_remote_write.url: must be set")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Gatherer == nil {
		return nil, errors.New("remotewrite: Options.Gatherer is required")
	}
	if err := opts.Translation.Validate(); err != nil {
		return nil, err
	}
	tel := delivery.Telemetry{Logger: opts.Logger, Registerer: opts.Registerer, Now: opts.Now}.Defaults()
	opts.Now = tel.Now
	e := &Exporter{cfg: cfg, opts: opts, log: tel.Logger.With("exporter", "remote_write"), client: opts.Client}
	if e.client == nil {
		t, err := cfg.tls().Transport("prometheus_remote_write.")
		if err != nil {
			return nil, err
		}
		e.client = &http.Client{Transport: t}
		e.ownsConn = true
	}
	e.instance = cfg.Instance
	if e.instance == "" {
		e.instance, _ = os.Hostname()
	}
	m, err := newMetrics(tel.Registerer)
	if err != nil {
		return nil, err
	}
	e.metrics = m
	// A newer snapshot replaces one not delivered, so a long server delay
	// is waited for (up to MaxBackoff) rather than handed back.
	e.retry = cfg.retry()
	e.retry.Sleep, e.retry.CapServerDelay = opts.Sleep, true
	e.retry.OnRetry = func(int, error, time.Duration) {
		e.metrics.Retries.Inc()
		e.metrics.pushes.WithLabelValues("retried").Inc()
	}
	e.translator = promotlp.New(opts.Translation)
	e.queueRetry = cfg.retry()
	e.queueRetry.Sleep = opts.Sleep
	e.queueRetry.OnRetry = func(int, error, time.Duration) { e.metrics.Retries.Inc() }
	return e, nil
}

// Start begins pushing every Interval, the first push one Interval from
// now. The loop stops at Shutdown.
func (e *Exporter) Start(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.running {
		return errors.New("remotewrite: already started")
	}
	if err := e.life.Go(e.loop); err != nil {
		return fmt.Errorf("remotewrite: starting: %w", err)
	}
	e.running = true
	return nil
}

func (e *Exporter) loop(ctx context.Context) {
	t := time.NewTicker(e.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := e.Push(ctx); err != nil && ctx.Err() == nil {
				e.log.Warn("remote write push failed; the next one carries newer values", "error", err)
			}
		}
	}
}

// Shutdown stops the loop and pushes a last snapshot, within ctx, so the
// final values are not lost when the collector stops.
func (e *Exporter) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	running := e.running
	e.running = false
	e.mu.Unlock()
	if !running {
		return nil
	}
	if err := e.life.Shutdown(ctx); err != nil {
		return fmt.Errorf("waiting for the push loop: %w", err)
	}
	err := e.Push(ctx)
	if e.ownsConn {
		e.client.CloseIdleConnections()
	}
	if err != nil {
		return fmt.Errorf("final push: %w", err)
	}
	return nil
}

// Push gathers the registry and sends it, retrying 5xx and 429 up to
// MaxAttempts. It returns a *delivery.PermanentError when the receiver
// refused the request (4xx), a *delivery.ThrottleError when it still asked
// to slow down on the last attempt, a *delivery.ShutdownError when ctx
// ended.
func (e *Exporter) Push(ctx context.Context) error {
	mfs, err := e.opts.Gatherer.Gather()
	if err != nil && len(mfs) == 0 {
		e.metrics.pushes.WithLabelValues("failed").Inc()
		return fmt.Errorf("gathering metrics: %w", err)
	}
	if err != nil {
		// Gather returns what it could alongside the error; push that.
		e.log.Warn("gathering metrics was incomplete", "error", err)
	}
	req := toWriteRequest(mfs, e.opts.Now().UnixMilli(), e.cfg.Job, e.instance)
	raw, err := req.Marshal()
	if err != nil {
		e.metrics.pushes.WithLabelValues("failed").Inc()
		return &delivery.PermanentError{Err: fmt.Errorf("encoding write request: %w", err)}
	}
	body := snappy.Encode(nil, raw)
	samples := 0
	for _, ts := range req.Timeseries {
		samples += len(ts.Samples)
	}
	if err := e.retry.Do(ctx, func(ctx context.Context) error { return e.send(ctx, body) }); err != nil {
		e.metrics.pushes.WithLabelValues("failed").Inc()
		return err
	}
	e.metrics.pushes.WithLabelValues("success").Inc()
	e.metrics.Items.WithLabelValues().Add(float64(samples))
	e.metrics.lastSuccess.Set(float64(e.opts.Now().UnixMilli()) / 1000)
	return nil
}

func (e *Exporter) send(ctx context.Context, body []byte) error {
	rctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, e.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return &delivery.PermanentError{Err: fmt.Errorf("building request: %w", err)}
	}
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", "estate-collector")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	if e.cfg.Username != "" {
		req.SetBasicAuth(e.cfg.Username, e.cfg.Password)
	}
	start := time.Now()
	res, err := e.client.Do(req)
	if err != nil {
		e.metrics.Observe(start, "error")
		return fmt.Errorf("pushing metrics: %w", err)
	}
	e.metrics.Observe(start, strconv.Itoa(res.StatusCode))
	msg, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
	_ = res.Body.Close()
	if err := delivery.HTTPError(res, msg, retryable, e.opts.Now()); err != nil {
		return fmt.Errorf("pushing metrics: %w", err)
	}
	return nil
}

// retryable is the remote_write specification's rule: 5xx and 429 may be
// sent again; any other answer is final.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status/100 == 5
}

// toWriteRequest converts a gathered snapshot into remote_write series, the
// way a scrape would have stored it: histograms as _bucket (with le),
// _sum and _count; summaries as quantiles, _sum and _count. Labels are
// sorted by name, as the protocol requires.
func toWriteRequest(mfs []*dto.MetricFamily, nowMs int64, job, instance string) *prompb.WriteRequest {
	req := &prompb.WriteRequest{}
	for _, mf := range mfs {
		name := mf.GetName()
		req.Metadata = append(req.Metadata, prompb.MetricMetadata{
			Type: metadataType(mf.GetType()), MetricFamilyName: name, Help: mf.GetHelp(), Unit: mf.GetUnit(),
		})
		for _, m := range mf.GetMetric() {
			ts := nowMs
			if m.TimestampMs != nil {
				ts = m.GetTimestampMs()
			}
			add := func(series string, v float64, extra ...string) {
				req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
					Labels:  seriesLabels(series, m.GetLabel(), job, instance, extra...),
					Samples: []prompb.Sample{{Value: v, Timestamp: ts}},
				})
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				add(name, m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				add(name, m.GetGauge().GetValue())
			case dto.MetricType_UNTYPED:
				add(name, m.GetUntyped().GetValue())
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				for _, q := range s.GetQuantile() {
					add(name, q.GetValue(), "quantile", formatFloat(q.GetQuantile()))
				}
				add(name+"_sum", s.GetSampleSum())
				add(name+"_count", float64(s.GetSampleCount()))
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				h := m.GetHistogram()
				inf := false
				for _, b := range h.GetBucket() {
					if math.IsInf(b.GetUpperBound(), +1) {
						inf = true
					}
					add(name+"_bucket", float64(b.GetCumulativeCount()), "le", formatFloat(b.GetUpperBound()))
				}
				if !inf {
					add(name+"_bucket", float64(h.GetSampleCount()), "le", "+Inf")
				}
				add(name+"_sum", h.GetSampleSum())
				add(name+"_count", float64(h.GetSampleCount()))
			}
		}
	}
	return req
}

func seriesLabels(name string, lps []*dto.LabelPair, job, instance string, extra ...string) []prompb.Label {
	ls := make([]prompb.Label, 0, len(lps)+3+len(extra)/2)
	ls = append(ls, prompb.Label{Name: "__name__", Value: name})
	seen := map[string]bool{}
	for _, lp := range lps {
		ls = append(ls, prompb.Label{Name: lp.GetName(), Value: lp.GetValue()})
		seen[lp.GetName()] = true
	}
	for i := 0; i+1 < len(extra); i += 2 {
		ls = append(ls, prompb.Label{Name: extra[i], Value: extra[i+1]})
		seen[extra[i]] = true
	}
	// A series' own job or instance wins, as honor_labels would have it.
	if !seen["job"] {
		ls = append(ls, prompb.Label{Name: "job", Value: job})
	}
	if !seen["instance"] && instance != "" {
		ls = append(ls, prompb.Label{Name: "instance", Value: instance})
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
	return ls
}

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, +1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func metadataType(t dto.MetricType) prompb.MetricMetadata_MetricType {
	switch t {
	case dto.MetricType_COUNTER:
		return prompb.MetricMetadata_COUNTER
	case dto.MetricType_GAUGE:
		return prompb.MetricMetadata_GAUGE
	case dto.MetricType_SUMMARY:
		return prompb.MetricMetadata_SUMMARY
	case dto.MetricType_HISTOGRAM:
		return prompb.MetricMetadata_HISTOGRAM
	case dto.MetricType_GAUGE_HISTOGRAM:
		return prompb.MetricMetadata_GAUGEHISTOGRAM
	default:
		return prompb.MetricMetadata_UNKNOWN
	}
}

// metrics are the series every exporter keeps (samples are its items) and
// the push loop's own.
type metrics struct {
	*delivery.Metrics
	pushes      *prometheus.CounterVec
	lastSuccess prometheus.Gauge
	otlpDropped *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const sub = "remote_write"
	m := &metrics{
		pushes: delivery.CounterVec(sub, "pushes_total",
			"Push attempts by result: success, retried, failed (the snapshot was given up).", "result"),
		lastSuccess: delivery.Gauge(sub, "last_success_timestamp_seconds", "Time of the last delivered push."),
		otlpDropped: delivery.CounterVec(sub, "otlp_dropped_total",
			"OTLP metrics not forwarded, by reason: undecodable_record (a queue record), untranslatable (a metric the Prometheus translator refused, such as a delta sum).", "reason"),
	}
	var err error
	m.Metrics, err = delivery.NewMetrics(reg, delivery.MetricsOpts{
		Subsystem: sub,
		ItemsName: "samples_total", ItemsHelp: "Samples delivered, of the registry and of OTLP metrics.", Preset: [][]string{{}},
		RequestsHelp: "Push requests by HTTP status, or error when no answer came.",
		DurationHelp: "Duration of push requests.",
		RetriesHelp:  "Push requests sent again after a retryable error.",
		Extra:        []prometheus.Collector{m.pushes, m.lastSuccess, m.otlpDropped},
	})
	if err != nil {
		return nil, err
	}
	for _, r := range []string{"success", "retried", "failed"} {
		m.pushes.WithLabelValues(r)
	}
	for _, r := range []string{"undecodable_record", "untranslatable"} {
		m.otlpDropped.WithLabelValues(r)
	}
	return m, nil
}

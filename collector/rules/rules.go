// Package rules evaluates Prometheus recording and alerting rules over the
// embedded metrics store, with Prometheus's own rules manager: recording
// rules write their series back to the store; alerting rules keep ALERTS
// and ALERTS_FOR_STATE there, as Prometheus does (so an alert's pending
// time survives a restart), and their notifications go to an Alertmanager
// when one is configured, with Prometheus's own notifier, and always to
// the estate's own incident intake, as the webhook body Alertmanager would
// post: a firing alert opens an incident and a resolved one resolves it,
// on one machine too.
//
// Rules come from files (Prometheus's rule file format, what `estate slo
// rules` writes and promtool checks) and from rule files made in process;
// they are read at start, when a file changes, and when Reload is called
// (the collector calls it on SIGHUP). A rule set that does not load is
// refused whole and the previous one stays.
package rules

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/notifier"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	promrules "github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/strutil"
)

// Prometheus's defaults for what its flags set (--rules.alert.*).
const (
	resendDelay     = time.Minute
	outageTolerance = time.Hour
	forGracePeriod  = 10 * time.Minute
)

// generatedPrefix marks the rule files made in process among the files.
const generatedPrefix = "generated:"

// Options are the evaluator's dependencies.
type Options struct {
	Config Config
	// Engine and Queryable answer the rules' queries; Appendable takes
	// what they write. All three are required; normally one store.
	Engine     promql.QueryEngine
	Queryable  storage.Queryable
	Appendable storage.AppendableV2
	// Generated, when set, returns rule files made in process (such as
	// the SLOs' rules), by name, in Prometheus's rule file format; they
	// are loaded beside Config.Files at start and at every reload.
	Generated func() (map[string][]byte, error)
	// Incidents, when set, is told of every alert that fires or resolves.
	Incidents Incidents
	// ExternalURL is where the estate's API is, for alerts' generator URLs
	// and the webhook's externalURL.
	ExternalURL string
	Logger      *slog.Logger
	Registerer  prometheus.Registerer
}

// Evaluator evaluates rules until Shutdown.
type Evaluator struct {
	opts      Options
	external  labels.Labels
	incident  []*labels.Matcher
	manager   *promrules.Manager
	loader    *loader
	notifier  *notifier.Manager
	incidents *incidentSender
	reloaded  prometheus.Gauge
	reloadAt  prometheus.Gauge

	mu          sync.Mutex // one reload at a time
	fingerprint [sha256.Size]byte
	files       []string

	cancel      context.CancelFunc // the evaluation's and the notifications'
	cancelWatch context.CancelFunc
	wg          sync.WaitGroup
}

// New builds an evaluator from a valid configuration; nothing is read or
// evaluated until Start.
func New(opts Options) (*Evaluator, error) {
	if err := opts.Config.Validate(); err != nil {
		return nil, err
	}
	if opts.Engine == nil || opts.Queryable == nil || opts.Appendable == nil {
		return nil, errors.New("rules: Options.Engine, Queryable and Appendable are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	external, err := opts.Config.externalLabels()
	if err != nil {
		return nil, err
	}
	incident, err := opts.Config.incidentMatchers()
	if err != nil {
		return nil, err
	}
	e := &Evaluator{
		opts: opts, external: external, incident: incident,
		loader: &loader{logger: opts.Logger, parser: parser.NewParser(parser.Options{})},
		reloaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "estate_rules_last_reload_successful",
			Help: "Whether the last reading of the rules loaded them (1) or left the previous ones (0).",
		}),
		reloadAt: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "estate_rules_last_reload_success_timestamp_seconds",
			Help: "Time of the last reading of the rules that loaded them.",
		}),
	}
	if err := errors.Join(opts.Registerer.Register(e.reloaded), opts.Registerer.Register(e.reloadAt)); err != nil {
		return nil, fmt.Errorf("registering rules series: %w", err)
	}
	if opts.Incidents != nil {
		if e.incidents, err = newIncidentSender(opts.Incidents, opts.Logger.With("part", "incidents"), opts.Registerer); err != nil {
			return nil, err
		}
	}
	if opts.Config.AlertmanagerURL != "" {
		if e.notifier, err = newNotifier(opts.Config, external, opts.Logger.With("part", "notifier"), opts.Registerer); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Start reads the rules, which must load, and begins evaluating them,
// watching the files for a change and the process for SIGHUP.
func (e *Evaluator) Start(ctx context.Context) error {
	if e.cancel != nil {
		return errors.New("rules: already started")
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	externalURL, err := url.Parse(e.opts.ExternalURL)
	if err != nil {
		cancel()
		return fmt.Errorf("rules: external URL: %w", err)
	}
	e.manager = promrules.NewManager(&promrules.ManagerOptions{
		ExternalURL:     externalURL,
		QueryFunc:       promrules.EngineQueryFunc(e.opts.Engine, e.opts.Queryable),
		NotifyFunc:      e.notify,
		Context:         runCtx,
		AppendableV2:    e.opts.Appendable,
		Queryable:       e.opts.Queryable,
		Logger:          e.opts.Logger,
		Registerer:      e.opts.Registerer,
		OutageTolerance: outageTolerance,
		ForGracePeriod:  forGracePeriod,
		ResendDelay:     resendDelay,
		GroupLoader:     e.loader,
	})
	if err := e.Reload(ctx); err != nil {
		cancel()
		e.manager.Stop()
		e.manager = nil
		return err
	}
	e.cancel = cancel
	watchCtx, cancelWatch := context.WithCancel(runCtx)
	e.cancelWatch = cancelWatch
	if e.incidents != nil {
		e.wg.Go(func() { e.incidents.run(runCtx) })
	}
	if e.notifier != nil {
		e.wg.Go(func() { e.notifier.Run(alertmanagerGroups(e.opts.Config)) })
	}
	e.wg.Go(e.manager.Run)
	e.wg.Go(func() { e.watch(watchCtx) })
	e.opts.Logger.Info("evaluating rules", "files", e.Files())
	return nil
}

// watch reads the rules again every ReloadInterval, and applies them
// when they changed.
func (e *Evaluator) watch(ctx context.Context) {
	d := e.opts.Config.ReloadInterval
	if d <= 0 {
		return
	}
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := e.Reload(ctx); err != nil {
			e.opts.Logger.Error("reading the rules; the previous ones stay", "err", err)
		}
	}
}

// Reload reads the rule files and the generated rules again, and applies
// them if they changed; the collector calls it on SIGHUP. A rule set that
// does not load is refused whole: the previous one stays, and the error
// names each problem.
func (e *Evaluator) Reload(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.manager == nil {
		return errors.New("rules: not started")
	}
	sources, err := e.read()
	sum := digest(sources)
	if err == nil && sum == e.fingerprint {
		return nil
	}
	if err == nil {
		err = e.apply(sources)
	}
	if err != nil {
		e.reloaded.Set(0)
		return fmt.Errorf("loading rules: %w", err)
	}
	e.fingerprint = sum
	e.reloaded.Set(1)
	e.reloadAt.SetToCurrentTime()
	return nil
}

// read returns the content of every rule file, by identifier: the files'
// paths, then the generated files' names under generatedPrefix.
func (e *Evaluator) read() (map[string][]byte, error) {
	sources := map[string][]byte{}
	var errs []error
	for _, pattern := range e.opts.Config.Files {
		paths, err := filepath.Glob(pattern)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule files %q: %w", pattern, err))
			continue
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				errs = append(errs, fmt.Errorf("reading rule file: %w", err))
				continue
			}
			sources[p] = b
		}
	}
	if e.opts.Generated != nil {
		gen, err := e.opts.Generated()
		if err != nil {
			errs = append(errs, fmt.Errorf("generating rules: %w", err))
		}
		for name, b := range gen {
			sources[generatedPrefix+name] = b
		}
	}
	return sources, errors.Join(errs...)
}

// digest identifies a rule set: its identifiers and contents.
func digest(sources map[string][]byte) [sha256.Size]byte {
	h := sha256.New()
	for _, id := range slices.Sorted(maps.Keys(sources)) {
		fmt.Fprintf(h, "%d:%s%d:", len(id), id, len(sources[id]))
		h.Write(sources[id])
	}
	return [sha256.Size]byte(h.Sum(nil))
}

// apply checks every source, then hands them to the manager.
func (e *Evaluator) apply(sources map[string][]byte) error {
	e.loader.set(sources)
	ids := slices.Sorted(maps.Keys(sources))
	var errs []error
	for _, id := range ids {
		if _, ers := e.loader.Load(id, false, model.UTF8Validation); len(ers) > 0 {
			errs = append(errs, ers...)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := e.manager.Update(e.opts.Config.Interval, ids, e.external, e.opts.ExternalURL, nil); err != nil {
		return err
	}
	e.files = ids
	return nil
}

// Files are the rule files evaluated: paths, and the generated files'
// names prefixed with "generated:".
func (e *Evaluator) Files() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.files)
}

// notify is the rules manager's NotifyFunc: Prometheus's notifier when an
// Alertmanager is configured, and the incident intake.
func (e *Evaluator) notify(ctx context.Context, expr string, alerts ...*promrules.Alert) {
	if e.notifier != nil {
		promrules.SendAlerts(e.notifier, e.opts.ExternalURL)(ctx, expr, alerts...)
	}
	if e.incidents == nil {
		return
	}
	incidents := make([]*promrules.Alert, 0, len(alerts))
	for _, a := range alerts {
		if matches(e.incident, a.Labels) {
			incidents = append(incidents, a)
		}
	}
	if len(incidents) > 0 {
		e.incidents.notify(incidents, e.external, e.opts.ExternalURL, e.opts.ExternalURL+strutil.TableLinkForExpression(expr))
	}
}

// matches reports whether ls satisfies every matcher.
func matches(ms []*labels.Matcher, ls labels.Labels) bool {
	for _, m := range ms {
		if !m.Matches(ls.Get(m.Name)) {
			return false
		}
	}
	return true
}

// Shutdown stops the evaluation, then the notifications: what is queued
// for the Alertmanager and the intake is delivered, within ctx.
func (e *Evaluator) Shutdown(ctx context.Context) error {
	if e.cancel == nil {
		return nil
	}
	e.cancelWatch()
	e.manager.Stop()
	if e.notifier != nil {
		e.notifier.Stop()
	}
	if e.incidents != nil {
		e.incidents.close()
	}
	stopped := make(chan struct{})
	go func() {
		e.wg.Wait()
		close(stopped)
	}()
	select {
	case <-stopped:
		e.cancel()
		return nil
	case <-ctx.Done():
		e.cancel()
		<-stopped
		return fmt.Errorf("stopping the rules: %w", ctx.Err())
	}
}

// loader is the rules manager's GroupLoader: it parses the sources read at
// the last reload, files and generated files alike, as promtool would.
type loader struct {
	logger *slog.Logger
	parser parser.Parser

	mu      sync.Mutex
	sources map[string][]byte
}

func (l *loader) set(sources map[string][]byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sources = sources
}

// Load implements rules.GroupLoader.
func (l *loader) Load(id string, ignoreUnknownFields bool, scheme model.ValidationScheme) (*rulefmt.RuleGroups, []error) {
	l.mu.Lock()
	b, ok := l.sources[id]
	l.mu.Unlock()
	if !ok {
		return nil, []error{fmt.Errorf("%s: no such rule file", id)}
	}
	rgs, errs := rulefmt.Parse(b, ignoreUnknownFields, scheme, l.parser, l.logger)
	for i := range errs {
		errs[i] = fmt.Errorf("%s: %w", strings.TrimPrefix(id, generatedPrefix), errs[i])
	}
	return rgs, errs
}

// Parse implements rules.GroupLoader.
func (l *loader) Parse(query string) (parser.Expr, error) { return l.parser.ParseExpr(query) }

// Manager is the Prometheus rules manager underneath, whose groups and
// alerts the Prometheus API serves.
func (e *Evaluator) Manager() *promrules.Manager { return e.manager }

// Package scrape keeps the estate's own /metrics over time: it scrapes
// every target (the collector itself, the services, and any configured
// host:port) into the embedded metrics store with Prometheus's own scrape
// manager, so the samples carry what a Prometheus server would give them:
// the job and instance labels, the up series and the scrape's own series
// (scrape_duration_seconds, scrape_samples_scraped...), and staleness
// markers when a target stops answering or goes away.
//
// Targets are static target groups, as a Prometheus file_sd or static_configs
// would give them: those of the configuration, and those the estate sets
// when the targets it runs in process have started (SetTargets). A target
// that is down is an up 0 sample, never an error of the collector.
package scrape

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	promscrape "github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"
	"gopkg.in/yaml.v3"
)

// reloadInterval is how soon a change of targets is applied: the scrape
// manager batches target updates at this pace.
const reloadInterval = time.Second

// Sources of target groups: the configuration's, and the estate's own.
const (
	sourceConfig = "config"
	sourceEstate = "estate"
)

// Options are the scraper's dependencies.
type Options struct {
	Config Config
	// Appendable is the store the samples go to; required.
	Appendable storage.AppendableV2
	Logger     *slog.Logger
	// Registerer receives the scrape manager's own series
	// (prometheus_target_*); a throwaway registry when nil.
	Registerer prometheus.Registerer
}

// Scraper scrapes its targets until Shutdown. Its methods are safe for
// concurrent use.
type Scraper struct {
	cfg     Config
	logger  *slog.Logger
	manager *promscrape.Manager

	mu sync.Mutex
	// targets are the addresses of each job, by source.
	targets map[string]map[string][]string
	// applied are the jobs the manager has a scrape configuration for.
	applied []string
	running bool
	updates chan map[string][]*targetgroup.Group
	stop    chan struct{}
	done    chan struct{}
}

// New builds a scraper from a valid configuration; nothing is scraped
// until Start.
func New(opts Options) (*Scraper, error) {
	if err := opts.Config.Validate(); err != nil {
		return nil, err
	}
	if opts.Appendable == nil {
		return nil, errors.New("scrape: Options.Appendable is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	static, err := opts.Config.StaticTargets()
	if err != nil {
		return nil, err
	}
	m, err := promscrape.NewManager(&promscrape.Options{
		DiscoveryReloadInterval:  model.Duration(reloadInterval),
		DiscoveryReloadOnStartup: true,
		// A counter's start time, when its target gives one, is stored as
		// a zero sample: a target restarted between two scrapes whose
		// counter is back at or above its last value is then still seen to
		// have restarted, so that counting increases (an SLO's events)
		// neither loses nor invents any.
		EnableStartTimestampZeroIngestion: true,
	}, opts.Logger, nil, nil, opts.Appendable, opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("creating scrape manager: %w", err)
	}
	s := &Scraper{
		cfg: opts.Config, logger: opts.Logger, manager: m,
		targets: map[string]map[string][]string{},
		updates: make(chan map[string][]*targetgroup.Group),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	for job, addrs := range static {
		s.targets[job] = map[string][]string{sourceConfig: addrs}
	}
	return s, nil
}

// Start begins scraping the configured targets and those set so far.
func (s *Scraper) Start(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return errors.New("scrape: already started")
	}
	if err := s.applyLocked(); err != nil {
		return err
	}
	s.running = true
	go func() {
		defer close(s.done)
		_ = s.manager.Run(s.updates) // returns nil once stopped
	}()
	s.sendLocked()
	return nil
}

// SetTargets sets the addresses (host:port) of job that the estate knows
// of itself, beside those the configuration gives that job; no address
// removes them, and their series are marked stale. It may be called
// before Start or after, and is ignored after Shutdown.
func (s *Scraper) SetTargets(job string, addrs ...string) error {
	if job == "" {
		return errors.New("scrape: a target's job must not be empty")
	}
	for _, a := range addrs {
		if err := checkAddr(a); err != nil {
			return fmt.Errorf("scrape: target of job %s: %w", job, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.targets[job] == nil {
		s.targets[job] = map[string][]string{}
	}
	s.targets[job][sourceEstate] = slices.Clone(addrs)
	if !s.running {
		return nil
	}
	if err := s.applyLocked(); err != nil {
		return err
	}
	s.sendLocked()
	return nil
}

// Shutdown stops every scrape. Series are not marked stale: the collector
// is stopping, not its targets, and a restart goes on where it stopped, as
// Prometheus does.
func (s *Scraper) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	running := s.running
	s.running = false
	s.mu.Unlock()
	if !running {
		return nil
	}
	close(s.stop)
	stopped := make(chan struct{})
	go func() {
		s.manager.Stop()
		close(stopped)
	}()
	for _, c := range []chan struct{}{stopped, s.done} {
		select {
		case <-c:
		case <-ctx.Done():
			return fmt.Errorf("stopping the scrape: %w", ctx.Err())
		}
	}
	s.manager.UnregisterMetrics()
	return nil
}

// Jobs are the jobs scraped, sorted.
func (s *Scraper) Jobs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.targets))
}

// applyLocked gives the manager a scrape configuration for every job.
// A job, once known, is kept, with no targets if need be: removing its
// configuration would drop its targets without staleness markers.
func (s *Scraper) applyLocked() error {
	jobs := slices.Sorted(maps.Keys(s.targets))
	if slices.Equal(jobs, s.applied) {
		return nil
	}
	cfg, err := s.promConfig(jobs)
	if err != nil {
		return err
	}
	if err := s.manager.ApplyConfig(cfg); err != nil {
		return fmt.Errorf("applying the scrape configuration: %w", err)
	}
	s.applied = jobs
	return nil
}

// sendLocked hands the manager every job's target groups. The manager
// takes them at once unless it is stopping.
func (s *Scraper) sendLocked() {
	sets := make(map[string][]*targetgroup.Group, len(s.targets))
	for job, bySource := range s.targets {
		groups := []*targetgroup.Group{}
		for _, source := range slices.Sorted(maps.Keys(bySource)) {
			g := &targetgroup.Group{Source: source}
			for _, addr := range bySource[source] {
				g.Targets = append(g.Targets, model.LabelSet{model.AddressLabel: model.LabelValue(addr)})
			}
			groups = append(groups, g)
		}
		sets[job] = groups
	}
	select {
	case s.updates <- sets:
	case <-s.stop:
	}
}

// promConfig is a Prometheus configuration with one scrape job per job,
// built as a file would be and loaded with Prometheus's own loader, so
// every default and check is Prometheus's.
func (s *Scraper) promConfig(jobs []string) (*promconfig.Config, error) {
	type scrapeConfig struct {
		JobName     string `yaml:"job_name"`
		SampleLimit int    `yaml:"sample_limit,omitempty"`
	}
	var doc struct {
		Global struct {
			ScrapeInterval  string   `yaml:"scrape_interval"`
			ScrapeTimeout   string   `yaml:"scrape_timeout"`
			ScrapeProtocols []string `yaml:"scrape_protocols"`
		} `yaml:"global"`
		ScrapeConfigs []scrapeConfig `yaml:"scrape_configs"`
	}
	doc.Global.ScrapeInterval = model.Duration(s.cfg.Interval).String()
	doc.Global.ScrapeTimeout = model.Duration(s.cfg.Timeout).String()
	// Protocol buffers first: client_golang gives every counter's start
	// time there (created_timestamp); the text formats follow for other
	// targets.
	doc.Global.ScrapeProtocols = []string{"PrometheusProto", "OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText0.0.4"}
	for _, job := range jobs {
		doc.ScrapeConfigs = append(doc.ScrapeConfigs, scrapeConfig{JobName: job, SampleLimit: s.cfg.SampleLimit})
	}
	b, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, fmt.Errorf("encoding the scrape configuration: %w", err)
	}
	cfg, err := promconfig.Load(string(b), s.logger)
	if err != nil {
		return nil, fmt.Errorf("loading the scrape configuration: %w", err)
	}
	return cfg, nil
}

// Manager is the Prometheus scrape manager underneath, whose targets and
// their metric metadata the Prometheus API serves.
func (s *Scraper) Manager() *promscrape.Manager { return s.manager }

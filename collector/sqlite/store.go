// Package sqlite is the collector's embedded sink and query store: logs,
// spans and per-minute RED rollups in one SQLite file under the data dir
// (pure Go, no cgo), with retention by age and size. It serves the query API
// when no Elasticsearch or Jaeger is configured, and is the REDStore of the
// RED consumer.
//
// Delivery is idempotent: a log record's id is derived from its queue
// record, a span's key is (trace id, span id), and both are inserted with
// INSERT OR IGNORE, so a batch delivered again after a crash changes
// nothing; RED rollups count only spans whose id was not added before, in
// the same transaction as the ids.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/estatehq/estate/collector"
	"github.com/estatehq/estate/internal/config"
	"github.com/estatehq/estate/internal/sqldb"
)

// Defaults of the store's settings, written once: Config.RegisterFlags
// binds them and Open applies them to zero Options.
const (
	DefaultMaxAge            = 7 * 24 * time.Hour
	DefaultMaxBytes          = 2 << 30
	DefaultRetentionInterval = time.Minute
)

// Config is what an operator sets of the store (the `collector.store`
// group of the collector's configuration).
type Config struct {
	// Signals are the signals kept: "logs", "traces", both (the default) or
	// none, which makes the collector a pure forwarder.
	Signals []string `yaml:"signals"`
	// MaxAge and MaxBytes bound what is kept.
	MaxAge   time.Duration `yaml:"max_age"`
	MaxBytes int64         `yaml:"max_bytes"`
	// RetentionInterval is how often the bounds are applied.
	RetentionInterval time.Duration `yaml:"retention_interval"`
}

// storable are the signals the store can keep, by name.
var storable = map[string]collector.Signal{"logs": collector.SignalLogs, "traces": collector.SignalTraces}

// Kept are the signals of Signals; nil Signals means both.
func (c *Config) Kept() []collector.Signal {
	if c.Signals == nil {
		return []collector.Signal{collector.SignalLogs, collector.SignalTraces}
	}
	out := []collector.Signal{}
	for _, name := range c.Signals {
		if sig, ok := storable[name]; ok && !slices.Contains(out, sig) {
			out = append(out, sig)
		}
	}
	return out
}

// RegisterFlags sets the defaults and binds the flags, named prefix +
// "max-age" and so on.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	c.Signals = []string{"logs", "traces"}
	fs.Var(config.CommaList{List: &c.Signals}, prefix+"signals", `signals the embedded store keeps and serves on the query API, comma-separated: logs, traces; "" keeps none (a forwarder)`)
	fs.DurationVar(&c.MaxAge, prefix+"max-age", DefaultMaxAge, "embedded log and trace store: delete records older than this")
	fs.Int64Var(&c.MaxBytes, prefix+"max-bytes", DefaultMaxBytes, "embedded log and trace store: delete the oldest records above this many bytes")
	fs.DurationVar(&c.RetentionInterval, prefix+"retention-interval", DefaultRetentionInterval, "how often the embedded store applies max_age and max_bytes")
}

// Validate names every field at fault, by its key in this group.
func (c *Config) Validate() error {
	var errs []error
	for _, name := range c.Signals {
		if _, ok := storable[name]; !ok {
			errs = append(errs, fmt.Errorf("signals: %q must be logs or traces", name))
		}
	}
	errs = append(errs, config.Positive("max_age", c.MaxAge))
	errs = append(errs, config.Positive("max_bytes", c.MaxBytes))
	errs = append(errs, config.Positive("retention_interval", c.RetentionInterval))
	return errors.Join(errs...)
}

// Options are what a store is opened with.
type Options struct {
	// Config bounds what is kept; zero MaxAge and MaxBytes keep
	// everything, and a zero RetentionInterval is the default.
	Config
	// Path is the database file.
	Path string
	// SinkName is the store's queue cursor name; default "local".
	SinkName string
	// Durable makes every commit reach the disk (synchronous=FULL) before
	// Deliver returns; without it a power loss may lose the last commits
	// (a process crash loses nothing).
	Durable bool
	// Signals are what the store keeps: logs and traces by default. A
	// signal sent to an external sink (Elasticsearch, Jaeger) is left out.
	Signals []collector.Signal

	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Store is an open embedded store.
type Store struct {
	opts Options
	w    *sql.DB // one connection: SQLite has one writer
	r    *sql.DB

	stored    *prometheus.CounterVec
	dupes     *prometheus.CounterVec
	deleted   *prometheus.CounterVec
	badRecord prometheus.Counter

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

//go:embed migrations/*.sql
var migrations embed.FS

// Open opens (creating if needed) the store.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.SinkName == "" {
		opts.SinkName = "local"
	}
	if opts.Signals == nil {
		opts.Signals = []collector.Signal{collector.SignalLogs, collector.SignalTraces}
	}
	if opts.RetentionInterval <= 0 {
		opts.RetentionInterval = DefaultRetentionInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// FULL when the queue fsyncs every record (durability fsync): the
	// store's cursor moves on once Deliver returns, so the commit must be on
	// disk too, or a power loss would lose records the queue counts as
	// delivered. Otherwise NORMAL, no stricter than the queue: a power loss
	// may lose the last commits, a crash of the process loses nothing.
	synchronous := sqldb.SyncNormal
	if opts.Durable {
		synchronous = sqldb.SyncFull
	}
	db, err := sqldb.OpenSQLite(ctx, opts.Path, sqldb.SQLiteOptions{
		Synchronous: synchronous,
		Readers:     4,
		Migrations:  sqldb.Migrations{FS: migrations, Dir: "migrations", Schema: "collector"},
		Logger:      opts.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	w, r := db.W, db.R
	s := &Store{
		opts: opts, w: w, r: r,
		stored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "estate_collector_store_stored_total", Help: "Log records and spans stored by the embedded store."}, []string{"signal"}),
		dupes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "estate_collector_store_duplicates_total", Help: "Log records and spans delivered again (after a restart) and ignored."}, []string{"signal"}),
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "estate_collector_store_retention_deleted_total", Help: "Rows deleted by retention."}, []string{"signal"}),
		badRecord: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "estate_collector_store_undecodable_records_total", Help: "Queue records the embedded store could not decode and skipped."}),
		done: make(chan struct{}),
	}
	opts.Registerer.MustRegister(s.stored, s.dupes, s.deleted, s.badRecord,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "estate_collector_store_bytes", Help: "Bytes in use by the embedded store's database."},
			func() float64 { n, _ := s.usedBytes(context.Background()); return float64(n) }))
	return s, nil
}

// Name implements collector.Sink.
func (s *Store) Name() string { return s.opts.SinkName }

// Start runs retention in the background until Shutdown.
func (s *Store) Start(context.Context) error {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.opts.RetentionInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := s.ApplyRetention(ctx); err != nil && ctx.Err() == nil {
					s.opts.Logger.Error("applying store retention", "err", err)
				}
			}
		}
	}()
	return nil
}

// Shutdown stops retention and closes the database.
func (s *Store) Shutdown(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		if s.cancel != nil {
			s.cancel()
			select {
			case <-s.done:
			case <-ctx.Done():
			}
		}
		err = errors.Join(s.r.Close(), s.w.Close())
	})
	return err
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.r.PingContext(ctx) }

// Deliver implements collector.Sink: it stores the batch's logs and spans in
// one transaction. Metrics are not kept here. Undecodable records are
// logged, counted and skipped.
func (s *Store) Deliver(ctx context.Context, items []collector.Item) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning store transaction: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	d := &delivery{s: s, tx: tx}
	for _, it := range items {
		if !slices.Contains(s.opts.Signals, it.Signal) {
			continue
		}
		var err error
		switch it.Signal {
		case collector.SignalLogs:
			var ld plog.Logs
			if ld, err = it.Logs(); err == nil {
				err = d.logs(ctx, it, ld)
			}
		case collector.SignalTraces:
			var td ptrace.Traces
			if td, err = it.Traces(); err == nil {
				err = d.traces(ctx, td)
			}
		}
		if errors.Is(err, collector.ErrBadRecord) {
			s.badRecord.Inc()
			s.opts.Logger.Error("skipping undecodable queue record", "seq", it.Seq, "err", err)
			continue
		}
		if err != nil {
			return err
		}
	}
	if err := d.flushLogs(ctx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing store transaction: %w", err)
	}
	s.stored.WithLabelValues("logs").Add(float64(d.logsStored))
	s.stored.WithLabelValues("traces").Add(float64(d.spansStored))
	s.dupes.WithLabelValues("logs").Add(float64(d.logsDup))
	s.dupes.WithLabelValues("traces").Add(float64(d.spansDup))
	return nil
}

type delivery struct {
	s                                          *Store
	tx                                         *sql.Tx
	logStmt, spanStmt                          *sql.Stmt
	logArgs                                    []any
	logsStored, logsDup, spansStored, spansDup int
}

// logRowsPerInsert is how many rows one INSERT carries: far fewer calls
// into SQLite than one row each, well under its bound on parameters.
const logRowsPerInsert = 64

const logColumns = 10

func logInsertSQL(rows int) string {
	var b strings.Builder
	b.WriteString(`INSERT OR IGNORE INTO logs (id, ts, service, level, severity, body, trace_id, span_id, attributes, resource) VALUES `)
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?,?)")
	}
	return b.String()
}

// flushLogs inserts the pending log rows.
func (d *delivery) flushLogs(ctx context.Context) error {
	rows := len(d.logArgs) / logColumns
	if rows == 0 {
		return nil
	}
	var st *sql.Stmt
	if rows == logRowsPerInsert {
		if d.logStmt == nil {
			var err error
			if d.logStmt, err = d.tx.PrepareContext(ctx, logInsertSQL(logRowsPerInsert)); err != nil {
				return fmt.Errorf("preparing log insert: %w", err)
			}
		}
		st = d.logStmt
	}
	var res sql.Result
	var err error
	if st != nil {
		res, err = st.ExecContext(ctx, d.logArgs...)
	} else {
		res, err = d.tx.ExecContext(ctx, logInsertSQL(rows), d.logArgs...)
	}
	if err != nil {
		return fmt.Errorf("storing log records: %w", err)
	}
	n, _ := res.RowsAffected()
	d.logsStored += int(n)
	d.logsDup += rows - int(n)
	d.logArgs = d.logArgs[:0]
	return nil
}

func (d *delivery) logs(ctx context.Context, it collector.Item, ld plog.Logs) error {
	n := 0
	rls := ld.ResourceLogs()
	for i := range rls.Len() {
		rl := rls.At(i)
		service := collector.ServiceName(rl.Resource())
		resource := toJSON(rl.Resource().Attributes())
		sls := rl.ScopeLogs()
		for j := range sls.Len() {
			lrs := sls.At(j).LogRecords()
			for k := range lrs.Len() {
				lr := lrs.At(k)
				ts := lr.Timestamp()
				if ts == 0 {
					ts = lr.ObservedTimestamp()
				}
				if ts == 0 {
					ts = pcommon.NewTimestampFromTime(it.Time)
				}
				sev := int(lr.SeverityNumber())
				id := fmt.Sprintf("%016x%016x%06x", it.Seq, it.Time.UnixNano(), n)
				n++
				d.logArgs = append(d.logArgs, id, int64(ts), service, levelOf(sev, lr.SeverityText()), sev,
					lr.Body().AsString(), collector.TraceIDString(lr.TraceID()), collector.SpanIDString(lr.SpanID()), toJSON(lr.Attributes()), resource)
				if len(d.logArgs) == logRowsPerInsert*logColumns {
					if err := d.flushLogs(ctx); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// traces stores the batch's spans.
func (d *delivery) traces(ctx context.Context, td ptrace.Traces) error {
	if d.spanStmt == nil {
		st, err := d.tx.PrepareContext(ctx, `INSERT OR IGNORE INTO spans
			(trace_id, span_id, parent_span_id, service, name, kind, start, end, status_code, status_message, attributes, resource, events)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("preparing span insert: %w", err)
		}
		d.spanStmt = st
	}
	for _, rs := range td.ResourceSpans().All() {
		service := collector.ServiceName(rs.Resource())
		resource := toJSON(rs.Resource().Attributes())
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				res, err := d.spanStmt.ExecContext(ctx, collector.TraceIDString(sp.TraceID()), collector.SpanIDString(sp.SpanID()), collector.SpanIDString(sp.ParentSpanID()),
					service, sp.Name(), kindName(sp.Kind()), int64(sp.StartTimestamp()), int64(sp.EndTimestamp()),
					statusName(sp.Status().Code()), sp.Status().Message(), toJSON(sp.Attributes()), resource, eventsJSON(sp.Events()))
				if err != nil {
					return fmt.Errorf("storing span: %w", err)
				}
				if c, _ := res.RowsAffected(); c != 1 {
					d.spansDup++
					continue
				}
				d.spansStored++
			}
		}
	}
	return nil
}

type redAgg struct {
	requests, errors int64
	sum, max         int64
}

type redMinuteKey struct {
	minute int64
	key    collector.REDKey
}

// AddRED implements collector.REDStore: the span ids and the per-minute
// sums go in one transaction, so a replayed batch adds nothing.
func (s *Store) AddRED(ctx context.Context, obs []collector.REDObservation) ([]bool, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("beginning RED transaction: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	ids, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO red_spans (trace_id, span_id, end) VALUES (?, ?, ?)`)
	if err != nil {
		return nil, fmt.Errorf("preparing RED span insert: %w", err)
	}
	added := make([]bool, len(obs))
	sums := map[redMinuteKey]*redAgg{}
	var order []redMinuteKey
	for i, o := range obs {
		res, err := ids.ExecContext(ctx, o.TraceID, o.SpanID, o.End.UnixNano())
		if err != nil {
			return nil, fmt.Errorf("storing RED span id: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			continue
		}
		added[i] = true
		k := redMinuteKey{minute: o.Minute.Unix(), key: o.Key}
		a := sums[k]
		if a == nil {
			a = &redAgg{}
			sums[k] = a
			order = append(order, k)
		}
		a.requests++
		if o.Error {
			a.errors++
		}
		a.sum += int64(o.Duration)
		a.max = max(a.max, int64(o.Duration))
	}
	for _, k := range order {
		a := sums[k]
		_, err := tx.ExecContext(ctx, `INSERT INTO red_minutes
			(minute, service, route, status_class, version, requests, errors, duration_sum_ns, duration_max_ns)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (minute, service, route, status_class, version) DO UPDATE SET
				requests = requests + excluded.requests,
				errors = errors + excluded.errors,
				duration_sum_ns = duration_sum_ns + excluded.duration_sum_ns,
				duration_max_ns = max(duration_max_ns, excluded.duration_max_ns)`,
			k.minute, k.key.Service, k.key.Route, k.key.StatusClass, k.key.Version, a.requests, a.errors, a.sum, a.max)
		if err != nil {
			return nil, fmt.Errorf("storing RED rollup: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("committing RED transaction: %w", err)
	}
	return added, nil
}

// REDMinutes implements collector.REDStore.
func (s *Store) REDMinutes(ctx context.Context, from, to time.Time) ([]collector.REDMinute, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT minute, service, route, status_class, version, requests, errors, duration_sum_ns, duration_max_ns
		FROM red_minutes WHERE minute >= ? AND minute < ? ORDER BY minute, service, route, status_class, version`, from.Unix(), to.Unix())
	if err != nil {
		return nil, fmt.Errorf("querying RED rollups: %w", err)
	}
	defer rows.Close()
	var out []collector.REDMinute
	for rows.Next() {
		var m collector.REDMinute
		var minute, sum, mx int64
		if err := rows.Scan(&minute, &m.Key.Service, &m.Key.Route, &m.Key.StatusClass, &m.Key.Version, &m.Requests, &m.Errors, &sum, &mx); err != nil {
			return nil, fmt.Errorf("reading RED rollups: %w", err)
		}
		m.Minute, m.DurationSum, m.DurationMax = time.Unix(minute, 0).UTC(), time.Duration(sum), time.Duration(mx)
		out = append(out, m)
	}
	return out, rows.Err()
}

func (s *Store) usedBytes(ctx context.Context) (int64, error) {
	var pages, free, size int64
	if err := s.r.QueryRowContext(ctx, `SELECT (SELECT page_count FROM pragma_page_count()), (SELECT freelist_count FROM pragma_freelist_count()), (SELECT page_size FROM pragma_page_size())`).Scan(&pages, &free, &size); err != nil {
		return 0, fmt.Errorf("measuring store: %w", err)
	}
	return (pages - free) * size, nil
}

// ApplyRetention deletes what is older than MaxAge, then the oldest rows
// while the database uses more than MaxBytes.
func (s *Store) ApplyRetention(ctx context.Context) error {
	if s.opts.MaxAge > 0 {
		cutoff := s.opts.Now().Add(-s.opts.MaxAge)
		for _, q := range []struct{ signal, sql string }{
			{"logs", `DELETE FROM logs WHERE ts < ?`},
			{"traces", `DELETE FROM spans WHERE start < ?`},
		} {
			res, err := s.w.ExecContext(ctx, q.sql, cutoff.UnixNano())
			if err != nil {
				return fmt.Errorf("deleting old %s: %w", q.signal, err)
			}
			n, _ := res.RowsAffected()
			s.deleted.WithLabelValues(q.signal).Add(float64(n))
		}
		if _, err := s.w.ExecContext(ctx, `DELETE FROM red_minutes WHERE minute < ?`, cutoff.Unix()); err != nil {
			return fmt.Errorf("deleting old RED rollups: %w", err)
		}
		if _, err := s.w.ExecContext(ctx, `DELETE FROM red_spans WHERE end < ?`, cutoff.UnixNano()); err != nil {
			return fmt.Errorf("deleting old RED span ids: %w", err)
		}
	}
	if s.opts.MaxBytes <= 0 {
		return nil
	}
	for range 50 {
		used, err := s.usedBytes(ctx)
		if err != nil {
			return err
		}
		if used <= s.opts.MaxBytes {
			return nil
		}
		var deleted int64
		for _, q := range []struct{ signal, sql string }{
			{"logs", `DELETE FROM logs WHERE rowid IN (SELECT rowid FROM logs ORDER BY ts LIMIT max(100, (SELECT count(*) FROM logs) / 20))`},
			{"traces", `DELETE FROM spans WHERE rowid IN (SELECT rowid FROM spans ORDER BY start LIMIT max(100, (SELECT count(*) FROM spans) / 20))`},
		} {
			res, err := s.w.ExecContext(ctx, q.sql)
			if err != nil {
				return fmt.Errorf("deleting oldest %s: %w", q.signal, err)
			}
			n, _ := res.RowsAffected()
			deleted += n
			s.deleted.WithLabelValues(q.signal).Add(float64(n))
		}
		if deleted == 0 {
			return nil
		}
	}
	return nil
}

func toJSON(m pcommon.Map) string {
	if m.Len() == 0 {
		return "{}"
	}
	b, err := json.Marshal(m.AsRaw())
	if err != nil {
		return "{}"
	}
	return string(b)
}

func eventsJSON(evs ptrace.SpanEventSlice) string {
	if evs.Len() == 0 {
		return "[]"
	}
	out := make([]collector.SpanEvent, 0, evs.Len())
	for i := range evs.Len() {
		e := evs.At(i)
		out = append(out, collector.SpanEvent{Time: e.Timestamp().AsTime().UTC(), Name: e.Name(), Attributes: e.Attributes().AsRaw()})
	}
	b, _ := json.Marshal(out)
	return string(b)
}

func kindName(k ptrace.SpanKind) string {
	return strings.ToLower(strings.TrimPrefix(k.String(), "SPAN_KIND_"))
}

func statusName(c ptrace.StatusCode) string {
	switch c {
	case ptrace.StatusCodeOk:
		return "ok"
	case ptrace.StatusCodeError:
		return "error"
	}
	return "unset"
}

// Levels, stored as numbers so "level=warn" means warn and above.
var levels = []string{"unspecified", "trace", "debug", "info", "warn", "error", "fatal"}

// LevelNumber returns the stored number of a level name, and whether the
// name is known.
func LevelNumber(name string) (int, bool) {
	for i, l := range levels {
		if l == strings.ToLower(name) {
			return i, true
		}
	}
	if strings.EqualFold(name, "warning") {
		return 4, true
	}
	return 0, false
}

func levelOf(sev int, text string) int {
	if sev > 0 && sev <= 24 {
		return (sev-1)/4 + 1
	}
	if n, ok := LevelNumber(text); ok {
		return n
	}
	return 0
}

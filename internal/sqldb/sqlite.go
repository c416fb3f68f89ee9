package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// Synchronous is SQLite's synchronous setting in WAL mode: when a commit
// reaches the disk.
type Synchronous string

const (
	// SyncFull syncs the log at every commit: an acknowledged commit
	// survives a power loss.
	SyncFull Synchronous = "FULL"
	// SyncNormal syncs the log only at checkpoints: a power loss may roll
	// back the last commits (the database stays consistent), a crash of the
	// process loses nothing, and a commit costs no fsync.
	SyncNormal Synchronous = "NORMAL"
)

// SQLiteOptions are how a store opens its SQLite database.
type SQLiteOptions struct {
	// Synchronous is required: each store says what an acknowledged
	// write must survive.
	Synchronous Synchronous
	// Readers is the number of connections of the read pool; 4 when not
	// positive. The writer pool has one.
	Readers int
	// BusyTimeout is how long a connection waits for another process's
	// lock before failing; 10s when zero.
	BusyTimeout time.Duration
	// ForeignKeys enforces the schema's REFERENCES clauses, which SQLite
	// leaves unchecked by default.
	ForeignKeys bool
	// CacheKiB bounds the page cache of each reader connection, in KiB;
	// DefaultReaderCacheKiB when zero. The writer's is WriterCacheKiB.
	// SQLite's own default, 2 MiB a connection, makes a process with many
	// stores and pools hold tens of MiB of pages that the operating
	// system's file cache holds anyway, and grow for minutes as they fill.
	CacheKiB int
	// WriterCacheKiB bounds the writer connection's page cache, in KiB;
	// DefaultWriterCacheKiB when zero: the pages of the indexes every
	// insert walks stay in it.
	WriterCacheKiB int
	// MmapSize is how many bytes of the file are read through a memory
	// map, sparing a copy per page read; zero leaves it off.
	MmapSize int64
	// CheckpointInterval, when positive, takes WAL checkpoints off the
	// commit path. By default SQLite checkpoints in the commit that passes
	// 1000 pages of log, and that commit, and every writer queued behind
	// it, waits for the copy and its fsync (tens of milliseconds at the
	// tail on a busy disk). With an interval, a goroutine checkpoints every
	// interval from a reader connection (PASSIVE: writers go on
	// meanwhile), and once the log is restartPages long, checkpoints the
	// few pages written since from the writer's connection between two
	// transactions, so that the next transaction writes the log from its
	// start again; a commit checkpoints only past backstopCheckpointPages,
	// when that goroutine has fallen behind. It runs until Close.
	CheckpointInterval time.Duration
	// Migrations are applied (on the writer) before the pools are
	// returned; the zero Migrations applies none.
	Migrations Migrations
	// Logger receives the migration log; nil discards it.
	Logger *slog.Logger
}

// The page caches of a connection, when the options leave them zero.
const (
	DefaultReaderCacheKiB = 256
	DefaultWriterCacheKiB = 1024
)

// OpenSQLite opens (creating it if missing) the database file at path and
// applies o.Migrations. Path must name a file: an in-memory database
// (":memory:") would be a different, empty database on each connection,
// and a URI query or fragment would override the settings chosen here.
func OpenSQLite(ctx context.Context, path string, o SQLiteOptions) (*DB, error) {
	if path == "" || path == ":memory:" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("opening sqlite database: path %q must name a file", path)
	}
	dsn, err := o.dsn(path)
	if err != nil {
		return nil, fmt.Errorf("opening sqlite database %s: %w", path, err)
	}
	readers := o.Readers
	if readers <= 0 {
		readers = 4
	}
	rcache, wcache := o.CacheKiB, o.WriterCacheKiB
	if rcache == 0 {
		rcache = DefaultReaderCacheKiB
	}
	if wcache == 0 {
		wcache = DefaultWriterCacheKiB
	}
	w, err := openSQLitePool(withCache(dsn, wcache), 1)
	if err != nil {
		return nil, fmt.Errorf("opening sqlite database %s: %w", path, err)
	}
	db := &DB{W: w, Dialect: SQLite, turn: make(chan struct{}, 1)}
	if err := Migrate(ctx, w, SQLite, o.Migrations, o.Logger); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("opening sqlite database %s: %w", path, err)
	}
	if db.R, err = openSQLitePool(withCache(dsn, rcache), readers); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("opening sqlite database %s: %w", path, err)
	}
	if o.CheckpointInterval > 0 {
		db.stop = checkpoints(db, o.CheckpointInterval)
	}
	return db, nil
}

// backstopCheckpointPages is the log size (in pages, 4 KiB each) at which
// a commit checkpoints when a goroutine is meant to: only when that
// goroutine falls behind.
const backstopCheckpointPages = 10_000

// restartPages is the log size (in pages) from which the checkpoint
// goroutine lets the next transaction restart the log.
const restartPages = 4096

// restartTailPages is how few pages of the log may be left for the
// writer to copy when it restarts the log.
const restartTailPages = 64

// checkpointPassive checkpoints on q without waiting for the writer and
// returns the log's length and how many of its pages are not yet copied.
func checkpointPassive(ctx context.Context, q Querier) (logPages, left int, err error) {
	var busy, done int
	if err := q.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logPages, &done); err != nil {
		return 0, 0, err
	}
	return logPages, logPages - done, nil
}

// checkpoints checkpoints db every interval until the returned function is
// called, which waits for the goroutine to end.
func checkpoints(db *DB, interval time.Duration) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// A failure (the database busy, the disk full) is the next
			// tick's to retry, and the commits' backstop's to cover.
			logPages, left, err := checkpointPassive(ctx, db.R)
			if err != nil || logPages < restartPages {
				continue
			}
			// The log restarts only when a transaction begins with every
			// page of it copied, which a checkpoint beside the writer never
			// reaches: new pages come in while it copies. So the writer
			// copies the rest between two transactions, and every writer
			// waits meanwhile: first, checkpoints beside it copy what came
			// in during the last, until little is left.
			for i := 0; i < 3 && left > restartTailPages; i++ {
				if _, left, err = checkpointPassive(ctx, db.R); err != nil {
					break
				}
			}
			_ = db.OnWriter(ctx, func(q Querier) error {
				_, err := q.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
				return err
			})
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// dsn is the modernc.org/sqlite data source name of path with o's pragmas,
// which the driver runs on every new connection.
func (o SQLiteOptions) dsn(path string) (string, error) {
	switch o.Synchronous {
	case SyncFull, SyncNormal:
	case "":
		return "", errors.New("synchronous must be chosen (FULL or NORMAL)")
	default:
		return "", fmt.Errorf("synchronous must be FULL or NORMAL, not %q", o.Synchronous)
	}
	if o.BusyTimeout < 0 || o.MmapSize < 0 || o.CacheKiB < 0 || o.WriterCacheKiB < 0 {
		return "", errors.New("busy timeout, mmap size and cache sizes must not be negative")
	}
	busy := o.BusyTimeout
	if busy == 0 {
		busy = 10 * time.Second
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busy.Milliseconds(), 10)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+string(o.Synchronous)+")")
	if o.ForeignKeys {
		q.Add("_pragma", "foreign_keys(ON)")
	}
	if o.MmapSize > 0 {
		q.Add("_pragma", "mmap_size("+strconv.FormatInt(o.MmapSize, 10)+")")
	}
	if o.CheckpointInterval > 0 {
		q.Add("_pragma", "wal_autocheckpoint("+strconv.Itoa(backstopCheckpointPages)+")")
	}
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode(), nil
}

// withCache adds to dsn the pragma that bounds each connection's page
// cache to kib KiB (a negative cache_size is a size in KiB).
func withCache(dsn string, kib int) string {
	return dsn + "&" + url.Values{"_pragma": {"cache_size(-" + strconv.Itoa(kib) + ")"}}.Encode()
}

func openSQLitePool(dsn string, conns int) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

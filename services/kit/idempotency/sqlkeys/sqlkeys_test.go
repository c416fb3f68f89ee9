package sqlkeys_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/internal/pgtest"
	"github.com/estatehq/estate/internal/sqldb"
	"github.com/estatehq/estate/internal/testenv"
	"github.com/estatehq/estate/services/kit/idempotency"
	"github.com/estatehq/estate/services/kit/idempotency/idempotencytest"
	"github.com/estatehq/estate/services/kit/idempotency/sqlkeys"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// backends open a database with the keys table (as the services'
// migrations create it) and a table of effects, the change the tests'
// handler makes.
var backends = []struct {
	name string
	open func(t *testing.T) *sqldb.DB
}{
	{"sqlite", func(t *testing.T) *sqldb.DB {
		db, err := sqldb.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "keys.db"), sqldb.SQLiteOptions{Synchronous: sqldb.SyncNormal})
		require.NoError(t, err)
		return schema(t, db, "INTEGER", "BLOB")
	}},
	{"postgres", func(t *testing.T) *sqldb.DB {
		db, err := sqldb.OpenPostgres(context.Background(), pgtest.NewDatabase(t), sqldb.PostgresOptions{MaxConns: 30})
		require.NoError(t, err)
		return schema(t, db, "TIMESTAMPTZ", "BYTEA")
	}},
}

func schema(t *testing.T, db *sqldb.DB, timeType, blobType string) *sqldb.DB {
	t.Cleanup(func() { _ = db.Close() })
	_, err := db.W.Exec(`CREATE TABLE idempotency_keys (scope TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL,
		status INTEGER NOT NULL, header TEXT NOT NULL, body ` + blobType + `, created_at ` + timeType + ` NOT NULL, PRIMARY KEY (scope, key))`)
	require.NoError(t, err)
	_, err = db.W.Exec(`CREATE TABLE effects (id TEXT PRIMARY KEY, n INTEGER NOT NULL)`)
	require.NoError(t, err)
	return db
}

func count(t *testing.T, db *sqldb.DB, table string) int {
	t.Helper()
	var n int
	require.NoError(t, db.R.QueryRow(`SELECT COUNT(*) FROM `+table).Scan(&n))
	return n
}

// effect inserts one effect with ctx: in the request's transaction when
// ctx carries one.
func effect(ctx context.Context, db *sqldb.DB, id string, n int) error {
	return db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.Dialect.Rebind(`INSERT INTO effects (id, n) VALUES (?, ?)`), id, n)
		return err
	})
}

func TestStoreSuite(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			db := b.open(t)
			var seq atomic.Int64
			idempotencytest.Run(t, sqlkeys.New(db), func(t *testing.T, ctx context.Context) func() bool {
				id := fmt.Sprint("e", seq.Add(1))
				require.NoError(t, effect(ctx, db, id, 1))
				return func() bool {
					var n int
					require.NoError(t, db.R.QueryRow(db.Dialect.Rebind(`SELECT COUNT(*) FROM effects WHERE id = ?`), id).Scan(&n))
					return n == 1
				}
			})
		})
	}
}

// api is the middleware on a real store, in front of a handler that makes
// one effect per request and answers as the request's X-Answer header asks
// (headers are not part of a request's identity, so a retry may change
// them).
type api struct {
	db       *sqldb.DB
	url      string
	seq      atomic.Int64
	commits  atomic.Int64
	hold     chan struct{} // when X-Answer is "hold", the handler waits on it after its write
	holding  chan struct{}
	recovers atomic.Int64
}

func newAPI(t *testing.T, db *sqldb.DB, wait time.Duration) *api {
	a := &api{db: db, hold: make(chan struct{}), holding: make(chan struct{}, 10)}
	mw := idempotency.Middleware(idempotency.Options{
		Store: sqlkeys.New(db), Wait: wait,
		Scope: func(r *http.Request) (string, bool) { s := r.Header.Get("X-Tenant"); return s, s != "" },
	})
	h := mw(http.HandlerFunc(a.handle))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				a.recovers.Add(1)
				w.WriteHeader(http.StatusInternalServerError)
			}
		}()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	a.url = srv.URL
	return a
}

func (a *api) handle(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var in struct{ N int }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.N < 0 {
		http.Error(w, "bad body", http.StatusUnprocessableEntity)
		return
	}
	id := fmt.Sprint("e", a.seq.Add(1))
	answer := r.Header.Get("X-Answer")
	err := a.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, a.db.Dialect.Rebind(`INSERT INTO effects (id, n) VALUES (?, ?)`), id, in.N); err != nil {
			return err
		}
		if answer == "refuse" {
			return errors.New("refused after writing")
		}
		return nil
	})
	switch {
	case err != nil && answer == "refuse":
		http.Error(w, "refused", http.StatusConflict)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	idempotency.OnCommit(ctx, func() { a.commits.Add(1) })
	switch answer {
	case "fail":
		http.Error(w, "failed", http.StatusInternalServerError)
		return
	case "throttle":
		http.Error(w, "throttled", http.StatusTooManyRequests)
		return
	case "panic":
		panic("handler panics after its write")
	case "hold":
		a.holding <- struct{}{}
		<-a.hold
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Location", "/effects/"+id)
	w.Header().Set("X-Not-Kept", "x")
	w.WriteHeader(http.StatusCreated)
	_, _ = fmt.Fprintf(w, `{"id":%q}`, id)
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (a *api) post(t *testing.T, key, body string, header ...string) answer {
	t.Helper()
	res, err := a.send(key, body, header...)
	require.NoError(t, err)
	return res
}

// send is post for another goroutine than the test's: it fails nothing.
func (a *api) send(key, body string, header ...string) (answer, error) {
	r, err := http.NewRequest("POST", a.url+"/effects", strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	r.Header.Set("X-Tenant", "t1")
	if key != "" {
		r.Header.Set(idempotency.Header, key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return answer{res.StatusCode, res.Header, string(b)}, err
}

// sendAsync sends in a goroutine; the answer comes on the channel.
func (a *api) sendAsync(t *testing.T, key, body string, header ...string) <-chan answer {
	done := make(chan answer, 1)
	go func() {
		res, err := a.send(key, body, header...)
		if err != nil {
			t.Errorf("POST: %v", err)
		}
		done <- res
	}()
	return done
}

func TestMiddleware(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Run("replay after success", func(t *testing.T) {
				a := newAPI(t, b.open(t), 0)
				first := a.post(t, "k", `{"n":1}`)
				require.Equal(t, 201, first.status, first.body)
				require.Empty(t, first.header.Get(idempotency.ReplayedHeader))
				again := a.post(t, "k", `{"n":1}`)
				require.Equal(t, 201, again.status)
				require.Equal(t, first.body, again.body)
				require.Equal(t, first.header.Get("Location"), again.header.Get("Location"))
				require.Equal(t, "application/json", again.header.Get("Content-Type"))
				require.Equal(t, "true", again.header.Get(idempotency.ReplayedHeader))
				require.Empty(t, again.header.Get("X-Not-Kept"), "only the kept headers are replayed")
				require.Equal(t, 1, count(t, a.db, "effects"))
				require.Equal(t, int64(1), a.commits.Load(), "OnCommit runs for the request that committed only")
			})
			t.Run("mismatch", func(t *testing.T) {
				a := newAPI(t, b.open(t), 0)
				require.Equal(t, 201, a.post(t, "k", `{"n":1}`).status)
				other := a.post(t, "k", `{"n":2}`)
				require.Equal(t, 409, other.status)
				require.Equal(t, "application/problem+json", other.header.Get("Content-Type"))
				require.Contains(t, other.body, "already used with another request")
				require.Equal(t, 1, count(t, a.db, "effects"))
			})
			t.Run("without a key every request is a change", func(t *testing.T) {
				a := newAPI(t, b.open(t), 0)
				require.Equal(t, 201, a.post(t, "", `{"n":1}`).status)
				require.Equal(t, 201, a.post(t, "", `{"n":1}`).status)
				require.Equal(t, 2, count(t, a.db, "effects"))
				require.Equal(t, 0, count(t, a.db, "idempotency_keys"))
			})
			t.Run("a failure leaves neither change nor key", func(t *testing.T) {
				for _, fail := range []string{"fail", "throttle", "panic"} {
					a := newAPI(t, b.open(t), 0)
					res := a.post(t, "k", `{"n":1}`, "X-Answer", fail)
					require.Contains(t, []int{500, 429}, res.status, fail)
					require.Equal(t, 0, count(t, a.db, "effects"), fail)
					require.Equal(t, 0, count(t, a.db, "idempotency_keys"), fail)
					require.Zero(t, a.commits.Load(), fail)
					retry := a.post(t, "k", `{"n":1}`)
					require.Equal(t, 201, retry.status, fail)
					require.Empty(t, retry.header.Get(idempotency.ReplayedHeader), "the retry runs for the first time")
					require.Equal(t, 1, count(t, a.db, "effects"), fail)
				}
			})
			t.Run("a refused change keeps its answer and nothing of its writes", func(t *testing.T) {
				a := newAPI(t, b.open(t), 0)
				res := a.post(t, "k", `{"n":1}`, "X-Answer", "refuse")
				require.Equal(t, 409, res.status)
				require.Equal(t, 0, count(t, a.db, "effects"))
				again := a.post(t, "k", `{"n":1}`)
				require.Equal(t, 409, again.status, "the answer is replayed")
				require.Equal(t, "true", again.header.Get(idempotency.ReplayedHeader))
				require.Equal(t, 0, count(t, a.db, "effects"))
			})
			t.Run("an answer without a change is kept", func(t *testing.T) {
				a := newAPI(t, b.open(t), 0)
				require.Equal(t, 422, a.post(t, "k", `{"n":-1}`).status)
				again := a.post(t, "k", `{"n":-1}`)
				require.Equal(t, 422, again.status)
				require.Equal(t, "true", again.header.Get(idempotency.ReplayedHeader))
			})
			t.Run("concurrent duplicates make one change", func(t *testing.T) {
				a := newAPI(t, b.open(t), 0)
				var wg sync.WaitGroup
				bodies := make([]string, 20)
				for i := range bodies {
					wg.Go(func() {
						res, err := a.send("race", `{"n":1}`)
						if err != nil || res.status != 201 {
							t.Errorf("status %d (%v): %s", res.status, err, res.body)
						}
						bodies[i] = res.body
					})
				}
				wg.Wait()
				for _, body := range bodies {
					require.Equal(t, bodies[0], body, "every duplicate gets the one response")
				}
				require.Equal(t, 1, count(t, a.db, "effects"))
				require.Equal(t, int64(1), a.commits.Load())
			})
			t.Run("a duplicate of a request in flight gets its answer", func(t *testing.T) {
				a := newAPI(t, b.open(t), 0)
				firstc := a.sendAsync(t, "k", `{"n":1}`, "X-Answer", "hold")
				<-a.holding
				// The first has written its effect, uncommitted. On SQLite the
				// duplicate waits for the writer the first holds; on
				// PostgreSQL it makes its own change, and whichever writes the
				// key second rolls back and replays the other's answer.
				secondc := a.sendAsync(t, "k", `{"n":1}`)
				close(a.hold)
				first, second := <-firstc, <-secondc
				require.Equal(t, 201, first.status, first.body)
				require.Equal(t, 201, second.status, second.body)
				require.Equal(t, first.body, second.body)
				replayed := first.header.Get(idempotency.ReplayedHeader) + second.header.Get(idempotency.ReplayedHeader)
				require.Equal(t, "true", replayed, "exactly one is a replay")
				require.Equal(t, 1, count(t, a.db, "effects"))
			})
		})
	}
}

// held is another transaction holding a key uncommitted, with the
// response it will commit.
func held(t *testing.T, db *sqldb.DB) *sql.Tx {
	t.Helper()
	// On SQLite a transaction of the read pool takes the write lock too
	// (BEGIN IMMEDIATE).
	tx, err := db.R.Begin()
	require.NoError(t, err)
	_, err = tx.Exec(db.Dialect.Rebind(`INSERT INTO idempotency_keys (scope, key, request_hash, status, header, body, created_at) VALUES (?, ?, ?, 201, '{}', ?, ?)`),
		"t1", "k", requestHash(`{"n":1}`), []byte(`{"id":"theirs"}`), db.Dialect.Time(time.Now()))
	require.NoError(t, err)
	return tx
}

// requestHash is the middleware's identity of a POST /effects.
func requestHash(body string) string {
	h := sha256.Sum256([]byte("POST /effects\n" + body))
	return hex.EncodeToString(h[:])
}

// waitForLockWait returns once a PostgreSQL backend waits on a lock: the
// request blocked on the key another transaction holds. SQLite shows no
// such thing (its writer waits in its busy handler), and the tests below
// hold either way; on SQLite they then may not exercise the wait.
func waitForLockWait(t *testing.T, db *sqldb.DB) {
	t.Helper()
	if db.Dialect != sqldb.Postgres {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, testenv.WaitFor(ctx, 5*time.Millisecond, func() error {
		var n int
		if err := db.R.QueryRow(`SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return errors.New("no backend waits on a lock")
		}
		return nil
	}))
}

// TestConcurrentDuplicateWaits: a request whose key another transaction
// holds uncommitted waits for it to end, then replays its answer (rolling
// back its own change) or, when it rolled back, commits its own.
func TestConcurrentDuplicateWaits(t *testing.T) {
	for _, b := range backends {
		for _, commit := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/other commits %v", b.name, commit), func(t *testing.T) {
				db := b.open(t)
				a := newAPI(t, db, 0)
				tx := held(t, db)
				done := a.sendAsync(t, "k", `{"n":1}`)
				waitForLockWait(t, db)
				select {
				case res := <-done:
					t.Fatalf("answered %d before the other transaction ended: %s", res.status, res.body)
				default:
				}
				if !commit {
					require.NoError(t, tx.Rollback())
					res := <-done
					require.Equal(t, 201, res.status)
					require.NotContains(t, res.body, "theirs")
					require.Empty(t, res.header.Get(idempotency.ReplayedHeader))
					require.Equal(t, 1, count(t, db, "effects"))
					return
				}
				require.NoError(t, tx.Commit())
				res := <-done
				require.Equal(t, 201, res.status)
				require.JSONEq(t, `{"id":"theirs"}`, res.body)
				require.Equal(t, "true", res.header.Get(idempotency.ReplayedHeader))
				require.Equal(t, 0, count(t, db, "effects"), "the duplicate's change is rolled back")
			})
		}
	}
}

// TestInProgressAfterTheWait: on PostgreSQL a duplicate waits on the key's
// row at most Options.Wait, then answers 409 with Retry-After and leaves
// nothing. (SQLite serializes writers before the key is written: there, a
// duplicate waits for the writer like any write.)
func TestInProgressAfterTheWait(t *testing.T) {
	db := backends[1].open(t)
	a := newAPI(t, db, 100*time.Millisecond)
	tx := held(t, db)
	defer tx.Rollback()
	res := a.post(t, "k", `{"n":1}`)
	require.Equal(t, 409, res.status)
	require.Equal(t, "application/problem+json", res.header.Get("Content-Type"))
	require.Contains(t, res.body, "still in progress")
	require.Equal(t, "1", res.header.Get("Retry-After"))
	require.Equal(t, 0, count(t, db, "effects"))
	require.NoError(t, tx.Rollback())
	res = a.post(t, "k", `{"n":1}`)
	require.Equal(t, 201, res.status, "the key is free once the other rolled back")
}

package service

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
)

// localTSDB is the embedded metrics store: a Prometheus TSDB under the
// collector's folder and a PromQL engine over it.
type localTSDB struct {
	db     *tsdb.DB
	engine *promql.Engine
}

func openLocalTSDB(dir string, logger *slog.Logger) (*localTSDB, error) {
	db, err := tsdb.Open(filepath.Join(dir, "tsdb"), logger, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		return nil, fmt.Errorf("opening the metrics store: %w", err)
	}
	engine := promql.NewEngine(promql.EngineOpts{Logger: logger, MaxSamples: 50_000_000, Timeout: 2 * time.Minute})
	return &localTSDB{db: db, engine: engine}, nil
}

func (l *localTSDB) AppendableV2() storage.AppendableV2         { return l.db }
func (l *localTSDB) Queryable() storage.SampleAndChunkQueryable { return l.db }
func (l *localTSDB) Engine() promql.QueryEngine                 { return l.engine }

func (l *localTSDB) Close() error {
	return l.db.Close()
}

// Package sqlevents is what the metrics event stores (sqlite, postgres)
// share: their migrations' schema, and the filtered read, written once with
// the backend's numbered parameters taken from its sqldb.Dialect.
package sqlevents

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/estatehq/estate/internal/sqldb"
	"github.com/estatehq/estate/metrics"
)

// Migrations are a store's migrations in fsys's migrations folder (each
// backend has its own), versioned in metrics_goose_db_version.
func Migrations(fsys fs.FS) sqldb.Migrations {
	return sqldb.Migrations{FS: fsys, Dir: "migrations", Schema: "metrics"}
}

// selectFiltered lists the events that the pairs matching the filter
// need (see metrics.Store.Events); %[1]s is the select list, %[2]s the
// condition on the service and environment, so that the planner can use
// the (service, environment) index.
const selectFiltered = `
WITH deps AS (
	SELECT deployment_id FROM metrics_events
	WHERE type = 'dev.estate.deployment.started' AND %[2]s
), incs AS (
	SELECT incident_id FROM metrics_events
	WHERE type = 'dev.estate.incident.opened'
	  AND (%[2]s OR cause_deployment_id IN (SELECT deployment_id FROM deps))
)
SELECT %[1]s FROM metrics_events
WHERE deployment_id IN (SELECT deployment_id FROM deps)
   OR incident_id IN (SELECT incident_id FROM incs)`

// Filtered returns the query that reads columns of the events f needs,
// and its arguments, with numbered parameters so that each is bound once
// however often it is used. f must select something (a zero Filter reads
// the whole log, which needs no query of its own).
func Filtered(d sqldb.Dialect, columns string, f metrics.Filter) (string, []any) {
	var (
		conds []string
		args  []any
	)
	if f.Service != "" {
		args = append(args, f.Service)
		conds = append(conds, "service = "+d.Param(len(args)))
	}
	if f.Environment != "" {
		args = append(args, f.Environment)
		conds = append(conds, "environment = "+d.Param(len(args)))
	}
	return fmt.Sprintf(selectFiltered, columns, "("+strings.Join(conds, " AND ")+")"), args
}

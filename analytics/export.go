package analytics

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/metrics"
)

// DefaultRowGroupRows is the rows of one Parquet row group: what an export
// holds of a table in memory at once, beside the event log.
const DefaultRowGroupRows = 65536

// ManifestDir is the folder of the runs' manifests, beside the tables.
const ManifestDir = "_manifests"

// createdBy is the files' created_by: fixed, not the library's version
// found at run time, so that a new build writes the same bytes.
const createdBy = "estate analytics export"

// Options configure an export.
type Options struct {
	// Output receives the files. Required.
	Output Output
	// Tables are the tables to write; when empty, the event tables, and
	// the series tables too when Series is set.
	Tables []string
	// Series answers the PromQL of the series tables (red, slo): the
	// collector's metrics store. Required for those tables.
	Series promquery.Querier
	// RowGroupRows is the rows of one row group; DefaultRowGroupRows when
	// zero.
	RowGroupRows int
	// TempDir holds each file while it is written, before it goes to
	// Output; the system's temporary folder when empty.
	TempDir string
	// Source says where the events came from, for the manifest.
	Source string
	// Now is the clock of the run's id and time; time.Now when nil.
	Now func() time.Time
	// Progress, when set, is called after each partition with the
	// partitions done and their total.
	Progress func(done, total int)
}

// Validate names the option at fault.
func (o Options) Validate() error {
	var errs []error
	if o.Output == nil {
		errs = append(errs, errors.New("output is required"))
	}
	for _, t := range o.Tables {
		switch {
		case !slices.Contains(Tables(), t):
			errs = append(errs, fmt.Errorf("tables: unknown table %q", t))
		case IsSeries(t) && o.Series == nil:
			errs = append(errs, fmt.Errorf("tables: %s is read from the metrics store: series is required", t))
		}
	}
	if o.RowGroupRows < 0 {
		errs = append(errs, errors.New("row_group_rows must not be negative"))
	}
	return errors.Join(errs...)
}

// Export writes the tables' partitions of the UTC days that [from, to)
// touches, computed from events (the whole log: folding needs every
// event, and the store gives no less), then the run's manifest, which it
// returns. A partition whose file already holds the same bytes is left
// alone (StatusUnchanged); a day that has no rows any more loses its file
// (StatusRemoved). The weekly table is written for every ISO week that
// holds one of the days, partitioned by the week's Monday.
//
// Memory: the events and what is folded from them, plus one row group of
// one table being written.
func Export(ctx context.Context, events []metrics.Event, from, to time.Time, o Options) (Manifest, error) {
	if err := o.Validate(); err != nil {
		return Manifest{}, err
	}
	if len(o.Tables) == 0 {
		o.Tables = EventTables()
		if o.Series != nil {
			o.Tables = Tables()
		}
	}
	if o.RowGroupRows == 0 {
		o.RowGroupRows = DefaultRowGroupRows
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	first, end := day(from), day(to)
	if end.Before(to) {
		end = end.Add(24 * time.Hour)
	}
	if !first.Before(end) {
		return Manifest{}, fmt.Errorf("from (%s) must be before to (%s)", from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	}
	runAt := o.Now().UTC()
	m := Manifest{
		RunID: runAt.Format("20060102T150405.000Z"), RunAt: runAt,
		From: first, To: end, Source: o.Source,
	}
	src := newSource(events)
	m.Events = len(src.events)

	var days []time.Time
	for d := first; d.Before(end); d = d.Add(24 * time.Hour) {
		days = append(days, d)
	}
	var weeks []time.Time
	for w := weekStart(first); w.Before(end); w = w.AddDate(0, 0, 7) {
		weeks = append(weeks, w)
	}
	// The folded rows that an event of the range changes live in the
	// partition of their start, which may lie before the range: those
	// days are written too, and the weeks that hold them.
	touched := src.touchedDays(first, end)
	daysOf := func(table string) []time.Time { return union(days, touched[table]) }
	var allTouched []time.Time
	for _, ds := range touched {
		for _, d := range ds {
			allTouched = append(allTouched, weekStart(d))
		}
	}
	weeks = union(weeks, allTouched)

	e := &exporter{o: o}
	for _, t := range o.Tables {
		switch t {
		case TableWeekly:
			e.total += len(weeks)
		case TableDeployments, TableIncidents, TableChaosRuns:
			e.total += len(daysOf(t))
		default:
			e.total += len(days)
		}
	}

	for _, t := range o.Tables {
		var (
			res TableResult
			err error
		)
		switch t {
		case TableEvents:
			res, err = exportDays(ctx, e, t, days, func(d time.Time) (int, chunkFunc[EventRow]) {
				evs := src.eventsOn(d)
				return len(evs), func(lo, hi int) ([]EventRow, error) {
					rows := make([]EventRow, 0, hi-lo)
					for _, ev := range evs[lo:hi] {
						r, err := src.eventRow(ev)
						if err != nil {
							return nil, err
						}
						rows = append(rows, r)
					}
					return rows, nil
				}
			})
		case TableDeployments:
			res, err = exportDays(ctx, e, t, daysOf(t), byDay(src.deploymentRows(), func(r DeploymentRow) time.Time { return r.StartedAt }))
		case TableIncidents:
			res, err = exportDays(ctx, e, t, daysOf(t), byDay(src.incidentRows(), func(r IncidentRow) time.Time { return r.StartedAt }))
		case TableChaosRuns:
			res, err = exportDays(ctx, e, t, daysOf(t), byDay(src.chaosRunRows(), runTime))
		case TableWeekly:
			res, err = exportDays(ctx, e, t, weeks, computed(src.weeklyRows))
		case TableRED:
			res, err = exportDays(ctx, e, t, days, computed(func(d time.Time) ([]REDRow, error) { return redRows(ctx, o.Series, d) }))
		case TableSLO:
			res, err = exportDays(ctx, e, t, days, computed(func(d time.Time) ([]SLORow, error) { return sloRows(ctx, o.Series, d) }))
		}
		if err != nil {
			return m, fmt.Errorf("exporting %s: %w", t, err)
		}
		m.Tables = append(m.Tables, res)
	}
	if err := e.putManifest(ctx, m); err != nil {
		return m, err
	}
	return m, nil
}

// chunkFunc returns the rows [lo, hi) of a partition.
type chunkFunc[T any] func(lo, hi int) ([]T, error)

// union is the sorted days of a and b, each once.
func union(a, b []time.Time) []time.Time {
	out := slices.Concat(a, b)
	slices.SortFunc(out, func(x, y time.Time) int { return x.Compare(y) })
	return slices.CompactFunc(out, func(x, y time.Time) bool { return x.Equal(y) })
}

// computed turns a partition's rows, computed whole, into its chunks; an
// error of the computation is the first chunk's.
func computed[T any](rowsOf func(time.Time) ([]T, error)) func(time.Time) (int, chunkFunc[T]) {
	return func(d time.Time) (int, chunkFunc[T]) {
		rows, err := rowsOf(d)
		if err != nil {
			// One chunk, to report the error.
			return 1, func(int, int) ([]T, error) { return nil, err }
		}
		return len(rows), func(lo, hi int) ([]T, error) { return rows[lo:hi], nil }
	}
}

// byDay partitions rows sorted by the time at(row) into days: sub-slices,
// not copies.
func byDay[T any](rows []T, at func(T) time.Time) func(time.Time) (int, chunkFunc[T]) {
	return func(d time.Time) (int, chunkFunc[T]) {
		cmpAt := func(r T, t time.Time) int { return at(r).Compare(t) }
		lo, _ := slices.BinarySearchFunc(rows, d, cmpAt)
		hi, _ := slices.BinarySearchFunc(rows, d.Add(24*time.Hour), cmpAt)
		part := rows[lo:hi]
		return len(part), func(a, b int) ([]T, error) { return part[a:b], nil }
	}
}

type exporter struct {
	o           Options
	done, total int
}

func (e *exporter) step() {
	e.done++
	if e.o.Progress != nil {
		e.o.Progress(e.done, e.total)
	}
}

// exportDays writes one table's partitions.
func exportDays[T any](ctx context.Context, e *exporter, table string, days []time.Time, rowsOf func(time.Time) (int, chunkFunc[T])) (TableResult, error) {
	res := TableResult{Name: table, Partitions: []Partition{}}
	for _, d := range days {
		n, chunk := rowsOf(d)
		p, err := writePartition(ctx, e.o, table, d, n, chunk)
		if err != nil {
			return res, err
		}
		if p.Status != "" {
			res.Partitions = append(res.Partitions, p)
			res.Rows += p.Rows
		}
		e.step()
	}
	return res, nil
}

// PartitionKey is the key of the file of table's partition of day d.
func PartitionKey(table string, d time.Time) string {
	return table + "/dt=" + d.UTC().Format(time.DateOnly) + "/part-00000.parquet"
}

// writerOptions are fixed: nothing in a file depends on the run.
func writerOptions(rowGroupRows int) []parquet.WriterOption {
	return []parquet.WriterOption{
		parquet.CreatedBy(createdBy, "1", ""),
		parquet.Compression(&parquet.Snappy),
		parquet.MaxRowsPerRowGroup(int64(rowGroupRows)),
	}
}

// writePartition writes the n rows of one partition to a temporary file,
// a row group at a time, then hands it to the output unless the output
// already holds the same bytes. With no rows, it deletes the partition's
// file if there is one; the status is "" when there was none.
func writePartition[T any](ctx context.Context, o Options, table string, d time.Time, n int, chunk chunkFunc[T]) (Partition, error) {
	p := Partition{DT: d.Format(time.DateOnly), Key: PartitionKey(table, d), Rows: int64(n)}
	if n == 0 {
		_, found, err := o.Output.Sum(ctx, p.Key)
		if err != nil || !found {
			return p, err
		}
		p.Status = StatusRemoved
		return p, o.Output.Delete(ctx, p.Key)
	}
	f, err := os.CreateTemp(o.TempDir, "estate-export-*.parquet")
	if err != nil {
		return p, err
	}
	defer func() { _ = f.Close(); _ = os.Remove(f.Name()) }()
	h := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(f, h)}
	w := parquet.NewGenericWriter[T](cw, writerOptions(o.RowGroupRows)...)
	for lo := 0; lo < n; lo += o.RowGroupRows {
		if err := ctx.Err(); err != nil {
			return p, err
		}
		rows, err := chunk(lo, min(lo+o.RowGroupRows, n))
		if err != nil {
			return p, err
		}
		if _, err := w.Write(rows); err != nil {
			return p, fmt.Errorf("writing %s: %w", p.Key, err)
		}
		if err := w.Flush(); err != nil {
			return p, fmt.Errorf("writing %s: %w", p.Key, err)
		}
	}
	if err := w.Close(); err != nil {
		return p, fmt.Errorf("writing %s: %w", p.Key, err)
	}
	p.SHA256, p.Bytes = hex.EncodeToString(h.Sum(nil)), cw.n
	old, found, err := o.Output.Sum(ctx, p.Key)
	if err != nil {
		return p, err
	}
	if found && old == p.SHA256 {
		p.Status = StatusUnchanged
		return p, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return p, err
	}
	if err := o.Output.Put(ctx, p.Key, f, p.Bytes, p.SHA256); err != nil {
		return p, fmt.Errorf("storing %s: %w", p.Key, err)
	}
	p.Status = StatusWritten
	return p, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// putManifest stores the run's manifest under ManifestDir.
func (e *exporter) putManifest(ctx context.Context, m Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	sum := sha256.Sum256(b)
	key := ManifestDir + "/" + m.RunID + ".json"
	if err := e.o.Output.Put(ctx, key, bytes.NewReader(b), int64(len(b)), hex.EncodeToString(sum[:])); err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	return nil
}

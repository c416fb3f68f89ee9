package analytics

import "time"

// Manifest records one export run. It is written to
// _manifests/<run id>.json beside the tables, never inside a partition, so
// that the partitions' files depend only on the event log.
type Manifest struct {
	// RunID names the run: its start time, UTC, as 20060102T150405.000Z.
	RunID string `json:"run_id"`
	// RunAt is when the run started.
	RunAt time.Time `json:"run_at"`
	// From and To are the days exported, [From, To), UTC midnights.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Source says where the events came from: "file:PATH", "sqlite:PATH",
	// "postgres".
	Source string `json:"source"`
	// Events is the number of events read (after deduplication).
	Events int           `json:"events"`
	Tables []TableResult `json:"tables"`
}

// TableResult is what a run did to one table.
type TableResult struct {
	Name       string      `json:"name"`
	Rows       int64       `json:"rows"`
	Partitions []Partition `json:"partitions"`
}

// The statuses of a partition in a run.
const (
	// StatusWritten: the file is new or its content changed.
	StatusWritten = "written"
	// StatusUnchanged: the file there already had these bytes.
	StatusUnchanged = "unchanged"
	// StatusRemoved: the day has no rows now, and its file was deleted.
	StatusRemoved = "removed"
)

// Partition is one day of one table.
type Partition struct {
	// DT is the partition's day, YYYY-MM-DD.
	DT string `json:"dt"`
	// Key is the file's path from the export's root.
	Key    string `json:"key"`
	Status string `json:"status"`
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	// SHA256 is the file's hex SHA-256; empty when removed.
	SHA256 string `json:"sha256,omitempty"`
}

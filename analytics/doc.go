// Package analytics exports what Estate knows (the reliability events, the
// deployments and incidents folded from them, the chaos runs with their
// verdicts, the weekly figures, and the RED and SLO series at one-minute
// resolution) as Parquet tables that a data lake's tools (Athena, Glue,
// Spark, DuckDB) read directly, Hive-partitioned by day:
// table/dt=YYYY-MM-DD/part-00000.parquet.
//
// An export is a pure function of the event log (and, for the series
// tables, of what the metrics store holds) and the days asked for: rows
// are sorted and the writer's options fixed, so exporting a day twice
// writes the same bytes, and a partition whose bytes did not change is
// not written again. Where the files go is an Output: a local folder here
// (Dir), an S3 bucket in analytics/s3. Schedule runs exports on a cron
// schedule. The stream of the same events and rows to Kafka is
// analytics/kafka.
package analytics

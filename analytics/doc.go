// Package analytics exports what Estate knows (the reliability events, the
// deployments and incidents folded from them, the chaos runs with their
// verdicts, and the weekly figures) as Parquet tables that a data lake's
// tools (Athena, Glue, Spark, DuckDB) read directly, Hive-partitioned by
// day: table/dt=YYYY-MM-DD/part-00000.parquet.
//
// An export is a pure function of the event log and the days asked for:
// rows are sorted and the writer's options fixed, so exporting a day twice
// writes the same bytes, and a partition whose bytes did not change is not
// written again. Where the files go is an Output: a local folder here
// (Dir), an S3 bucket in analytics/s3. The stream of the same rows to
// Kafka is analytics/kafka.
package analytics

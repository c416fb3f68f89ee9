//go:build !servicesonly

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/estatehq/estate/analytics"
	"github.com/estatehq/estate/analytics/analyticstest"
	"github.com/estatehq/estate/analytics/kafka"
	analyticss3 "github.com/estatehq/estate/analytics/s3"
	"github.com/estatehq/estate/internal/server/tlstest"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/sqlite"
)

const exampleEvents = "../../metrics/testdata/issue_example.jsonl"

func readExample(t *testing.T) []metrics.Event {
	t.Helper()
	f, err := os.Open(exampleEvents)
	require.NoError(t, err)
	events, err := metrics.ReadJSONL(f)
	require.NoError(t, errors.Join(err, f.Close()))
	return events
}

func TestExportFromFile(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	out, stderr, err := runCmd(t, "export", "--events", exampleEvents, "--from", "2026-11-01", "--to", "2026-11-10", "--out", a)
	require.NoError(t, err)
	require.Contains(t, out, "events: 38 rows in 9 partitions (9 written, 0 unchanged, 0 removed)")
	require.Contains(t, stderr, "exporting to "+a+": done, 39 partitions", "progress on stderr")
	require.Contains(t, out, "manifest: "+a+"/_manifests/")

	// Every event of the file is a row, as it was.
	var rows []analytics.EventRow
	files, err := filepath.Glob(filepath.Join(a, "events", "dt=*", "part-00000.parquet"))
	require.NoError(t, err)
	for _, f := range files {
		r, err := parquet.ReadFile[analytics.EventRow](f)
		require.NoError(t, err)
		rows = append(rows, r...)
	}
	events := readExample(t)
	require.Len(t, rows, 38)
	for _, e := range events {
		if e.Time.Before(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) || !e.Time.Before(time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)) {
			continue
		}
		i := -1
		for k, r := range rows {
			if r.ID == e.ID && r.Source == e.Source {
				i = k
			}
		}
		require.GreaterOrEqual(t, i, 0, e.ID)
		data, err := e.DataJSON()
		require.NoError(t, err)
		require.Equal(t, string(e.Type()), rows[i].Type)
		require.True(t, e.Time.Equal(rows[i].Time))
		require.JSONEq(t, string(data), rows[i].Data)
	}

	// Again, at another time into another folder: the same bytes.
	var stdout bytes.Buffer
	env := &environ{getenv: noEnv, stdin: strings.NewReader(""), stdout: &stdout, stderr: io.Discard,
		now: func() time.Time { return time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC) }}
	require.NoError(t, runExport(context.Background(), env, []string{"--events", exampleEvents, "--from", "2026-11-01", "--to", "2026-11-10", "--out", b}))
	require.Equal(t, analyticstest.Files(t, a), analyticstest.Files(t, b))

	// Again into the first: nothing written.
	out, _, err = runCmd(t, "export", "--events", exampleEvents, "--from", "2026-11-01", "--to", "2026-11-10", "--out", a)
	require.NoError(t, err)
	require.Contains(t, out, "events: 38 rows in 9 partitions (0 written, 9 unchanged, 0 removed)")
}

// TestExportFromStandardInput reads the events from stdin with --events -.
func TestExportFromStandardInput(t *testing.T) {
	b, err := os.ReadFile(exampleEvents)
	require.NoError(t, err)
	dir, fromFile := t.TempDir(), t.TempDir()
	var stdout bytes.Buffer
	env := &environ{getenv: noEnv, stdin: bytes.NewReader(b), stdout: &stdout, stderr: io.Discard, now: time.Now}
	require.NoError(t, runExport(context.Background(), env, []string{"--events", "-", "--from", "2026-11-01", "--to", "2026-11-10", "--out", dir}))
	require.Contains(t, stdout.String(), "events: 38 rows")
	_, _, err = runCmd(t, "export", "--events", exampleEvents, "--from", "2026-11-01", "--to", "2026-11-10", "--out", fromFile)
	require.NoError(t, err)
	require.Equal(t, analyticstest.Files(t, fromFile), analyticstest.Files(t, dir))
}

// TestExportLateEvent: an event that arrives late rewrites the partitions
// it changes, and only those.
func TestExportLateEvent(t *testing.T) {
	dir, work := t.TempDir(), t.TempDir()
	file := filepath.Join(work, "events.jsonl")
	events := readExample(t)
	var b bytes.Buffer
	require.NoError(t, metrics.WriteJSONL(&b, events))
	require.NoError(t, os.WriteFile(file, b.Bytes(), 0o600))
	args := []string{"export", "--events", file, "--from", "2026-11-02", "--to", "2026-11-09", "--out", dir}
	_, _, err := runCmd(t, args...)
	require.NoError(t, err)
	before := analyticstest.Files(t, dir)

	late := metrics.Event{ID: "late-1", Source: "https://ci.example.com", Time: time.Date(2026, 11, 4, 12, 0, 0, 0, time.UTC),
		Data: metrics.DeploymentStarted{DeploymentID: "late-dep", Service: "invoicing", Environment: "production", Version: "9.9.9"}}
	b.Reset()
	require.NoError(t, metrics.WriteJSONL(&b, append(events, late)))
	require.NoError(t, os.WriteFile(file, b.Bytes(), 0o600))
	out, _, err := runCmd(t, args...)
	require.NoError(t, err)
	require.Contains(t, out, "events: 35 rows in 7 partitions (1 written, 6 unchanged, 0 removed)")
	// Eight days of deployments: the week's, and the start day before it of
	// a deployment that succeeded in it.
	require.Contains(t, out, "deployments: 14 rows in 8 partitions (1 written, 7 unchanged, 0 removed)")
	require.Contains(t, out, "weekly: 2 rows in 2 partitions (0 written, 2 unchanged, 0 removed)")
	after := analyticstest.Files(t, dir)
	var changed []string
	for k, v := range after {
		if !bytes.Equal(before[k], v) {
			changed = append(changed, k)
		}
	}
	require.ElementsMatch(t, []string{"events/dt=2026-11-04/part-00000.parquet", "deployments/dt=2026-11-04/part-00000.parquet"}, changed,
		"an in-progress deployment changes no weekly figure")
}

// TestExportFromTheStore reads the collector's SQLite store under
// --data-dir and writes what the file gives.
func TestExportFromTheStore(t *testing.T) {
	data := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(data, "events.db"), sqlite.Options{})
	require.NoError(t, err)
	_, err = st.Append(context.Background(), readExample(t))
	require.NoError(t, errors.Join(err, st.Close()))

	fromStore, fromFile := t.TempDir(), t.TempDir()
	_, _, err = runCmd(t, "export", "--data-dir", data, "--from", "2026-11-01", "--to", "2026-11-10", "--out", fromStore)
	require.NoError(t, err)
	_, _, err = runCmd(t, "export", "--events", exampleEvents, "--from", "2026-11-01", "--to", "2026-11-10", "--out", fromFile)
	require.NoError(t, err)
	require.Equal(t, analyticstest.Files(t, fromFile), analyticstest.Files(t, fromStore))
}

// TestExportToS3 writes to an S3-compatible store, in process, through
// the AWS SDK: the same files as to a folder.
func TestExportToS3(t *testing.T) {
	endpoint := analyticstest.S3(t)
	args := []string{"export", "--events", exampleEvents, "--from", "2026-11-01", "--to", "2026-11-10"}
	out, _, err := runCmd(t, append(args, "--out", "s3://lake/estate", "--s3.endpoint", endpoint, "--s3.path-style")...)
	require.NoError(t, err)
	require.Contains(t, out, "events: 38 rows in 9 partitions (9 written, 0 unchanged, 0 removed)")
	require.Contains(t, out, "manifest: s3://lake/estate/_manifests/")

	local := t.TempDir()
	_, _, err = runCmd(t, append(args, "--out", local)...)
	require.NoError(t, err)
	client, err := analyticss3.NewClient(context.Background(), analyticss3.ClientOptions{Endpoint: endpoint, PathStyle: true})
	require.NoError(t, err)
	for key, want := range analyticstest.Files(t, local) {
		obj, err := client.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String("estate/" + key)})
		require.NoError(t, err, key)
		got, err := io.ReadAll(obj.Body)
		require.NoError(t, errors.Join(err, obj.Body.Close()))
		require.Equal(t, want, got, key)
	}
}

func TestExportErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no out", []string{"--events", exampleEvents}, "--out is required"},
		{"bad from", []string{"--events", exampleEvents, "--out", t.TempDir(), "--from", "yesterday"}, `--from must be a day such as 2026-11-02 or an RFC 3339 time, not "yesterday"`},
		{"bad to", []string{"--events", exampleEvents, "--out", t.TempDir(), "--to", "2026-13-01"}, "--to must be a day"},
		{"to out of range", []string{"--events", exampleEvents, "--out", t.TempDir(), "--to", "2300-01-01"}, "--to must be between"},
		{"empty range", []string{"--events", exampleEvents, "--out", t.TempDir(), "--from", "2026-11-09", "--to", "2026-11-02"}, "must be before --to"},
		{"unknown table", []string{"--events", exampleEvents, "--out", t.TempDir(), "--tables", "events,logs"}, `--tables: unknown table "logs"`},
		{"row groups", []string{"--events", exampleEvents, "--out", t.TempDir(), "--row-group-rows", "0"}, "--row-group-rows must be positive"},
		{"no store", []string{"--data-dir", t.TempDir(), "--out", t.TempDir()}, "no event store at"},
		{"missing file", []string{"--events", "/nonexistent.jsonl", "--out", t.TempDir()}, "no such file"},
		{"bad s3 url", []string{"--events", exampleEvents, "--out", "s3:///nobucket"}, "--out \"s3:///nobucket\": must be s3://BUCKET"},
		{"bad s3 endpoint", []string{"--events", exampleEvents, "--out", "s3://lake", "--s3.endpoint", "minio:9000"}, "--s3.endpoint must be an http or https URL"},
		{"stray argument", []string{"--out", t.TempDir(), "extra"}, `unexpected argument "extra"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCmd(t, append([]string{"export"}, tc.args...)...)
			require.ErrorContains(t, err, tc.wantErr)
			require.NotContains(t, err.Error(), "\n", "one line")
		})
	}
}

func TestExportScheduleOptions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"bad schedule", []string{"--export.schedule", "nightly"}, `export.schedule: "nightly" is not a cron schedule`},
		{"no days", []string{"--export.days", "0"}, "export.days: must be at least 1, not 0"},
		{"bad s3 url", []string{"--export.out", "s3://"}, "export.out: "},
		{"bad s3 endpoint", []string{"--export.out", "s3://lake", "--export.s3.endpoint", "minio:9000"}, "export.s3.endpoint: must be an http or https URL"},
		{"bad broker", []string{"--stream.brokers", "kafka"}, `stream.brokers: "kafka" must be host:port`},
		{"bad interval", []string{"--stream.interval", "0s"}, "stream.interval: must be positive"},
		{"no topic", []string{"--stream.events-topic="}, "stream.events_topic: must not be empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCmd(t, append([]string{"up", "--data-dir", t.TempDir()}, tc.args...)...)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

// TestCollectorStreamAndExport wires the collector's stream and export
// schedule over its event store: the events reach Kafka, and a scheduled
// run writes the days before it.
func TestCollectorStreamAndExport(t *testing.T) {
	now := time.Date(2026, 11, 10, 0, 30, 0, 0, time.UTC)
	cfg := &Config{DataDir: t.TempDir()}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "estate.events", "estate.deployments", "estate.incidents"))
	require.NoError(t, err)
	defer cluster.Close()
	lake := t.TempDir()
	cfg.Stream = streamConfig{Brokers: strings.Join(cluster.ListenAddrs(), ","), EventsTopic: "estate.events",
		DeploymentsTopic: "estate.deployments", IncidentsTopic: "estate.incidents", Interval: 20 * time.Millisecond}
	cfg.Export = exportConfig{Out: lake, Schedule: "30 0 * * *", Days: 9}
	require.NoError(t, cfg.Stream.Validate())
	require.NoError(t, cfg.Export.Validate())
	a := &app{cfg: cfg, logger: slog.New(slog.DiscardHandler), now: func() time.Time { return now }}
	store, closeStore, err := openEvents(t.Context(), cfg.DataDir, "", a.logger)
	require.NoError(t, err)
	defer func() { require.NoError(t, closeStore()) }()
	events := readExample(t)
	_, err = store.Append(t.Context(), events)
	require.NoError(t, err)

	stream, err := a.stream(t.Context(), store, cfg.DataDir)
	require.NoError(t, err)
	require.NoError(t, stream.Start(t.Context()))
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("estate.events"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	want := map[string]bool{}
	for _, e := range events {
		want[e.Source+"/"+e.ID] = true
	}
	keys := map[string]bool{}
	for len(keys) < len(want) {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "%d of %d events", len(keys), len(want))
		fs.EachRecord(func(r *kgo.Record) { keys[string(r.Key)] = true })
	}
	require.Equal(t, want, keys)
	require.NoError(t, stream.Shutdown(ctx))
	require.FileExists(t, filepath.Join(cfg.DataDir, "stream-published"))

	sched, err := a.exportSchedule(t.Context(), store)
	require.NoError(t, err)
	m, err := sched.(*analytics.Schedule).Run(t.Context())
	require.NoError(t, err)
	require.Equal(t, "2026-11-01", m.From.Format(time.DateOnly))
	require.Equal(t, "2026-11-10", m.To.Format(time.DateOnly))
	require.Equal(t, "collector", m.Source)
	fromCLI := t.TempDir()
	_, _, err = runCmd(t, "export", "--events", exampleEvents, "--from", "2026-11-01", "--to", "2026-11-10", "--out", fromCLI)
	require.NoError(t, err)
	require.Equal(t, analyticstest.Files(t, fromCLI), analyticstest.Files(t, lake))

	off := &app{cfg: &Config{}, logger: a.logger, now: a.now}
	s, err := off.stream(t.Context(), store, cfg.DataDir)
	require.NoError(t, err)
	require.Nil(t, s, "no brokers, no stream")
	e, err := off.exportSchedule(t.Context(), store)
	require.NoError(t, err)
	require.Nil(t, e, "no out, no export")
}

// TestExportSeriesNeedTheCollector: the red and slo tables are read from
// the collector's Prometheus API; without it the export says so.
func TestExportSeriesNeedTheCollector(t *testing.T) {
	_, _, err := runCmd(t, "export", "--events", exampleEvents, "--from", "2026-11-01", "--to", "2026-11-02",
		"--out", t.TempDir(), "--tables", "red", "--collector-url", "http://127.0.0.1:1")
	require.ErrorContains(t, err, "unavailable")
	require.ErrorContains(t, err, "leave them out of --tables")
	require.NotContains(t, err.Error(), "\n")
}

// TestStreamOverTLSWithSCRAM: the collector's stream reaches a broker that
// wants TLS and SCRAM-SHA-512, as MSK's SCRAM listener does, and is
// refused with a wrong password.
func TestStreamOverTLSWithSCRAM(t *testing.T) {
	ca := tlstest.NewCA(t, "kafka-ca")
	pair := ca.Server(t)
	cert, err := tls.X509KeyPair(pair.CertPEM, pair.KeyPEM)
	require.NoError(t, err)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "estate.events", "estate.deployments", "estate.incidents"),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "estate", "a-long-enough-password"))
	require.NoError(t, err)
	defer cluster.Close()
	dir := t.TempDir()
	c := streamConfig{Brokers: strings.Join(cluster.ListenAddrs(), ","), EventsTopic: "estate.events", DeploymentsTopic: "estate.deployments",
		IncidentsTopic: "estate.incidents", Interval: time.Minute, TLS: true, CAFile: ca.WriteCA(t, dir),
		SASL: "scram-sha-512", Username: "estate", Password: "a-long-enough-password"}
	require.NoError(t, c.Validate())
	// A refusal shows as records not delivered in time.
	publish := func(c streamConfig, timeout time.Duration) error {
		opts, err := c.clientOptions(t.Context())
		require.NoError(t, err)
		p, err := kafka.New(kafka.Options{Brokers: c.brokers(), DeliveryTimeout: timeout, ClientOptions: opts})
		require.NoError(t, err)
		defer p.Close()
		return p.Publish(t.Context(), readExample(t)[:3])
	}
	require.NoError(t, publish(c, time.Minute))
	c.Password = "a-wrong-password-here"
	// kfake closes the connection on a failed authentication.
	require.ErrorContains(t, publish(c, 3*time.Second), "last err: EOF", "a wrong password is refused")
	c.Password, c.CAFile = "a-long-enough-password", ""
	require.ErrorContains(t, publish(c, 3*time.Second), "x509: certificate signed by unknown authority", "a broker the system's roots do not know is refused")

	for _, bad := range []struct {
		c    streamConfig
		want string
	}{
		{streamConfig{Interval: time.Minute, EventsTopic: "e", DeploymentsTopic: "d", IncidentsTopic: "i", SASL: "kerberos"}, `stream.sasl: must be aws-msk-iam, scram-sha-512, scram-sha-256 or plain, not "kerberos"`},
		{streamConfig{Interval: time.Minute, EventsTopic: "e", DeploymentsTopic: "d", IncidentsTopic: "i", SASL: "plain"}, "stream.username, stream.password: stream.sasl plain needs both"},
		{streamConfig{Interval: time.Minute, EventsTopic: "e", DeploymentsTopic: "d", IncidentsTopic: "i", CAFile: "/ca.pem"}, "stream.ca_file: needs stream.tls"},
	} {
		require.ErrorContains(t, bad.c.Validate(), bad.want)
	}
	mskIAM := streamConfig{SASL: "aws-msk-iam"}
	opts, err := mskIAM.clientOptions(t.Context())
	require.NoError(t, err)
	require.Len(t, opts, 1, "the AWS_MSK_IAM mechanism")
}

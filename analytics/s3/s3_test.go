package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/analytics"
	"github.com/estatehq/estate/analytics/analyticstest"
	"github.com/estatehq/estate/analytics/s3"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/metricstest"
)

// requests counts the store's requests by kind, as the SDK sent them.
type requests struct {
	mu     sync.Mutex
	counts map[string]int
	next   http.RoundTripper
}

func (r *requests) RoundTrip(req *http.Request) (*http.Response, error) {
	kind := req.Method
	switch q := req.URL.Query(); {
	case q.Has("uploads"):
		kind = "CreateMultipartUpload"
	case q.Has("partNumber"):
		kind = "UploadPart"
	case q.Has("uploadId") && req.Method == http.MethodPost:
		kind = "CompleteMultipartUpload"
	}
	r.mu.Lock()
	r.counts[kind]++
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

func (r *requests) take() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.counts
	r.counts = map[string]int{}
	return c
}

// fakeS3 starts an S3-compatible store and returns a client of the real
// SDK that talks to it, with a bucket "lake".
func fakeS3(t *testing.T) (*awss3.Client, *requests) {
	t.Helper()
	url := analyticstest.S3(t)
	reqs := &requests{counts: map[string]int{}, next: http.DefaultTransport}
	client, err := s3.NewClient(context.Background(), s3.ClientOptions{
		Endpoint: url, PathStyle: true, HTTPClient: &http.Client{Transport: reqs, Timeout: 30 * time.Second},
	})
	require.NoError(t, err)
	_, err = client.CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: aws.String("lake")})
	require.NoError(t, err)
	reqs.take()
	return client, reqs
}

func get(t *testing.T, c *awss3.Client, key string) []byte {
	t.Helper()
	out, err := c.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String(key)})
	require.NoError(t, err, key)
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	require.NoError(t, err)
	return b
}

var (
	from = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	to   = from.AddDate(0, 0, 7)
)

func export(t *testing.T, out analytics.Output, events []metrics.Event) analytics.Manifest {
	t.Helper()
	m, err := analytics.Export(context.Background(), events, from, to, analytics.Options{Output: out, TempDir: t.TempDir()})
	require.NoError(t, err)
	return m
}

// localFiles are the table files of a local export of the same events.
func localFiles(t *testing.T, events []metrics.Event) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	export(t, analytics.Dir{Root: dir}, events)
	return analyticstest.Files(t, dir)
}

func TestExportToS3(t *testing.T) {
	client, reqs := fakeS3(t)
	out, err := s3.New(s3.Options{Client: client, Bucket: "lake", Prefix: "estate"})
	require.NoError(t, err)
	events := metricstest.Generate(metricstest.GenerateOptions{Seed: 3, Services: 3, From: from, To: to})

	// Uploads: the same bytes as a local export, under the prefix.
	m := export(t, out, events)
	want := localFiles(t, events)
	require.NotEmpty(t, want)
	for key, b := range want {
		require.True(t, bytes.Equal(b, get(t, client, "estate/"+key)), key)
	}
	require.NotEmpty(t, get(t, client, "estate/_manifests/"+m.RunID+".json"))
	require.Equal(t, len(want)+1, reqs.take()[http.MethodPut], "a PUT per file and the manifest")

	// A re-export finds every file current and uploads only its manifest.
	m = export(t, out, events)
	for _, tr := range m.Tables {
		for _, p := range tr.Partitions {
			require.Equal(t, analytics.StatusUnchanged, p.Status, p.Key)
		}
	}
	require.Equal(t, 1, reqs.take()[http.MethodPut])

	// A late event overwrites the files it changes with the new bytes.
	late := metrics.Event{ID: "late", Source: "https://ci.example.com/svc-00", Time: from.Add(50 * time.Hour),
		Data: metrics.DeploymentStarted{DeploymentID: "late", Service: "svc-00", Environment: "production", Version: "9"}}
	m = export(t, out, append(events, late))
	written := 0
	for _, tr := range m.Tables {
		for _, p := range tr.Partitions {
			if p.Status == analytics.StatusWritten {
				written++
			}
		}
	}
	require.Equal(t, 2, written, "its day of events and of deployments")
	for key, b := range localFiles(t, append(events, late)) {
		require.True(t, bytes.Equal(b, get(t, client, "estate/"+key)), key)
	}
}

func TestMultipartUpload(t *testing.T) {
	client, reqs := fakeS3(t)
	out, err := s3.New(s3.Options{Client: client, Bucket: "lake", PartSize: 5 << 20})
	require.NoError(t, err)
	big := make([]byte, 12<<20)
	_, _ = rand.Read(big)
	sum := sha256.Sum256(big)
	hexSum := hex.EncodeToString(sum[:])
	key := "events/dt=2026-11-02/part-00000.parquet"
	require.NoError(t, out.Put(context.Background(), key, bytes.NewReader(big), int64(len(big)), hexSum))
	c := reqs.take()
	require.Equal(t, 1, c["CreateMultipartUpload"])
	require.Equal(t, 3, c["UploadPart"], "12 MiB in parts of 5 MiB")
	require.Equal(t, 1, c["CompleteMultipartUpload"])
	require.True(t, bytes.Equal(big, get(t, client, key)))

	got, found, err := out.Sum(context.Background(), key)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, hexSum, got, "the sum survives a multipart upload, whose ETag is no MD5")

	// Overwrite, smaller, in one request.
	small := []byte("PAR1 small")
	smallSum := sha256.Sum256(small)
	require.NoError(t, out.Put(context.Background(), key, bytes.NewReader(small), int64(len(small)), hex.EncodeToString(smallSum[:])))
	require.Equal(t, small, get(t, client, key))

	require.NoError(t, out.Delete(context.Background(), key))
	_, found, err = out.Sum(context.Background(), key)
	require.NoError(t, err)
	require.False(t, found)
	require.NoError(t, out.Delete(context.Background(), key), "deleting what is not there is no error")
}

func TestParseURL(t *testing.T) {
	for _, c := range []struct {
		in, bucket, prefix string
		ok                 bool
		err                string
	}{
		{in: "./lake"},
		{in: "s3://lake", bucket: "lake", ok: true},
		{in: "s3://lake/estate/prod/", bucket: "lake", prefix: "estate/prod", ok: true},
		{in: "s3:///estate", ok: true, err: "must be s3://BUCKET"},
	} {
		t.Run(c.in, func(t *testing.T) {
			bucket, prefix, ok, err := s3.ParseURL(c.in)
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, []any{c.bucket, c.prefix, c.ok}, []any{bucket, prefix, ok})
		})
	}
}

func TestNewNeedsClientAndBucket(t *testing.T) {
	_, err := s3.New(s3.Options{Bucket: "b"})
	require.ErrorContains(t, err, "client is required")
	_, err = s3.New(s3.Options{Client: awss3.New(awss3.Options{})})
	require.ErrorContains(t, err, "bucket is required")
}

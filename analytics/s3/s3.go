// Package s3 is the analytics export's Output onto an S3 bucket, or any
// S3-compatible store (MinIO, Ceph, R2), through the AWS SDK v2. Files
// larger than a part go up in parts (multipart upload), so a large
// partition never sits in memory whole.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/estatehq/estate/analytics"
)

// sumKey is the user metadata (x-amz-meta-sha256) that holds a file's
// SHA-256: an ETag is an MD5 only for single-part uploads, so a re-export
// could not compare against it.
const sumKey = "sha256"

// DefaultPartSize is the size of one part of a multipart upload; a file
// at most this large goes up in one request.
const DefaultPartSize = 16 << 20

// minPartSize is S3's smallest part of a multipart upload.
const minPartSize = 5 << 20

// Options configure an Output.
type Options struct {
	// Client talks to the store. Required.
	Client *awss3.Client
	// Bucket is the bucket. Required.
	Bucket string
	// Prefix is put before every key: "estate/" writes
	// s3://BUCKET/estate/events/dt=.../part-00000.parquet.
	Prefix string
	// PartSize is the size of one part; DefaultPartSize when zero, and at
	// least S3's minimum of 5 MiB.
	PartSize int64
}

// Output is an analytics.Output onto a bucket.
type Output struct {
	o        Options
	uploader *transfermanager.Client
}

var _ analytics.Output = (*Output)(nil)

// New returns the Output that o describes. Errors: a missing client or
// bucket.
func New(o Options) (*Output, error) {
	switch {
	case o.Client == nil:
		return nil, errors.New("s3: client is required")
	case o.Bucket == "":
		return nil, errors.New("s3: bucket is required")
	}
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	o.PartSize = max(o.PartSize, minPartSize)
	// transfermanager rather than feature/s3/manager, which its makers
	// deprecated for it. Two parts in flight at once: the memory of an
	// upload is two parts.
	up := transfermanager.New(o.Client, func(t *transfermanager.Options) {
		t.PartSizeBytes = o.PartSize
		t.MultipartUploadThreshold = o.PartSize
		t.Concurrency = 2
		// As the client was told: an S3-compatible store may not know the
		// checksum trailers (NewClient).
		t.RequestChecksumCalculation = o.Client.Options().RequestChecksumCalculation
	})
	return &Output{o: o, uploader: up}, nil
}

func (s *Output) key(key string) string { return path.Join(s.o.Prefix, key) }

// Sum implements analytics.Output: the sha256 metadata of the object, or
// found false when there is none (or it was written by something else).
func (s *Output) Sum(ctx context.Context, key string) (string, bool, error) {
	out, err := s.o.Client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: &s.o.Bucket, Key: aws.String(s.key(key))})
	if isNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("s3: head %s: %w", s.key(key), err)
	}
	sum, ok := out.Metadata[sumKey]
	return sum, ok, nil
}

// Put implements analytics.Output. An object's new version appears whole
// when its upload completes, as S3 promises.
func (s *Output) Put(ctx context.Context, key string, r io.Reader, size int64, sum string) error {
	_, err := s.uploader.UploadObject(ctx, &transfermanager.UploadObjectInput{
		Bucket:        &s.o.Bucket,
		Key:           aws.String(s.key(key)),
		Body:          r,
		ContentLength: aws.Int64(size),
		ContentType:   aws.String(contentType(key)),
		Metadata:      map[string]string{sumKey: sum},
	})
	if err != nil {
		return fmt.Errorf("s3: put %s: %w", s.key(key), err)
	}
	return nil
}

// Delete implements analytics.Output.
func (s *Output) Delete(ctx context.Context, key string) error {
	_, err := s.o.Client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &s.o.Bucket, Key: aws.String(s.key(key))})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("s3: delete %s: %w", s.key(key), err)
	}
	return nil
}

func contentType(key string) string {
	switch {
	case strings.HasSuffix(key, ".parquet"):
		return "application/vnd.apache.parquet"
	case strings.HasSuffix(key, ".json"):
		return "application/json"
	}
	return "application/octet-stream"
}

func isNotFound(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NotFound", "NoSuchKey":
			return true
		}
	}
	return false
}

// ParseURL reads s3://BUCKET/PREFIX into the bucket and the prefix. ok is
// false when u is not an s3:// URL. Errors: an s3:// URL without a bucket.
func ParseURL(u string) (bucket, prefix string, ok bool, err error) {
	if !strings.HasPrefix(u, "s3://") {
		return "", "", false, nil
	}
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return "", "", true, fmt.Errorf("%q: must be s3://BUCKET or s3://BUCKET/PREFIX", u)
	}
	return p.Host, strings.Trim(p.Path, "/"), true, nil
}

// ClientOptions say how to reach the store. Credentials and the region
// come from the SDK's usual chain (AWS_* variables, the shared files, the
// instance's role) unless set here.
type ClientOptions struct {
	// Endpoint is an S3-compatible store's URL; AWS's S3 when empty.
	Endpoint string
	// Region overrides the SDK's.
	Region string
	// PathStyle addresses buckets as ENDPOINT/BUCKET rather than
	// BUCKET.ENDPOINT, as most S3-compatible stores want.
	PathStyle bool
	// HTTPClient, when set, makes the requests.
	HTTPClient aws.HTTPClient
}

// NewClient makes an S3 client. Errors: the SDK's, loading its
// configuration.
func NewClient(ctx context.Context, o ClientOptions) (*awss3.Client, error) {
	var opts []func(*config.LoadOptions) error
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: loading the AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		// S3-compatible stores ignore it, but the signer needs one.
		cfg.Region = "us-east-1"
	}
	return awss3.NewFromConfig(cfg, func(so *awss3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
			// Many S3-compatible stores do not know the checksum trailers
			// the SDK sends by default.
			so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
		so.UsePathStyle = o.PathStyle
		if o.HTTPClient != nil {
			so.HTTPClient = o.HTTPClient
		}
	}), nil
}

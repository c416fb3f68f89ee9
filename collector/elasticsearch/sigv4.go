package elasticsearch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// sigv4Transport signs each request with AWS SigV4 over its payload's
// SHA-256 (sent as X-Amz-Content-Sha256, which Amazon OpenSearch Service
// requires for signed payloads). It signs last, after the client has set
// every header, so the signature covers the request as sent.
type sigv4Transport struct {
	base            http.RoundTripper
	creds           aws.CredentialsProvider
	signer          *v4.Signer
	region, service string
	now             func() time.Time
}

func (t *sigv4Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	out := req.Clone(ctx)
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("reading body to sign: %w", err)
		}
		body = b
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		out.ContentLength = int64(len(body))
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	out.Header.Set("X-Amz-Content-Sha256", hash)
	// Basic or API-key headers must not reach AWS next to a signature.
	out.Header.Del("Authorization")
	creds, err := t.creds.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("retrieving AWS credentials: %w", err)
	}
	if err := t.signer.SignHTTP(ctx, creds, out, hash, t.service, t.region, t.now()); err != nil {
		return nil, fmt.Errorf("signing request: %w", err)
	}
	return t.base.RoundTrip(out)
}

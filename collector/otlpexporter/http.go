package otlpexporter

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/estatehq/estate/internal/delivery"
)

const contentProto = "application/x-protobuf"

// maxResponse bounds the body of an answer read: an ExportResponse or a
// google.rpc.Status is small.
const maxResponse = 64 << 10

// buildHTTP makes the OTLP/HTTP client.
func (e *Exporter) buildHTTP(rt http.RoundTripper) error {
	u, err := e.cfg.target()
	if err != nil {
		return err
	}
	e.base = strings.TrimRight(u.String(), "/")
	if rt == nil {
		t, err := e.cfg.tls().Transport("otlp.")
		if err != nil {
			return err
		}
		rt, e.ownsConn = t, true
	}
	e.client = &http.Client{Transport: rt}
	return nil
}

// encode is the body of an OTLP/HTTP request, made once for every attempt.
func (e *Exporter) encode(req request) ([]byte, error) {
	raw, err := req.MarshalProto()
	if err != nil {
		return nil, delivery.Permanent(fmt.Errorf("encoding the request: %w", err))
	}
	if e.cfg.Compression != CompressionGzip {
		return raw, nil
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(raw); err != nil {
		return nil, delivery.Permanent(fmt.Errorf("compressing the request: %w", err))
	}
	if err := zw.Close(); err != nil {
		return nil, delivery.Permanent(fmt.Errorf("compressing the request: %w", err))
	}
	return buf.Bytes(), nil
}

// post sends body to path under the endpoint once. It returns the body of
// a 2xx answer, the status (a metric label), and for any other answer the
// error delivery.HTTPError classifies by the OTLP specification.
func (e *Exporter) post(ctx context.Context, path string, body []byte) ([]byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, "error", delivery.Permanent(fmt.Errorf("building the request: %w", err))
	}
	for k, v := range e.cfg.Headers {
		req.Header.Set(k, v)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", userAgent)
	}
	req.Header.Set("Content-Type", contentProto)
	if e.cfg.Compression == CompressionGzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, "error", fmt.Errorf("posting to %s: %w", req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	code := strconv.Itoa(resp.StatusCode)
	if resp.StatusCode/100 == 2 {
		if err != nil {
			// Accepted all the same; only the partial success is lost.
			e.log.Warn("reading an OTLP/HTTP response", "err", err)
			b = nil
		}
		return b, code, nil
	}
	return nil, code, delivery.HTTPError(resp, statusMessage(resp, b), delivery.OTLPRetryable, e.now())
}

// statusMessage is the message of the google.rpc.Status an OTLP/HTTP
// receiver answers an error with, or the body as it is.
func statusMessage(resp *http.Response, body []byte) []byte {
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == contentProto {
		var st spb.Status
		if proto.Unmarshal(body, &st) == nil && st.GetMessage() != "" {
			return []byte(st.GetMessage())
		}
	}
	return body
}

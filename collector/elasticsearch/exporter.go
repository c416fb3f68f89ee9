// Package elasticsearch exports log records to Elasticsearch 7.10+, 8.x and
// OpenSearch 2.x (self-managed or Amazon OpenSearch Service) through _bulk,
// so that a record replayed from the collector's queue is never indexed
// twice and a record the cluster refuses is never silently lost.
//
// Each record becomes an ECS document with a deterministic _id (a hash of
// the record and its resource) written with a create action: 201 and 409
// (the id is already there) both mean delivered. Items answered 429 or 5xx
// are sent again alone with backoff; items refused for good (400 mapping
// errors) go to a dead-letter JSONL file and a <index>-deadletter index with
// the reason. See docs/decisions.md for how the cluster's flavor and
// version decide the headers, the template and ILM.
package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/elastic/elastic-transport-go/v8/elastictransport"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/estatehq/estate/internal/deadletter"
	"github.com/estatehq/estate/internal/delivery"
)

// Options are the exporter's dependencies.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock for timestamps and dead letters; time.Now when nil.
	Now func() time.Time
	// Sleep waits between retries of throttled items and returns early with
	// ctx's error; delivery.Sleep when nil. Tests make it instant.
	Sleep func(ctx context.Context, d time.Duration) error
	// Transport is the HTTP transport under authentication; one built from
	// the configuration (CA file) when nil.
	Transport http.RoundTripper
	// AWSCredentials signs requests when AWS.SigV4 is on; the AWS SDK's
	// default chain when nil.
	AWSCredentials aws.CredentialsProvider
}

// Exporter ships log records to one cluster. Its methods are safe for
// concurrent use.
type Exporter struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	retry   delivery.Retry
	tp      *elastictransport.Client
	base    http.RoundTripper
	dl      *deadletter.File[deadLetter]
	metrics *metrics
	life    delivery.Lifecycle

	mu      sync.Mutex
	ready   bool
	cluster cluster
	hdr     headers
}

// New builds an exporter from a valid configuration. It makes no request:
// Start does.
func New(cfg Config, opts Options) (*Exporter, error) {
	if !cfg.Enabled() {
		return nil, errors.New("elasticsearch.urls: must be set")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tel := delivery.Telemetry{Logger: opts.Logger, Registerer: opts.Registerer, Now: opts.Now}.Defaults()
	base := opts.Transport
	if base == nil {
		t := newHTTPTransport()
		if cfg.CAFile != "" {
			tc, err := cfg.tls().ClientConfig("elasticsearch.")
			if err != nil {
				return nil, err
			}
			t.TLSClientConfig = tc
		}
		base = t
	}
	rt := base
	if cfg.AWS.SigV4 {
		creds, region := opts.AWSCredentials, cfg.AWS.Region
		if creds == nil || region == "" {
			ac, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion(region))
			if err != nil {
				return nil, fmt.Errorf("elasticsearch.aws: loading the AWS default configuration: %w", err)
			}
			if creds == nil {
				creds = ac.Credentials
			}
			if region == "" {
				region = ac.Region
			}
		}
		if region == "" {
			return nil, errors.New("elasticsearch.aws.region: not set, and the AWS environment names none")
		}
		rt = &sigv4Transport{base: base, creds: creds, signer: v4.NewSigner(), region: region, service: cfg.AWS.Service, now: tel.Now}
	}
	var urls []*url.URL
	for _, raw := range cfg.URLs {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("elasticsearch.urls: %w", err)
		}
		urls = append(urls, u)
	}
	// The transport, not the elasticsearch.Client: the client refuses to
	// talk to a server without the X-Elastic-Product header (OpenSearch,
	// Elasticsearch before 7.14). Retries are ours, with our clock.
	topts := []elastictransport.Option{
		elastictransport.WithURLs(urls...),
		elastictransport.WithTransport(rt),
		elastictransport.WithDisableRetry(),
		elastictransport.WithUserAgent("estate-collector"),
	}
	if cfg.Username != "" {
		topts = append(topts, elastictransport.WithBasicAuth(cfg.Username, cfg.Password))
	}
	if cfg.APIKey != "" {
		topts = append(topts, elastictransport.WithAPIKey(cfg.APIKey))
	}
	tp, err := elastictransport.NewClient(topts...)
	if err != nil {
		return nil, fmt.Errorf("creating Elasticsearch transport: %w", err)
	}
	m, err := newMetrics(tel.Registerer)
	if err != nil {
		return nil, err
	}
	e := &Exporter{
		cfg: cfg, log: tel.Logger.With("exporter", "elasticsearch"), now: tel.Now, retry: cfg.retry(),
		tp: tp, base: base, metrics: m,
		dl: deadletter.New[deadLetter](cfg.DeadLetterDir, "deadletter", tel.Now),
	}
	e.retry.Sleep = opts.Sleep
	return e, nil
}

// newHTTPTransport is http.DefaultTransport's configuration, with more idle
// connections per host for concurrent bulk requests.
func newHTTPTransport() *http.Transport {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 8}
	}
	t = t.Clone()
	t.MaxIdleConnsPerHost = 8
	return t
}

// Start learns the cluster's flavor and version and installs the index
// template and ILM policy when missing. A cluster that cannot be reached is
// not an error here: exports retry the setup until it succeeds, so the
// collector starts, and queues, during an outage. Only a cluster that can
// never be used (an unsupported version) fails Start.
func (e *Exporter) Start(ctx context.Context) error {
	_, err := e.ensureReady(ctx)
	if delivery.IsPermanent(err) {
		return err
	}
	if err != nil {
		e.log.Warn("elasticsearch not ready; exports will retry", "error", err)
	}
	return nil
}

// Shutdown stops exports in progress (they return a ShutdownError) and
// waits for them to return, or for ctx to end.
func (e *Exporter) Shutdown(ctx context.Context) error {
	if err := e.life.Shutdown(ctx); err != nil {
		return err
	}
	if t, ok := e.base.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
	return nil
}

// ensureReady detects the cluster and installs the template once.
func (e *Exporter) ensureReady(ctx context.Context) (headers, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ready {
		return e.hdr, nil
	}
	// The setup's requests are small: together they get one request's time.
	ctx, cancel := context.WithTimeout(ctx, e.cfg.RequestTimeout)
	defer cancel()
	c, err := e.detect(ctx)
	if err != nil {
		return headers{}, err
	}
	h := headersFor(c)
	if err := e.install(ctx, c, h); err != nil {
		return headers{}, err
	}
	e.ready, e.cluster, e.hdr = true, c, h
	e.log.Info("elasticsearch ready", "flavor", c.Flavor, "version", c.Version, "compatible_with_8", c.compatible(), "ilm", c.ilm())
	return h, nil
}

// Cluster reports the flavor and version found at Start ("" before).
func (e *Exporter) Cluster() (flavor, version string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cluster.Flavor, e.cluster.Version
}

// forget makes the next export detect the cluster again, after an answer
// that suggests it changed (406: another version behind the same URL).
func (e *Exporter) forget() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ready = false
}

// ExportLogs delivers every record of ld. nil means each record is in the
// cluster (created now or before) or in the dead-letter file with its
// reason. An error means the caller must send the same batch again later;
// it is a *delivery.ThrottleError when the cluster asked to slow down, a
// *delivery.ShutdownError when ctx ended or Shutdown was called, a
// *delivery.PermanentError when the batch can never be sent, and otherwise
// transient.
func (e *Exporter) ExportLogs(ctx context.Context, ld plog.Logs) error {
	ctx, done, err := e.life.Begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	if ld.LogRecordCount() == 0 {
		return nil
	}

	h, err := e.ensureReady(ctx)
	if err != nil {
		if serr := delivery.ContextShutdown(ctx); serr != nil {
			return serr
		}
		return fmt.Errorf("preparing elasticsearch: %w", err)
	}
	items, err := e.items(ld)
	if err != nil {
		return &delivery.PermanentError{Err: err}
	}
	return e.send(ctx, h, items)
}

// items turns records into documents with their index and id.
func (e *Exporter) items(ld plog.Logs) ([]item, error) {
	items := make([]item, 0, ld.LogRecordCount())
	hasher := newIDHasher()
	for _, rl := range ld.ResourceLogs().All() {
		if err := hasher.setResource(rl); err != nil {
			return nil, fmt.Errorf("hashing resource: %w", err)
		}
		rd := newResourceDoc(rl.Resource())
		svc := rd.service.Name
		for _, sl := range rl.ScopeLogs().All() {
			hasher.setScope(sl)
			for _, lr := range sl.LogRecords().All() {
				ts := recordTime(lr, e.now)
				d := toDocument(rd, sl.Scope(), lr, ts)
				idx := e.cfg.indexName(svc, ts)
				if e.cfg.Mode == ModeDataStream {
					d.DataStream = &ecsDataStream{Type: "logs", Dataset: "estate." + sanitizeName(svc, unknownService), Namespace: e.cfg.Namespace}
				}
				src, err := json.Marshal(d)
				if err != nil {
					return nil, fmt.Errorf("encoding document: %w", err)
				}
				id, err := hasher.id(lr)
				if err != nil {
					return nil, fmt.Errorf("hashing record: %w", err)
				}
				items = append(items, item{index: idx, id: id, source: src})
			}
		}
	}
	return items, nil
}

// failed is an item refused for good, with the cluster's answer.
type failed struct {
	item
	res itemResult
}

// send delivers items, retrying throttled ones alone up to MaxAttempts.
func (e *Exporter) send(ctx context.Context, h headers, items []item) error {
	pending := items
	for attempt := 1; ; attempt++ {
		var retry []item
		var dead []failed
		var lastRetry itemResult
		err := e.bulkChunks(ctx, h, pending, func(it item, r itemResult) {
			o := r.outcome()
			e.metrics.Items.WithLabelValues(o).Inc()
			switch o {
			case outcomeRetry:
				retry = append(retry, it)
				lastRetry = r
			case outcomeDeadLetter:
				dead = append(dead, failed{it, r})
			}
		})
		// Items refused for good are dead-lettered even when a later request
		// of this round failed as a whole, so that their fate is settled.
		if dlErr := e.deadLetter(ctx, h, dead); dlErr != nil {
			return errors.Join(err, dlErr)
		}
		if err != nil {
			return err
		}
		if len(retry) == 0 {
			return nil
		}
		if attempt >= e.cfg.MaxAttempts {
			err := fmt.Errorf("%d items still refused after %d attempts, last: HTTP %d %s: %s",
				len(retry), attempt, lastRetry.Status, lastRetry.Type, lastRetry.Reason)
			if lastRetry.Status == http.StatusTooManyRequests {
				return &delivery.ThrottleError{Err: err, Delay: e.retry.Backoff.Delay(attempt)}
			}
			return err
		}
		e.metrics.Retries.Inc()
		if err := e.retry.Wait(ctx, e.retry.Backoff.Delay(attempt)); err != nil {
			return err
		}
		pending = retry
	}
}

// errTooLarge is a 413 answer to a whole _bulk request.
var errTooLarge = errors.New("request entity too large")

// bulkChunks sends items in _bulk requests of at most MaxBulkBytes and
// reports each item's result to each. It stops at the first request that
// fails as a whole.
func (e *Exporter) bulkChunks(ctx context.Context, h headers, items []item, each func(item, itemResult)) error {
	var buf []byte
	start := 0
	flush := func(end int) error {
		if start == end {
			return nil
		}
		chunk := items[start:end]
		results, err := e.bulk(ctx, h, buf, len(chunk))
		if errors.Is(err, errTooLarge) {
			if len(chunk) == 1 {
				each(chunk[0], itemResult{Status: http.StatusRequestEntityTooLarge, Type: "request_entity_too_large",
					Reason: fmt.Sprintf("a document of %d bytes is larger than the cluster accepts", len(chunk[0].source))})
				return nil
			}
			// Split in halves until the cluster accepts them.
			half := len(chunk) / 2
			if err := e.bulkChunks(ctx, h, chunk[:half], each); err != nil {
				return err
			}
			return e.bulkChunks(ctx, h, chunk[half:], each)
		}
		if err != nil {
			return err
		}
		for i, r := range results {
			each(chunk[i], r)
		}
		return nil
	}
	for i, it := range items {
		size := len(it.index) + len(it.id) + len(it.source) + 32
		if len(buf) > 0 && len(buf)+size > e.cfg.MaxBulkBytes {
			if err := flush(i); err != nil {
				return err
			}
			// A new buffer: the HTTP transport may still read the last
			// request's body after the response arrived.
			buf, start = nil, i
		}
		buf = appendAction(buf, it)
	}
	return flush(len(items))
}

// bulk sends one _bulk request of n items and returns their results.
func (e *Exporter) bulk(ctx context.Context, h headers, body []byte, n int) ([]itemResult, error) {
	rctx, cancel := context.WithTimeout(ctx, e.cfg.RequestTimeout)
	defer cancel()
	start := time.Now()
	res, err := esapi.BulkRequest{Body: bytes.NewReader(body), Header: h.ndjson.Clone(), FilterPath: bulkFilterPath}.Do(rctx, e.tp)
	e.metrics.Duration.Observe(time.Since(start).Seconds())
	if err != nil {
		e.metrics.Requests.WithLabelValues("error").Inc()
		if serr := delivery.ContextShutdown(ctx); serr != nil {
			return nil, serr
		}
		return nil, fmt.Errorf("sending _bulk: %w", err)
	}
	respBody, err := readBody(res)
	e.metrics.Requests.WithLabelValues(strconv.Itoa(res.StatusCode)).Inc()
	if err != nil {
		return nil, err
	}
	switch res.StatusCode {
	case http.StatusOK:
	case http.StatusRequestEntityTooLarge:
		return nil, errTooLarge
	case http.StatusNotAcceptable:
		e.forget()
		return nil, e.statusError("_bulk", res, respBody)
	case http.StatusBadRequest:
		// The request itself is malformed: sending it again cannot help.
		return nil, &delivery.PermanentError{Err: e.statusError("_bulk", res, respBody)}
	default:
		// 429 is a ThrottleError; 401/403 (credentials), 404 (a proxy's
		// path) and 5xx are transient: an outage or a configuration to
		// fix, and the records wait in the queue meanwhile.
		return nil, e.statusError("_bulk", res, respBody)
	}
	results, err := parseBulkResponse(respBody, n)
	if err != nil {
		return nil, err
	}
	return results, nil
}

// statusError describes an error answer. Every status is worth another
// try here, as the callers decide what is final (400 on _bulk); 429, or an
// answer with Retry-After, is a ThrottleError with the server's delay.
func (e *Exporter) statusError(op string, res *esapi.Response, body []byte) error {
	var eb struct {
		Error json.RawMessage `json:"error"`
	}
	detail := body
	if json.Unmarshal(body, &eb) == nil && len(eb.Error) > 0 {
		var obj struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		}
		if json.Unmarshal(eb.Error, &obj) == nil && obj.Type != "" {
			detail = []byte(obj.Type + ": " + obj.Reason)
		} else {
			detail = eb.Error
		}
	}
	resp := &http.Response{StatusCode: res.StatusCode, Header: res.Header}
	err := delivery.HTTPError(resp, detail, func(int) bool { return true }, e.now())
	if err == nil { // a 2xx the caller did not expect
		err = fmt.Errorf("unexpected HTTP %d: %s", res.StatusCode, bytes.TrimSpace(detail))
	}
	return fmt.Errorf("%s: %w", op, err)
}

// deadLetter writes refused items to the dead-letter file (which must
// succeed) and then, as a convenience for searching, to <index>-deadletter
// (which may fail: it is logged and counted).
func (e *Exporter) deadLetter(ctx context.Context, h headers, dead []failed) error {
	if len(dead) == 0 {
		return nil
	}
	now := e.now().UTC().Format(time.RFC3339Nano)
	entries := make([]deadLetter, len(dead))
	for i, d := range dead {
		entries[i] = deadLetter{Time: now, Index: d.index, ID: d.id, Status: d.res.Status,
			ErrorType: d.res.Type, Reason: d.res.Reason, Document: d.source}
		e.log.Warn("record refused by elasticsearch, dead-lettered", "index", d.index, "id", d.id,
			"status", d.res.Status, "error_type", d.res.Type, "reason", d.res.Reason)
	}
	if err := e.dl.Write(entries...); err != nil {
		return err
	}
	e.metrics.deadLetterFile.Add(float64(len(entries)))

	items := make([]item, len(dead))
	for i, d := range dead {
		var ts struct {
			Timestamp string `json:"@timestamp"`
		}
		_ = json.Unmarshal(d.source, &ts)
		if ts.Timestamp == "" {
			ts.Timestamp = now
		}
		src, err := json.Marshal(map[string]any{
			"@timestamp": ts.Timestamp,
			"message":    fmt.Sprintf("dead letter: HTTP %d %s: %s", d.res.Status, d.res.Type, d.res.Reason),
			"deadletter": map[string]any{
				"index": d.index, "id": d.id, "status": d.res.Status,
				"error_type": d.res.Type, "reason": d.res.Reason, "document": string(d.source),
			},
		})
		if err != nil {
			return fmt.Errorf("encoding dead letter: %w", err)
		}
		items[i] = item{index: d.index + "-deadletter", id: d.id, source: src}
	}
	failures := 0
	err := e.bulkChunks(ctx, h, items, func(it item, r itemResult) {
		switch r.outcome() {
		case outcomeCreated, outcomeDuplicate:
		default:
			failures++
			e.log.Warn("dead-letter index refused a record; it is in the dead-letter file",
				"index", it.index, "id", it.id, "status", r.Status, "reason", r.Reason)
		}
	})
	if err != nil {
		failures = len(items)
		e.log.Warn("writing to the dead-letter index failed; the records are in the dead-letter file", "error", err)
	}
	e.metrics.deadLetterIndexFailures.Add(float64(failures))
	return nil
}

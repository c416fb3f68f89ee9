package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/estatehq/estate/internal/delivery"
)

// Flavors of cluster.
const (
	FlavorElasticsearch = "elasticsearch"
	FlavorOpenSearch    = "opensearch"
)

// cluster is what GET / says about the server.
type cluster struct {
	Flavor       string
	Version      string
	Major, Minor int
	// OSS is an Elasticsearch without the default distribution's features
	// (ILM, flattened): build_flavor "oss", which includes the
	// Elasticsearch 7.10 domains of Amazon OpenSearch Service.
	OSS bool
}

// compatible reports whether the cluster understands the compatibility media
// type application/vnd.elasticsearch+json;compatible-with=8: Elasticsearch 8
// and later. 7.x and OpenSearch answer it with 406.
func (c cluster) compatible() bool { return c.Flavor == FlavorElasticsearch && c.Major >= 8 }

// ilm reports whether the cluster has index lifecycle management.
func (c cluster) ilm() bool { return c.Flavor == FlavorElasticsearch && !c.OSS }

// attributesType is the field type that takes arbitrary attribute maps
// without mapping conflicts: flattened on Elasticsearch (7.3+, default
// distribution), flat_object on OpenSearch 2.7+, else a dynamic object.
func (c cluster) attributesType() map[string]any {
	switch {
	case c.Flavor == FlavorElasticsearch && !c.OSS:
		// A leaf longer than Lucene's 32 KB term limit (a stack trace in
		// exception.stacktrace) would fail the whole document; past
		// ignore_above it stays in _source, unindexed.
		return map[string]any{"type": "flattened", "ignore_above": 8191}
	case c.Flavor == FlavorOpenSearch && (c.Major > 2 || (c.Major == 2 && c.Minor >= 7)):
		return map[string]any{"type": "flat_object"}
	default:
		return map[string]any{"type": "object", "dynamic": true}
	}
}

// headers are the media types for JSON and NDJSON requests to c. esapi
// hands a request's Header map to the transport, which adds to it: each
// request gets a clone.
type headers struct {
	json, ndjson http.Header
}

func headersFor(c cluster) headers {
	if c.compatible() {
		const accept = "application/vnd.elasticsearch+json; compatible-with=8"
		return headers{
			json:   http.Header{"Content-Type": {accept}, "Accept": {accept}},
			ndjson: http.Header{"Content-Type": {"application/vnd.elasticsearch+x-ndjson; compatible-with=8"}, "Accept": {accept}},
		}
	}
	return headers{
		json:   http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}},
		ndjson: http.Header{"Content-Type": {"application/x-ndjson"}, "Accept": {"application/json"}},
	}
}

// parseInfo reads the flavor and version from the body of GET /.
func parseInfo(body []byte) (cluster, error) {
	var info struct {
		Version struct {
			Number       string `json:"number"`
			Distribution string `json:"distribution"`
			BuildFlavor  string `json:"build_flavor"`
		} `json:"version"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return cluster{}, fmt.Errorf("decoding cluster info: %w", err)
	}
	c := cluster{Flavor: FlavorElasticsearch, Version: info.Version.Number, OSS: info.Version.BuildFlavor == "oss"}
	if info.Version.Distribution == "opensearch" {
		c.Flavor = FlavorOpenSearch
		c.OSS = false
	}
	parts := strings.SplitN(strings.SplitN(c.Version, "-", 2)[0], ".", 3)
	var err error
	if len(parts) < 2 {
		return cluster{}, fmt.Errorf("cluster version %q is not major.minor.patch", c.Version)
	}
	if c.Major, err = strconv.Atoi(parts[0]); err != nil {
		return cluster{}, fmt.Errorf("cluster version %q: %w", c.Version, err)
	}
	if c.Minor, err = strconv.Atoi(parts[1]); err != nil {
		return cluster{}, fmt.Errorf("cluster version %q: %w", c.Version, err)
	}
	if c.Flavor == FlavorElasticsearch && (c.Major < 7 || (c.Major == 7 && c.Minor < 10)) {
		return cluster{}, &delivery.PermanentError{Err: fmt.Errorf("elasticsearch %s is not supported: 7.10 or later is needed (data streams, composable templates)", c.Version)}
	}
	return c, nil
}

// detect asks the cluster what it is. The request carries plain JSON media
// types, which every version understands.
func (e *Exporter) detect(ctx context.Context) (cluster, error) {
	res, err := esapi.InfoRequest{Header: http.Header{"Accept": {"application/json"}}}.Do(ctx, e.tp)
	if err != nil {
		return cluster{}, fmt.Errorf("asking the cluster for its version: %w", err)
	}
	body, err := readBody(res)
	if err != nil {
		return cluster{}, err
	}
	if res.StatusCode != http.StatusOK {
		return cluster{}, e.statusError("GET /", res, body)
	}
	return parseInfo(body)
}

func readBody(res *esapi.Response) ([]byte, error) {
	defer func() { _ = res.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reading response: %w", err)
	}
	return b, nil
}

// template is the composable index template for the configured mode.
func (e *Exporter) template(c cluster) ([]byte, error) {
	keyword := map[string]any{"type": "keyword"}
	attrs := c.attributesType()
	mappings := map[string]any{
		"properties": map[string]any{
			"@timestamp": map[string]any{"type": "date_nanos"},
			"message":    map[string]any{"type": "text"},
			"log":        map[string]any{"properties": map[string]any{"level": keyword}},
			"service": map[string]any{"properties": map[string]any{
				"name": keyword, "namespace": keyword, "version": keyword, "environment": keyword,
			}},
			"trace": map[string]any{"properties": map[string]any{"id": keyword}},
			"span":  map[string]any{"properties": map[string]any{"id": keyword}},
			// One field for all labels, like attributes: a record with
			// many distinct keys cannot hit the index's field limit.
			"labels":     attrs,
			"attributes": attrs,
			"resource":   map[string]any{"properties": map[string]any{"attributes": attrs}},
			"scope":      map[string]any{"properties": map[string]any{"name": keyword, "version": keyword}},
			"data_stream": map[string]any{"properties": map[string]any{
				"type": keyword, "dataset": keyword, "namespace": keyword,
			}},
			"event": map[string]any{"properties": map[string]any{
				"created": map[string]any{"type": "date_nanos"}, "severity": map[string]any{"type": "long"},
			}},
			"deadletter": map[string]any{"properties": map[string]any{
				"index": keyword, "id": keyword, "status": map[string]any{"type": "short"},
				"error_type": keyword, "reason": map[string]any{"type": "text"},
				// Kept in _source only: a refused document is evidence, not data to search.
				"document": map[string]any{"type": "keyword", "index": false, "doc_values": false},
			}},
		},
	}
	body := map[string]any{"mappings": mappings}
	tmpl := map[string]any{
		"priority": 200, // above the built-in logs-*-* (100) of Elasticsearch
		"_meta":    map[string]any{"managed_by": "estate", "version": 1},
		"template": body,
	}
	if attrs["type"] == "object" {
		// Without flattened, labels are mapped key by key, as keywords.
		mappings["dynamic_templates"] = []any{
			map[string]any{"labels": map[string]any{"path_match": "labels.*", "mapping": keyword}},
		}
	}
	if e.cfg.Mode == ModeDataStream {
		tmpl["index_patterns"] = []string{"logs-estate.*-*"}
		tmpl["data_stream"] = map[string]any{}
	} else {
		tmpl["index_patterns"] = []string{"estate-logs-*"}
	}
	if c.ilm() && e.cfg.ILMDeleteAfter > 0 {
		body["settings"] = map[string]any{"index.lifecycle.name": e.cfg.TemplateName}
	}
	return json.Marshal(tmpl)
}

// policy is the ILM policy: roll data stream backing indices over daily or
// at 50 GB, delete them after ILMDeleteAfter. Daily indices have no
// rollover alias, so they only age out.
func (e *Exporter) policy() ([]byte, error) {
	hot := map[string]any{"actions": map[string]any{}}
	if e.cfg.Mode == ModeDataStream {
		// max_size rather than max_primary_shard_size: the latter needs 7.13.
		hot["actions"] = map[string]any{"rollover": map[string]any{"max_age": "1d", "max_size": "50gb"}}
	}
	return json.Marshal(map[string]any{"policy": map[string]any{
		"_meta": map[string]any{"managed_by": "estate"},
		"phases": map[string]any{
			"hot": hot,
			"delete": map[string]any{
				"min_age": fmt.Sprintf("%ds", int64(e.cfg.ILMDeleteAfter.Seconds())),
				"actions": map[string]any{"delete": map[string]any{}},
			},
		},
	}})
}

// install puts the ILM policy (where the cluster has ILM) and the index
// template in place when they are missing; existing ones are left as the
// operator may have tuned them.
func (e *Exporter) install(ctx context.Context, c cluster, h headers) error {
	if c.ilm() && e.cfg.ILMDeleteAfter > 0 {
		res, err := esapi.ILMGetLifecycleRequest{Policy: e.cfg.TemplateName, Header: h.json.Clone()}.Do(ctx, e.tp)
		if err != nil {
			return fmt.Errorf("looking up ILM policy: %w", err)
		}
		body, err := readBody(res)
		if err != nil {
			return err
		}
		switch res.StatusCode {
		case http.StatusOK:
		case http.StatusNotFound:
			p, err := e.policy()
			if err != nil {
				return err
			}
			res, err := esapi.ILMPutLifecycleRequest{Policy: e.cfg.TemplateName, Body: bytes.NewReader(p), Header: h.json.Clone()}.Do(ctx, e.tp)
			if err != nil {
				return fmt.Errorf("installing ILM policy: %w", err)
			}
			body, err := readBody(res)
			if err != nil {
				return err
			}
			if res.IsError() {
				return e.statusError("installing ILM policy", res, body)
			}
			e.log.Info("installed ILM policy", "policy", e.cfg.TemplateName)
		default:
			return e.statusError("looking up ILM policy", res, body)
		}
	}
	res, err := esapi.IndicesExistsIndexTemplateRequest{Name: e.cfg.TemplateName, Header: h.json.Clone()}.Do(ctx, e.tp)
	if err != nil {
		return fmt.Errorf("looking up index template: %w", err)
	}
	body, err := readBody(res)
	if err != nil {
		return err
	}
	switch res.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusNotFound:
	default:
		return e.statusError("looking up index template", res, body)
	}
	t, err := e.template(c)
	if err != nil {
		return err
	}
	res, err = esapi.IndicesPutIndexTemplateRequest{Name: e.cfg.TemplateName, Body: bytes.NewReader(t), Header: h.json.Clone()}.Do(ctx, e.tp)
	if err != nil {
		return fmt.Errorf("installing index template: %w", err)
	}
	body, err = readBody(res)
	if err != nil {
		return err
	}
	if res.IsError() {
		return e.statusError("installing index template", res, body)
	}
	e.log.Info("installed index template", "template", e.cfg.TemplateName)
	return nil
}

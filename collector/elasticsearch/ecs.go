package elasticsearch

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"math"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// document is one log record in the Elastic Common Schema. Typed attributes
// stay typed under attributes and resource.attributes; labels holds the
// scalar ones (resource and record) as strings with dots replaced by
// underscores, the ECS way, for filtering in Kibana. All three are mapped as
// single flattened fields where the cluster has them, so neither differing
// types of one key nor many distinct keys cause mapping errors.
type document struct {
	Timestamp  string            `json:"@timestamp"`
	Message    string            `json:"message,omitempty"`
	Log        *ecsLog           `json:"log,omitempty"`
	Service    ecsService        `json:"service"`
	Trace      *ecsID            `json:"trace,omitempty"`
	Span       *ecsID            `json:"span,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	Attributes map[string]any    `json:"attributes,omitempty"`
	Resource   *ecsResource      `json:"resource,omitempty"`
	Scope      *ecsScope         `json:"scope,omitempty"`
	DataStream *ecsDataStream    `json:"data_stream,omitempty"`
	Event      ecsEvent          `json:"event"`
}

type ecsLog struct {
	Level string `json:"level,omitempty"`
}

type ecsService struct {
	Name        string `json:"name"`
	Namespace   string `json:"namespace,omitempty"`
	Version     string `json:"version,omitempty"`
	Environment string `json:"environment,omitempty"`
}

type ecsID struct {
	ID string `json:"id"`
}

type ecsResource struct {
	Attributes map[string]any `json:"attributes,omitempty"`
}

type ecsScope struct {
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
}

type ecsDataStream struct {
	Type      string `json:"type"`
	Dataset   string `json:"dataset"`
	Namespace string `json:"namespace"`
}

type ecsEvent struct {
	// Created is the OTLP observed time, when the collector first saw it.
	Created  string `json:"created,omitempty"`
	Severity int32  `json:"severity,omitempty"`
}

const unknownService = "unknown"

// serviceName is the resource's service.name, or "unknown".
func serviceName(res pcommon.Resource) string {
	if v, ok := res.Attributes().Get("service.name"); ok && v.AsString() != "" {
		return v.AsString()
	}
	return unknownService
}

func strAttr(m pcommon.Map, key string) string {
	if v, ok := m.Get(key); ok {
		return v.AsString()
	}
	return ""
}

// severityLevel is the record's severity text, or the level its number
// stands for in the OTLP data model.
func severityLevel(lr plog.LogRecord) string {
	if t := lr.SeverityText(); t != "" {
		return strings.ToLower(t)
	}
	n := lr.SeverityNumber()
	switch {
	case n <= 0:
		return ""
	case n <= 4:
		return "trace"
	case n <= 8:
		return "debug"
	case n <= 12:
		return "info"
	case n <= 16:
		return "warn"
	case n <= 20:
		return "error"
	default:
		return "fatal"
	}
}

// recordTime is the time a record is filed under: its event time, else the
// time it was observed, else now. Only the last depends on the moment of
// export; a record with neither time that is replayed on another day lands
// in another daily index (data streams are unaffected).
func recordTime(lr plog.LogRecord, now func() time.Time) time.Time {
	if ts := lr.Timestamp(); ts != 0 {
		return ts.AsTime().UTC()
	}
	if ts := lr.ObservedTimestamp(); ts != 0 {
		return ts.AsTime().UTC()
	}
	return now().UTC()
}

// resourceDoc is what every document of one resource shares, computed once
// per resource.
type resourceDoc struct {
	service ecsService
	attrs   map[string]any    // read-only once built: shared by documents
	labels  map[string]string // copied into each document's labels
}

func newResourceDoc(res pcommon.Resource) resourceDoc {
	rattrs := res.Attributes()
	rd := resourceDoc{
		service: ecsService{
			Name:        serviceName(res),
			Namespace:   strAttr(rattrs, "service.namespace"),
			Version:     strAttr(rattrs, "service.version"),
			Environment: firstNonEmpty(strAttr(rattrs, "deployment.environment.name"), strAttr(rattrs, "deployment.environment")),
		},
		labels: map[string]string{},
	}
	if rattrs.Len() > 0 {
		rd.attrs = mapToJSON(rattrs)
	}
	addLabels(rd.labels, rattrs)
	return rd
}

func toDocument(rd resourceDoc, scope pcommon.InstrumentationScope, lr plog.LogRecord, ts time.Time) document {
	d := document{
		Timestamp: ts.Format(time.RFC3339Nano),
		Message:   lr.Body().AsString(),
		Service:   rd.service,
		Event:     ecsEvent{Severity: int32(lr.SeverityNumber())},
	}
	if ot := lr.ObservedTimestamp(); ot != 0 {
		d.Event.Created = ot.AsTime().UTC().Format(time.RFC3339Nano)
	}
	if lvl := severityLevel(lr); lvl != "" {
		d.Log = &ecsLog{Level: lvl}
	}
	if tid := lr.TraceID(); !tid.IsEmpty() {
		d.Trace = &ecsID{ID: hex.EncodeToString(tid[:])}
	}
	if sid := lr.SpanID(); !sid.IsEmpty() {
		d.Span = &ecsID{ID: hex.EncodeToString(sid[:])}
	}
	if rd.attrs != nil {
		d.Resource = &ecsResource{Attributes: rd.attrs}
	}
	if lr.Attributes().Len() > 0 {
		d.Attributes = mapToJSON(lr.Attributes())
	}
	if scope.Name() != "" || scope.Version() != "" {
		d.Scope = &ecsScope{Name: scope.Name(), Version: scope.Version()}
	}
	if len(rd.labels)+lr.Attributes().Len() > 0 {
		labels := make(map[string]string, len(rd.labels)+lr.Attributes().Len())
		for k, v := range rd.labels {
			labels[k] = v
		}
		addLabels(labels, lr.Attributes()) // the record's own attributes win
		if len(labels) > 0 {
			d.Labels = labels
		}
	}
	return d
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func addLabels(dst map[string]string, m pcommon.Map) {
	for k, v := range m.All() {
		switch v.Type() {
		case pcommon.ValueTypeStr, pcommon.ValueTypeInt, pcommon.ValueTypeDouble, pcommon.ValueTypeBool:
			dst[strings.ReplaceAll(k, ".", "_")] = v.AsString()
		}
	}
}

// mapToJSON converts attributes to values encoding/json can always encode:
// NaN and infinities become strings, bytes become base64.
func mapToJSON(m pcommon.Map) map[string]any {
	out := make(map[string]any, m.Len())
	for k, v := range m.All() {
		out[k] = valueToJSON(v)
	}
	return out
}

func valueToJSON(v pcommon.Value) any {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str()
	case pcommon.ValueTypeInt:
		return v.Int()
	case pcommon.ValueTypeDouble:
		f := v.Double()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return v.AsString()
		}
		return f
	case pcommon.ValueTypeBool:
		return v.Bool()
	case pcommon.ValueTypeMap:
		return mapToJSON(v.Map())
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		out := make([]any, s.Len())
		for i := range s.Len() {
			out[i] = valueToJSON(s.At(i))
		}
		return out
	case pcommon.ValueTypeBytes:
		return base64.StdEncoding.EncodeToString(v.Bytes().AsRaw())
	default:
		return nil
	}
}

// sanitizeName makes s usable inside an index or data stream name: lowercase
// letters, digits, _ and . only (a dash would split the data stream naming
// scheme's type-dataset-namespace), no leading _ or ., at most 100 bytes.
func sanitizeName(s, empty string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 100 {
			break
		}
	}
	out := strings.TrimLeft(b.String(), "_.")
	if out == "" {
		return empty
	}
	return out
}

// indexName is where a record of service at time ts goes.
func (c *Config) indexName(service string, ts time.Time) string {
	svc := sanitizeName(service, unknownService)
	if c.Mode == ModeDailyIndex {
		return "estate-logs-" + svc + "-" + ts.UTC().Format("2006.01.02")
	}
	return "logs-estate." + svc + "-" + c.Namespace
}

// idHasher computes deterministic document ids: a SHA-256 over the
// resource's protobuf encoding, then the scope's and the record's, so a
// record replayed from the queue gets the id it had the first time, and two
// records that differ in anything (attributes, times, flags, resource) get
// different ids.
type idHasher struct {
	resourceSum [32]byte
	marshaler   plog.ProtoMarshaler
	// scratch holds one scope and one record, overwritten for each record:
	// CopyTo replaces every field, so earlier contents never leak in.
	scratch plog.Logs
	scope   plog.ScopeLogs
	record  plog.LogRecord
}

func newIDHasher() *idHasher {
	h := &idHasher{scratch: plog.NewLogs()}
	h.scope = h.scratch.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	h.record = h.scope.LogRecords().AppendEmpty()
	return h
}

// setResource hashes the resource part once per ResourceLogs.
func (h *idHasher) setResource(rl plog.ResourceLogs) error {
	tmp := plog.NewLogs()
	r := tmp.ResourceLogs().AppendEmpty()
	rl.Resource().CopyTo(r.Resource())
	r.SetSchemaUrl(rl.SchemaUrl())
	b, err := h.marshaler.MarshalLogs(tmp)
	if err != nil {
		return err
	}
	h.resourceSum = sha256.Sum256(b)
	return nil
}

// setScope takes the scope part once per ScopeLogs.
func (h *idHasher) setScope(sl plog.ScopeLogs) {
	sl.Scope().CopyTo(h.scope.Scope())
	h.scope.SetSchemaUrl(sl.SchemaUrl())
}

func (h *idHasher) id(lr plog.LogRecord) (string, error) {
	lr.CopyTo(h.record)
	b, err := h.marshaler.MarshalLogs(h.scratch)
	if err != nil {
		return "", err
	}
	sum := sha256.New()
	sum.Write(h.resourceSum[:])
	sum.Write(b)
	return hex.EncodeToString(sum.Sum(nil)[:20]), nil
}

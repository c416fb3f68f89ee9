package otlp

import (
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/estatehq/estate/collector"
	"github.com/estatehq/estate/collector/redact"
)

// decoded is a request ready for the queue.
type decoded struct {
	// proto is the OTLP protobuf to queue; nil when there is nothing to.
	proto    []byte
	accepted int
	rejected int
	message  string
}

// codec is one signal's OTLP request and response handling.
type codec struct {
	signal collector.Signal
	// decode parses a request body and redacts it with red (nil redacts
	// nothing). A protobuf body is queued as is when nothing was rejected
	// or redacted.
	decode func(body []byte, isJSON bool, red *redact.Redactor) (decoded, error)
	// response encodes an ExportResponse with partial success.
	response func(rejected int, message string, isJSON bool) ([]byte, error)
}

const rejectedSpansMessage = "spans with an empty trace_id or span_id are invalid and were dropped"

var tracesCodec = codec{
	signal: collector.SignalTraces,
	decode: func(body []byte, isJSON bool, red *redact.Redactor) (decoded, error) {
		req := ptraceotlp.NewExportRequest()
		var err error
		if isJSON {
			err = req.UnmarshalJSON(body)
		} else {
			err = req.UnmarshalProto(body)
		}
		if err != nil {
			return decoded{}, err
		}
		return tracesDecoded(req, body, isJSON, red)
	},
	response: func(rejected int, message string, isJSON bool) ([]byte, error) {
		resp := ptraceotlp.NewExportResponse()
		if rejected > 0 {
			resp.PartialSuccess().SetRejectedSpans(int64(rejected))
			resp.PartialSuccess().SetErrorMessage(message)
		}
		if isJSON {
			return resp.MarshalJSON()
		}
		return resp.MarshalProto()
	},
}

// tracesDecoded refuses values nested deeper than the queue's readers
// take, drops invalid spans (the partial success), redacts and
// encodes what is left for the queue; body is reused when it is protobuf
// and whole.
func tracesDecoded(req ptraceotlp.ExportRequest, body []byte, isJSON bool, red *redact.Redactor) (decoded, error) {
	td := req.Traces()
	if err := checkTracesDepth(td); err != nil {
		return decoded{}, err
	}
	rejected := dropInvalidSpans(td)
	redacted := red.Traces(td) != nil
	d := decoded{accepted: td.SpanCount(), rejected: rejected}
	if rejected > 0 {
		d.message = rejectedSpansMessage
	}
	return encoded(d, rejected > 0 || redacted, req, body, isJSON)
}

// encoded is d with the protobuf to queue: body as received when it is
// protobuf and nothing changed, else req encoded again.
func encoded(d decoded, changed bool, req interface{ MarshalProto() ([]byte, error) }, body []byte, isJSON bool) (decoded, error) {
	if d.accepted == 0 {
		return d, nil
	}
	if !isJSON && !changed && body != nil {
		d.proto = body
		return d, nil
	}
	var err error
	d.proto, err = req.MarshalProto()
	return d, err
}

func dropInvalidSpans(td ptrace.Traces) int {
	n := 0
	rss := td.ResourceSpans()
	for i := range rss.Len() {
		sss := rss.At(i).ScopeSpans()
		for j := range sss.Len() {
			sss.At(j).Spans().RemoveIf(func(s ptrace.Span) bool {
				bad := s.TraceID().IsEmpty() || s.SpanID().IsEmpty()
				if bad {
					n++
				}
				return bad
			})
		}
	}
	return n
}

var logsCodec = codec{
	signal: collector.SignalLogs,
	decode: func(body []byte, isJSON bool, red *redact.Redactor) (decoded, error) {
		req := plogotlp.NewExportRequest()
		var err error
		if isJSON {
			err = req.UnmarshalJSON(body)
		} else {
			err = req.UnmarshalProto(body)
		}
		if err != nil {
			return decoded{}, err
		}
		return logsDecoded(req, body, isJSON, red)
	},
	response: func(rejected int, message string, isJSON bool) ([]byte, error) {
		resp := plogotlp.NewExportResponse()
		if rejected > 0 {
			resp.PartialSuccess().SetRejectedLogRecords(int64(rejected))
			resp.PartialSuccess().SetErrorMessage(message)
		}
		if isJSON {
			return resp.MarshalJSON()
		}
		return resp.MarshalProto()
	},
}

// logsDecoded refuses values nested too deeply, redacts the request and
// encodes it for the queue.
func logsDecoded(req plogotlp.ExportRequest, body []byte, isJSON bool, red *redact.Redactor) (decoded, error) {
	if err := checkLogsDepth(req.Logs()); err != nil {
		return decoded{}, err
	}
	redacted := red.Logs(req.Logs()) != nil
	return encoded(decoded{accepted: req.Logs().LogRecordCount()}, redacted, req, body, isJSON)
}

var metricsCodec = codec{
	signal: collector.SignalMetrics,
	decode: func(body []byte, isJSON bool, red *redact.Redactor) (decoded, error) {
		req := pmetricotlp.NewExportRequest()
		var err error
		if isJSON {
			err = req.UnmarshalJSON(body)
		} else {
			err = req.UnmarshalProto(body)
		}
		if err != nil {
			return decoded{}, err
		}
		return metricsDecoded(req, body, isJSON, red)
	},
	response: func(rejected int, message string, isJSON bool) ([]byte, error) {
		resp := pmetricotlp.NewExportResponse()
		if rejected > 0 {
			resp.PartialSuccess().SetRejectedDataPoints(int64(rejected))
			resp.PartialSuccess().SetErrorMessage(message)
		}
		if isJSON {
			return resp.MarshalJSON()
		}
		return resp.MarshalProto()
	},
}

// metricsDecoded refuses values nested too deeply, redacts the data
// points' attributes (never their values) and encodes the request for the
// queue.
func metricsDecoded(req pmetricotlp.ExportRequest, body []byte, isJSON bool, red *redact.Redactor) (decoded, error) {
	if err := checkMetricsDepth(req.Metrics()); err != nil {
		return decoded{}, err
	}
	redacted := red.Metrics(req.Metrics()) != nil
	return encoded(decoded{accepted: req.Metrics().DataPointCount()}, redacted, req, body, isJSON)
}

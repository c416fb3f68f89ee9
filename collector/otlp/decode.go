package otlp

import (
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/estatehq/estate/collector"
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
	// decode parses a request body. raw tells that body is protobuf that
	// may be queued as is when nothing was rejected.
	decode func(body []byte, isJSON bool) (decoded, error)
	// response encodes an ExportResponse with partial success.
	response func(rejected int, message string, isJSON bool) ([]byte, error)
}

const rejectedSpansMessage = "spans with an empty trace_id or span_id are invalid and were dropped"

var tracesCodec = codec{
	signal: collector.SignalTraces,
	decode: func(body []byte, isJSON bool) (decoded, error) {
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
		return tracesDecoded(req, body, isJSON)
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

// tracesDecoded drops invalid spans (the partial success) and encodes what
// is left for the queue; body is reused when it is protobuf and whole.
func tracesDecoded(req ptraceotlp.ExportRequest, body []byte, isJSON bool) (decoded, error) {
	td := req.Traces()
	rejected := dropInvalidSpans(td)
	d := decoded{accepted: td.SpanCount(), rejected: rejected}
	if rejected > 0 {
		d.message = rejectedSpansMessage
	}
	if d.accepted == 0 {
		return d, nil
	}
	if !isJSON && rejected == 0 && body != nil {
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
	decode: func(body []byte, isJSON bool) (decoded, error) {
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
		return logsDecoded(req.Logs(), req, body, isJSON)
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

func logsDecoded(ld plog.Logs, req plogotlp.ExportRequest, body []byte, isJSON bool) (decoded, error) {
	d := decoded{accepted: ld.LogRecordCount()}
	if d.accepted == 0 {
		return d, nil
	}
	if !isJSON && body != nil {
		d.proto = body
		return d, nil
	}
	var err error
	d.proto, err = req.MarshalProto()
	return d, err
}

var metricsCodec = codec{
	signal: collector.SignalMetrics,
	decode: func(body []byte, isJSON bool) (decoded, error) {
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
		d := decoded{accepted: req.Metrics().DataPointCount()}
		if d.accepted == 0 {
			return d, nil
		}
		if !isJSON {
			d.proto = body
			return d, nil
		}
		d.proto, err = req.MarshalProto()
		return d, err
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

package redact_test

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

const benchBatch = 100

// cpuSince adds to *total the CPU time used since *start and restarts it.
func cpuSince(total, start *time.Duration) {
	if now, ok := cpuTime(); ok {
		*total += now - *start
		*start = now
	}
}

// benchLogs is a batch as a service sends it: one resource, 100 records of
// a JSON line of about 230 bytes with six attributes; one record in
// `every` carries an email address and a card number (0: none does).
func benchLogs(every int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	res := rl.Resource().Attributes()
	res.PutStr("service.name", "invoicing")
	res.PutStr("service.version", "1.14.2")
	res.PutStr("deployment.environment.name", "production")
	res.PutStr("host.name", "invoicing-7d9f8b6c5-x2x4q")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("github.com/estatehq/estate/services/kit/telemetry")
	for i := range benchBatch {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetTraceID(pcommon.TraceID{1, 2, 3, byte(i)})
		body := fmt.Sprintf(`{"time":"2026-12-02T10:04:11.%03dZ","level":"INFO","msg":"request","method":"POST","route":"/v1/invoices/{id}/payments","status":201,"duration":"12.3ms","request_id":"0f6c1a2b3c4d5e6f%04d"}`, i, i)
		if every > 0 && i%every == 0 {
			body = fmt.Sprintf(`{"time":"2026-12-02T10:04:11.%03dZ","level":"WARN","msg":"payment refused","to":"ap%d@northwind.example","card":"4111 1111 1111 1111","invoice_id":"inv_01JDX4%04d"}`, i, i, i)
		}
		lr.Body().SetStr(body)
		attrs := lr.Attributes()
		attrs.PutStr("method", "POST")
		attrs.PutStr("route", "/v1/invoices/{id}/payments")
		attrs.PutStr("path", fmt.Sprintf("/v1/invoices/inv_01JDX4%04d/payments", i))
		attrs.PutInt("status", 201)
		attrs.PutInt("bytes", 512)
		attrs.PutStr("span_id", "eee19b7ec3c1b174")
	}
	return ld
}

// benchTraces is 100 server spans with the attributes otelhttp and the
// services set (14 each), one span in `every` carrying an Authorization
// header and a token in its URL (0: none does).
func benchTraces(every int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "credit")
	rs.Resource().Attributes().PutStr("service.version", "1.14.2")
	ss := rs.ScopeSpans().AppendEmpty()
	for i := range benchBatch {
		sp := ss.Spans().AppendEmpty()
		sp.SetName("POST /v1/businesses/{id}/drawdowns")
		a := sp.Attributes()
		a.PutStr("http.request.method", "POST")
		a.PutStr("url.scheme", "https")
		a.PutStr("url.path", fmt.Sprintf("/v1/businesses/biz_%04d/drawdowns", i))
		a.PutStr("http.route", "/v1/businesses/{id}/drawdowns")
		a.PutStr("server.address", "credit.estate.svc")
		a.PutInt("server.port", 8082)
		a.PutStr("network.peer.address", "10.42.3.17")
		a.PutInt("network.peer.port", 51234)
		a.PutStr("client.address", "10.42.3.17")
		a.PutStr("user_agent.original", "Go-http-client/2.0")
		a.PutStr("network.protocol.version", "2")
		a.PutInt("http.response.status_code", 201)
		a.PutInt("http.response.body.size", 312)
		a.PutStr("url.full", fmt.Sprintf("https://invoicing.estate.svc/v1/invoices/inv_%04d/financing/dd_%04d", i, i))
		if every > 0 && i%every == 0 {
			a.PutEmptySlice("http.request.header.authorization").AppendEmpty().SetStr("Bearer " + jwt)
			a.PutStr("url.full", "https://invoicing.estate.svc/v1/invoices?access_token="+jwt)
		}
	}
	return td
}

// BenchmarkLogs redacts batches of 100 log records with the default rules.
func BenchmarkLogs(b *testing.B) {
	for _, every := range []int{0, 20} {
		b.Run(fmt.Sprintf("personal_every=%d", every), func(b *testing.B) {
			r, _ := newRedactor(b, nil)
			benchRedact(b, "record", benchLogs(every), func(src plog.Logs) plog.Logs {
				ld := plog.NewLogs()
				src.CopyTo(ld)
				return ld
			}, func(ld plog.Logs) { r.Logs(ld) })
		})
	}
}

// BenchmarkTraces redacts batches of 100 spans with the default rules.
func BenchmarkTraces(b *testing.B) {
	for _, every := range []int{0, 20} {
		b.Run(fmt.Sprintf("secret_every=%d", every), func(b *testing.B) {
			r, _ := newRedactor(b, nil)
			benchRedact(b, "span", benchTraces(every), func(src ptrace.Traces) ptrace.Traces {
				td := ptrace.NewTraces()
				src.CopyTo(td)
				return td
			}, func(td ptrace.Traces) { r.Traces(td) })
		})
	}
}

// benchRedact redacts a fresh copy of src at each op. Copies are made 50
// at a time with the timer stopped, and the CPU time (user and system, so
// that a busy machine's waits do not count) is read around the redaction
// only, and reported per record (or span) beside the wall time. The
// garbage collector runs only between the timed stretches, so that
// collecting the copies is not counted.
func benchRedact[T any](b *testing.B, unit string, src T, copyOf func(T) T, redact func(T)) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	batches := make([]T, 50)
	fill := func() {
		clear(batches)
		runtime.GC()
		for i := range batches {
			batches[i] = copyOf(src)
		}
	}
	fill()
	b.ReportAllocs()
	var cpu time.Duration
	start, measured := cpuTime()
	next := 0
	for b.Loop() {
		if next == len(batches) {
			b.StopTimer()
			cpuSince(&cpu, &start)
			fill()
			start, _ = cpuTime()
			next = 0
			b.StartTimer()
		}
		redact(batches[next])
		next++
	}
	cpuSince(&cpu, &start)
	records := float64(b.N * benchBatch)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/records, "ns/"+unit)
	if measured {
		b.ReportMetric(float64(cpu.Nanoseconds())/records, "cpu-ns/"+unit)
	}
}

// BenchmarkDecodeLogs is what the receiver already pays for the same batch
// without redaction: decoding the OTLP protobuf, to set the figures above
// against.
func BenchmarkDecodeLogs(b *testing.B) {
	body, err := plogotlp.NewExportRequestFromLogs(benchLogs(0)).MarshalProto()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var cpu time.Duration
	start, measured := cpuTime()
	for b.Loop() {
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			b.Fatal(err)
		}
	}
	cpuSince(&cpu, &start)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/record")
	if measured {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*benchBatch), "cpu-ns/record")
	}
}

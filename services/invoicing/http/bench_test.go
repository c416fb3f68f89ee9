package http_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/estatehq/estate/services/invoicing/invoicingtest"
)

// Handler cost without the network, per backend: `go test
// ./services/invoicing/http -run '^$' -bench . -benchmem`. The fixed-rate
// figures of docs/benchmarks.md come from services/invoicing/bench.

func BenchmarkGetInvoice(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			e, alice, _, id := benchEnv(b, be.open)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r, _ := http.NewRequest("GET", e.url+"/v1/invoices/"+id, nil)
					r.Header.Set("Authorization", "Bearer "+alice.token)
					benchDo(b, e, r, 200)
				}
			})
		})
	}
}

func BenchmarkCreateInvoice(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			e, alice, bob, _ := benchEnv(b, be.open)
			body := `{"customer":"` + bob.id + `","currency":"eur","due_date":"2030-01-31","line_items":[{"description":"Design","quantity":3,"unit_amount":12345,"tax_rate":"20"}]}`
			var n atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r, _ := http.NewRequest("POST", e.url+"/v1/invoices", strings.NewReader(body))
					r.Header.Set("Authorization", "Bearer "+alice.token)
					r.Header.Set("Content-Type", "application/json")
					r.Header.Set("Idempotency-Key", fmt.Sprint("k", n.Add(1)))
					benchDo(b, e, r, 201)
				}
			})
		})
	}
}

func benchEnv(b *testing.B, open func(testing.TB) invoicingtest.Store) (*env, tenant, tenant, string) {
	e := newEnv(b, open(b))
	e.client.Transport = &http.Transport{MaxIdleConnsPerHost: 256}
	alice := e.register(b, "alice", "Alice")
	bob := e.register(b, "bob", "Bob")
	id := newOpen(b, e, alice, bob, 1000)
	return e, alice, bob, id
}

func benchDo(b *testing.B, e *env, r *http.Request, status int) {
	resp, err := e.client.Do(r)
	if err != nil {
		b.Error(err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != status {
		b.Errorf("status %d", resp.StatusCode)
	}
}

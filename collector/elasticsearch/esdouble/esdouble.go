// Package esdouble is a protocol double of Elasticsearch and OpenSearch: a
// real HTTP server on loopback that answers the small part of the REST API
// the log exporter uses, the way the documented API does. Elasticsearch
// cannot run on the machines the tests run on; this double is what tests run
// the official client against instead.
//
// What it speaks, and where it is faithful:
//
//   - GET / answers the cluster info document of the chosen flavor
//     (Elasticsearch 8.x, Elasticsearch 7.10, OpenSearch 2.x). Elasticsearch 8
//     sends the X-Elastic-Product: Elasticsearch header on every response;
//     7.10 and OpenSearch do not, exactly as the real servers.
//   - The compatibility media type (application/vnd.elasticsearch+json;
//     compatible-with=N) is accepted by the 8.x flavor for N of 7 or 8 and
//     refused with 406 by 7.10 and OpenSearch, which do not know it.
//   - POST /_bulk and /{index}/_bulk take NDJSON with create, index and
//     delete actions and answer per-item results in request order: create is
//     201, or 409 version_conflict_engine_exception when the id exists; the
//     top-level "errors" flag is true when any item failed. Writes to a name
//     that an index template with "data_stream" covers create the data stream;
//     data streams take only create and need @timestamp, as the real ones.
//   - A fault plan ([Plan]) decides the fate of single items before they are
//     applied (429, 503, 400 mapper_parsing_exception...); [Server.SetDown]
//     closes the listener (connection refused) and [Server.SetRequestStatus]
//     answers whole requests with an error status.
//   - PUT/GET/HEAD /_index_template/{name}, PUT/GET /_ilm/policy/{name}
//     (Elasticsearch flavors only; OpenSearch has no ILM and answers 400 "no
//     handler found"), PUT/GET /_data_stream/{name}, GET|POST /{index}/_count,
//     GET|POST /{index}/_search with match_all, ids or term-on-_id queries,
//     GET /{index}/_doc/{id} and POST /{index}/_refresh.
//   - Bodies over MaxContentLength are answered 413, as
//     http.max_content_length does; TLS serves HTTPS with a self-signed
//     certificate, for tests of a custom CA.
//   - Authentication, when configured: basic, ApiKey, or an AWS SigV4
//     Authorization header whose credential scope names the configured region
//     and service and whose X-Amz-Content-Sha256 matches the body.
//
// Documents are kept in memory per index (data streams under their own name).
// It is not a search engine: there is no mapping, no analysis and no scoring.
package esdouble

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
)

// Flavor is the product and version the double pretends to be.
type Flavor int

// Flavors.
const (
	Elasticsearch8 Flavor = iota
	Elasticsearch710
	OpenSearch2
)

func (f Flavor) String() string {
	switch f {
	case Elasticsearch710:
		return "elasticsearch-7.10"
	case OpenSearch2:
		return "opensearch-2"
	default:
		return "elasticsearch-8"
	}
}

// Auth is the authentication the double demands; the zero value demands none.
type Auth struct {
	Username, Password string
	// APIKey is the encoded key sent as "Authorization: ApiKey <APIKey>".
	APIKey string
	// SigV4Region and SigV4Service, when set, demand an AWS SigV4 signature
	// with that credential scope.
	SigV4Region, SigV4Service string
}

// Options configure a Server.
type Options struct {
	Flavor Flavor
	Auth   Auth
	// Now stamps backing index names; time.Now when nil.
	Now func() time.Time
	// TLS serves HTTPS with a self-signed certificate for 127.0.0.1, which
	// CACert returns.
	TLS bool
	// MaxContentLength answers larger request bodies with 413, as the
	// http.max_content_length setting does (100 MB by default); 0 is no
	// limit.
	MaxContentLength int
}

// Item is a bulk item as the fault plan sees it.
type Item struct {
	Action string // create, index or delete
	Index  string
	ID     string
	Source json.RawMessage
}

// Fault is the error answer given to one bulk item.
type Fault struct {
	Status int
	Type   string
	Reason string
}

// Plan decides the fate of each bulk item before it is applied: nil lets the
// item through. The server calls it under its lock, one item at a time, so a
// plan may keep state without locking.
type Plan func(Item) *Fault

// FailNext answers the next n items with status (429 or 503 give the error
// types Elasticsearch uses for them).
func FailNext(n, status int) Plan {
	left := n
	return func(Item) *Fault {
		if left <= 0 {
			return nil
		}
		left--
		return faultFor(status)
	}
}

// FailEvery answers every k-th item (counting from the first) with status,
// up to n times in total.
func FailEvery(k, n, status int) Plan {
	seen, failed := 0, 0
	return func(Item) *Fault {
		seen++
		if failed >= n || (seen-1)%k != 0 {
			return nil
		}
		failed++
		return faultFor(status)
	}
}

// RejectIDs answers items whose id satisfies match with 400
// mapper_parsing_exception, every time they are sent.
func RejectIDs(match func(id string) bool) Plan {
	return func(it Item) *Fault {
		if !match(it.ID) {
			return nil
		}
		return &Fault{Status: http.StatusBadRequest, Type: "mapper_parsing_exception",
			Reason: "failed to parse field [attributes.code] of type [long] in document with id '" + it.ID + "'"}
	}
}

// Chain asks each plan in turn; the first fault wins. Every plan sees every
// item until one answers.
func Chain(plans ...Plan) Plan {
	return func(it Item) *Fault {
		for _, p := range plans {
			if f := p(it); f != nil {
				return f
			}
		}
		return nil
	}
}

func faultFor(status int) *Fault {
	switch status {
	case http.StatusTooManyRequests:
		return &Fault{Status: status, Type: "es_rejected_execution_exception",
			Reason: "rejected execution of coordinating operation [shard_detail=[logs][0][P], shard_coordinating_and_primary_bytes=0, shard_operation_bytes=0, max_coordinating_and_primary_bytes=0]"}
	case http.StatusServiceUnavailable:
		return &Fault{Status: status, Type: "unavailable_shards_exception",
			Reason: "[logs][0] primary shard is not active Timeout: [1m]"}
	case http.StatusBadRequest:
		return &Fault{Status: status, Type: "mapper_parsing_exception", Reason: "failed to parse"}
	default:
		return &Fault{Status: status, Type: "exception", Reason: http.StatusText(status)}
	}
}

// Request is a request the double received, for assertions on headers.
type Request struct {
	Method, Path string
	Header       http.Header
}

type doc struct {
	source json.RawMessage
	seqNo  int
}

type index struct {
	docs       map[string]*doc
	dataStream bool
	backing    string
}

// Server is a running double. Its methods are safe for concurrent use.
type Server struct {
	opts   Options
	addr   string
	tls    *tls.Config
	caCert []byte

	mu            sync.Mutex
	srv           *http.Server
	ln            net.Listener
	conns         map[net.Conn]struct{}
	serveDone     chan struct{}
	plan          Plan
	requestStatus int
	indices       map[string]*index
	templates     map[string]json.RawMessage
	policies      map[string]json.RawMessage
	requests      []Request
	bulkItems     int
	seq           int
}

// Start starts a double on a free loopback port.
func Start(opts Options) (*Server, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:      opts,
		conns:     map[net.Conn]struct{}{},
		indices:   map[string]*index{},
		templates: map[string]json.RawMessage{},
		policies:  map[string]json.RawMessage{},
	}
	if opts.TLS {
		if err := s.selfSign(); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening: %w", err)
	}
	s.addr = ln.Addr().String()
	s.mu.Lock()
	s.serveLocked(ln)
	s.mu.Unlock()
	return s, nil
}

// URL is the base URL of the double, http(s)://127.0.0.1:port.
func (s *Server) URL() string {
	if s.tls != nil {
		return "https://" + s.addr
	}
	return "http://" + s.addr
}

// CACert is the PEM certificate a TLS double serves, to trust as a CA.
func (s *Server) CACert() []byte { return s.caCert }

func (s *Server) selfSign() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generating key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "esdouble"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("creating certificate: %w", err)
	}
	s.caCert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	s.tls = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
	}
	return nil
}

func (s *Server) serveLocked(ln net.Listener) {
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(c net.Conn, st http.ConnState) {
			s.mu.Lock()
			defer s.mu.Unlock()
			switch st {
			case http.StateNew:
				s.conns[c] = struct{}{}
			case http.StateClosed, http.StateHijacked:
				delete(s.conns, c)
			}
		},
	}
	done := make(chan struct{})
	s.serveDone = done
	srv := s.srv
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
}

// SetDown takes the server down (the listener is closed and every open
// connection dropped, so clients see connection refused) or brings it back
// on the same address.
func (s *Server) SetDown(down bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if down {
		if s.srv == nil {
			return nil
		}
		srv, done := s.srv, s.serveDone
		s.srv, s.ln = nil, nil
		s.mu.Unlock()
		err := srv.Close()
		<-done
		s.mu.Lock()
		return err
	}
	if s.srv != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listening again on %s: %w", s.addr, err)
	}
	s.serveLocked(ln)
	return nil
}

// Close stops the server for good.
func (s *Server) Close() error { return s.SetDown(true) }

// SetPlan installs the fault plan for bulk items; nil removes it.
func (s *Server) SetPlan(p Plan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plan = p
}

// SetRequestStatus answers every request with this status and an error
// body (429 es_rejected_execution_exception, 503...), as a cluster under
// pressure; 0 returns to normal.
func (s *Server) SetRequestStatus(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requestStatus = status
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// BulkItems is the number of bulk items received so far, faults included.
func (s *Server) BulkItems() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bulkItems
}

// Docs returns the documents of an index or data stream by id.
func (s *Server) Docs(name string) map[string]json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]json.RawMessage{}
	if ix := s.indices[name]; ix != nil {
		for id, d := range ix.docs {
			out[id] = d.source
		}
	}
	return out
}

// Indices lists the names of indices and data streams holding documents.
func (s *Server) Indices() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for n := range s.indices {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Template returns an installed index template.
func (s *Server) Template(name string) (json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.templates[name]
	return t, ok
}

// Policy returns an installed ILM policy.
func (s *Server) Policy(name string) (json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.policies[name]
	return p, ok
}

// IsDataStream reports whether name is a data stream.
func (s *Server) IsDataStream(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ix := s.indices[name]
	return ix != nil && ix.dataStream
}

type errorBody struct {
	Error  map[string]any `json:"error"`
	Status int            `json:"status"`
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) writeError(w http.ResponseWriter, status int, typ, reason string) {
	s.writeJSON(w, status, errorBody{
		Error: map[string]any{
			"root_cause": []map[string]any{{"type": typ, "reason": reason}},
			"type":       typ, "reason": reason,
		},
		Status: status,
	})
}

// ServeHTTP routes a request the way the REST API does.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.writeError(w, http.StatusBadRequest, "parse_exception", "reading body: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()})
	if s.opts.Flavor == Elasticsearch8 {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
	}
	if status, typ, reason := s.checkAuth(r, body); status != 0 {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="security" charset="UTF-8"`)
		}
		s.writeError(w, status, typ, reason)
		return
	}
	if status, reason := s.checkMediaType(r); status != 0 {
		s.writeError(w, status, "media_type_header_exception", reason)
		return
	}
	if s.opts.MaxContentLength > 0 && len(body) > s.opts.MaxContentLength {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	if s.requestStatus != 0 {
		f := faultFor(s.requestStatus)
		s.writeError(w, f.Status, f.Type, f.Reason)
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if parts[0] == "" {
		parts = nil
	}
	switch {
	case len(parts) == 0 && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		s.writeJSON(w, http.StatusOK, s.info())
	case len(parts) >= 1 && parts[len(parts)-1] == "_bulk" && len(parts) <= 2 && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		def := ""
		if len(parts) == 2 {
			def = parts[0]
		}
		s.handleBulk(w, r, def, body)
	case len(parts) == 2 && parts[0] == "_index_template":
		s.handleTemplate(w, r, parts[1], body)
	case len(parts) == 3 && parts[0] == "_ilm" && parts[1] == "policy" && s.opts.Flavor != OpenSearch2:
		s.handlePolicy(w, r, parts[2], body)
	case len(parts) == 2 && parts[0] == "_data_stream":
		s.handleDataStream(w, r, parts[1])
	case len(parts) == 2 && parts[1] == "_count":
		s.writeJSON(w, http.StatusOK, map[string]any{"count": len(s.match(parts[0], body)),
			"_shards": map[string]int{"total": 1, "successful": 1, "skipped": 0, "failed": 0}})
	case len(parts) == 2 && parts[1] == "_search":
		s.handleSearch(w, parts[0], body)
	case len(parts) == 2 && parts[1] == "_refresh":
		s.writeJSON(w, http.StatusOK, map[string]any{"_shards": map[string]int{"total": 1, "successful": 1, "failed": 0}})
	case len(parts) == 3 && parts[1] == "_doc" && r.Method == http.MethodGet:
		s.handleGetDoc(w, parts[0], parts[2])
	default:
		s.writeError(w, http.StatusBadRequest, "illegal_argument_exception",
			fmt.Sprintf("no handler found for uri [%s] and method [%s]", r.URL.Path, r.Method))
	}
}

func (s *Server) info() map[string]any {
	switch s.opts.Flavor {
	case OpenSearch2:
		return map[string]any{
			"name": "esdouble", "cluster_name": "esdouble", "cluster_uuid": "esdouble-uuid",
			"version": map[string]any{
				"distribution": "opensearch", "number": "2.19.0", "build_type": "tar",
				"lucene_version": "9.12.1", "minimum_wire_compatibility_version": "7.10.0",
				"minimum_index_compatibility_version": "7.0.0",
			},
			"tagline": "The OpenSearch Project: https://opensearch.org/",
		}
	case Elasticsearch710:
		return map[string]any{
			"name": "esdouble", "cluster_name": "esdouble", "cluster_uuid": "esdouble-uuid",
			"version": map[string]any{
				"number": "7.10.2", "build_flavor": "default", "build_type": "tar",
				"lucene_version": "8.7.0", "minimum_wire_compatibility_version": "6.8.0",
				"minimum_index_compatibility_version": "6.0.0-beta1",
			},
			"tagline": "You Know, for Search",
		}
	default:
		return map[string]any{
			"name": "esdouble", "cluster_name": "esdouble", "cluster_uuid": "esdouble-uuid",
			"version": map[string]any{
				"number": "8.19.0", "build_flavor": "default", "build_type": "tar",
				"lucene_version": "9.12.2", "minimum_wire_compatibility_version": "7.17.0",
				"minimum_index_compatibility_version": "7.0.0",
			},
			"tagline": "You Know, for Search",
		}
	}
}

func (s *Server) checkMediaType(r *http.Request) (int, string) {
	for _, h := range []string{"Content-Type", "Accept"} {
		v := r.Header.Get(h)
		if !strings.Contains(v, "vnd.elasticsearch") {
			continue
		}
		if s.opts.Flavor != Elasticsearch8 {
			return http.StatusNotAcceptable, fmt.Sprintf("%s header [%s] is not supported", h, v)
		}
		if !strings.Contains(v, "compatible-with=8") && !strings.Contains(v, "compatible-with=7") {
			return http.StatusBadRequest, fmt.Sprintf("A compatible version is required on both Content-Type and Accept headers if either one has requested a compatible-api response. Accept=%s", v)
		}
	}
	return 0, ""
}

func (s *Server) checkAuth(r *http.Request, body []byte) (int, string, string) {
	a := s.opts.Auth
	if a == (Auth{}) {
		return 0, "", ""
	}
	h := r.Header.Get("Authorization")
	ok := false
	switch {
	case a.SigV4Region != "":
		ok = checkSigV4(r, h, body, a.SigV4Region, a.SigV4Service)
	default:
		// Authentication schemes are case-insensitive (RFC 9110 11.1):
		// Elasticsearch takes "ApiKey" and the Go client sends "APIKey".
		scheme, cred, _ := strings.Cut(h, " ")
		if a.Username != "" && strings.EqualFold(scheme, "Basic") {
			ok = ok || cred == base64.StdEncoding.EncodeToString([]byte(a.Username+":"+a.Password))
		}
		if a.APIKey != "" && strings.EqualFold(scheme, "ApiKey") {
			ok = ok || cred == a.APIKey
		}
	}
	if ok {
		return 0, "", ""
	}
	if h == "" {
		return http.StatusUnauthorized, "security_exception", "missing authentication credentials for REST request [" + r.URL.Path + "]"
	}
	if a.SigV4Region != "" {
		return http.StatusForbidden, "security_exception", "The request signature we calculated does not match the signature you provided."
	}
	return http.StatusUnauthorized, "security_exception", "unable to authenticate user for REST request [" + r.URL.Path + "]"
}

func checkSigV4(r *http.Request, h string, body []byte, region, service string) bool {
	const prefix = "AWS4-HMAC-SHA256 Credential="
	if !strings.HasPrefix(h, prefix) || r.Header.Get("X-Amz-Date") == "" {
		return false
	}
	cred, _, _ := strings.Cut(strings.TrimPrefix(h, prefix), ",")
	// AKID/date/region/service/aws4_request
	scope := strings.Split(cred, "/")
	if len(scope) != 5 || scope[2] != region || scope[3] != service || scope[4] != "aws4_request" {
		return false
	}
	if !strings.Contains(h, "SignedHeaders=") || !strings.Contains(h, "Signature=") {
		return false
	}
	sum := sha256.Sum256(body)
	return r.Header.Get("X-Amz-Content-Sha256") == hex.EncodeToString(sum[:])
}

func (s *Server) dataStreamTemplate(name string) bool {
	best, bestPrio := false, -1
	for _, raw := range s.templates {
		var t struct {
			IndexPatterns []string        `json:"index_patterns"`
			DataStream    json.RawMessage `json:"data_stream"`
			Priority      int             `json:"priority"`
		}
		if json.Unmarshal(raw, &t) != nil {
			continue
		}
		for _, p := range t.IndexPatterns {
			if ok, _ := path.Match(p, name); ok && t.Priority > bestPrio {
				best, bestPrio = t.DataStream != nil && string(t.DataStream) != "null", t.Priority
			}
		}
	}
	return best
}

func (s *Server) ensureIndex(name string) *index {
	if ix := s.indices[name]; ix != nil {
		return ix
	}
	ix := &index{docs: map[string]*doc{}}
	if s.dataStreamTemplate(name) {
		ix.dataStream = true
		ix.backing = fmt.Sprintf(".ds-%s-%s-000001", name, s.opts.Now().UTC().Format("2006.01.02"))
	}
	s.indices[name] = ix
	return ix
}

type bulkAction struct {
	Index string `json:"_index"`
	ID    string `json:"_id"`
}

func (s *Server) handleBulk(w http.ResponseWriter, r *http.Request, defIndex string, body []byte) {
	start := time.Now()
	var items []map[string]any
	anyErr := false
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 100<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var action map[string]bulkAction
		if err := json.Unmarshal(line, &action); err != nil || len(action) != 1 {
			s.writeError(w, http.StatusBadRequest, "illegal_argument_exception", "Malformed action/metadata line ["+fmt.Sprint(len(items)+1)+"], expected START_OBJECT or END_OBJECT")
			return
		}
		var op string
		var meta bulkAction
		for k, v := range action {
			op, meta = k, v
		}
		var source json.RawMessage
		if op != "delete" {
			if !sc.Scan() {
				s.writeError(w, http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: no requests added;")
				return
			}
			source = append(json.RawMessage(nil), bytes.TrimSpace(sc.Bytes())...)
		}
		if meta.Index == "" {
			meta.Index = defIndex
		}
		res := s.applyItem(op, meta, source)
		if _, failed := res["error"]; failed {
			anyErr = true
		}
		items = append(items, map[string]any{op: res})
	}
	if err := sc.Err(); err != nil {
		s.writeError(w, http.StatusBadRequest, "parse_exception", err.Error())
		return
	}
	if len(items) == 0 {
		s.writeError(w, http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: no requests added;")
		return
	}
	s.writeJSON(w, http.StatusOK, map[string]any{
		"took": time.Since(start).Milliseconds(), "errors": anyErr, "items": items,
	})
}

func itemError(meta bulkAction, status int, typ, reason string) map[string]any {
	return map[string]any{
		"_index": meta.Index, "_id": meta.ID, "status": status,
		"error": map[string]any{"type": typ, "reason": reason, "index": meta.Index},
	}
}

func (s *Server) applyItem(op string, meta bulkAction, source json.RawMessage) map[string]any {
	s.bulkItems++
	switch op {
	case "create", "index", "delete":
	default:
		return itemError(meta, http.StatusBadRequest, "illegal_argument_exception", "Malformed action/metadata line, expected field [create], [delete], [index] or [update] but found ["+op+"]")
	}
	if meta.Index == "" {
		return itemError(meta, http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: index is missing;")
	}
	if s.plan != nil {
		if f := s.plan(Item{Action: op, Index: meta.Index, ID: meta.ID, Source: source}); f != nil {
			return itemError(meta, f.Status, f.Type, f.Reason)
		}
	}
	if op != "delete" && !json.Valid(source) {
		return itemError(meta, http.StatusBadRequest, "mapper_parsing_exception", "failed to parse")
	}
	ix := s.ensureIndex(meta.Index)
	respIndex := meta.Index
	if ix.dataStream {
		respIndex = ix.backing
		if op != "create" {
			return itemError(meta, http.StatusBadRequest, "illegal_argument_exception",
				"only write ops with an op_type of create are allowed in data streams")
		}
		var ts struct {
			Timestamp json.RawMessage `json:"@timestamp"`
		}
		if json.Unmarshal(source, &ts) != nil || ts.Timestamp == nil {
			return itemError(meta, http.StatusBadRequest, "document_parsing_exception",
				"[1:1] failed to parse: data stream timestamp field [@timestamp] is missing")
		}
	}
	if meta.ID == "" {
		s.seq++
		meta.ID = fmt.Sprintf("auto-%d", s.seq)
	}
	ok := func(status int, result string, version int) map[string]any {
		s.seq++
		return map[string]any{
			"_index": respIndex, "_id": meta.ID, "_version": version, "result": result,
			"_shards": map[string]int{"total": 2, "successful": 1, "failed": 0},
			"_seq_no": s.seq, "_primary_term": 1, "status": status,
		}
	}
	existing := ix.docs[meta.ID]
	switch op {
	case "create":
		if existing != nil {
			res := itemError(meta, http.StatusConflict, "version_conflict_engine_exception",
				fmt.Sprintf("[%s]: version conflict, document already exists (current version [1])", meta.ID))
			res["_index"] = respIndex
			return res
		}
		ix.docs[meta.ID] = &doc{source: source, seqNo: s.seq}
		return ok(http.StatusCreated, "created", 1)
	case "index":
		ix.docs[meta.ID] = &doc{source: source, seqNo: s.seq}
		if existing != nil {
			return ok(http.StatusOK, "updated", 2)
		}
		return ok(http.StatusCreated, "created", 1)
	default: // delete
		if existing == nil {
			return ok(http.StatusNotFound, "not_found", 1)
		}
		delete(ix.docs, meta.ID)
		return ok(http.StatusOK, "deleted", 2)
	}
}

func (s *Server) handleTemplate(w http.ResponseWriter, r *http.Request, name string, body []byte) {
	switch r.Method {
	case http.MethodPut, http.MethodPost:
		var t struct {
			IndexPatterns []string `json:"index_patterns"`
		}
		if err := json.Unmarshal(body, &t); err != nil || len(t.IndexPatterns) == 0 {
			s.writeError(w, http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: index patterns are missing;")
			return
		}
		if r.URL.Query().Get("create") == "true" {
			if _, ok := s.templates[name]; ok {
				s.writeError(w, http.StatusBadRequest, "illegal_argument_exception", "index template ["+name+"] already exists")
				return
			}
		}
		s.templates[name] = append(json.RawMessage(nil), body...)
		s.writeJSON(w, http.StatusOK, map[string]bool{"acknowledged": true})
	case http.MethodHead:
		if _, ok := s.templates[name]; !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusOK)
	case http.MethodGet:
		t, ok := s.templates[name]
		if !ok {
			s.writeError(w, http.StatusNotFound, "resource_not_found_exception", "index template matching ["+name+"] not found")
			return
		}
		s.writeJSON(w, http.StatusOK, map[string]any{"index_templates": []map[string]any{{"name": name, "index_template": t}}})
	case http.MethodDelete:
		delete(s.templates, name)
		s.writeJSON(w, http.StatusOK, map[string]bool{"acknowledged": true})
	default:
		s.writeError(w, http.StatusMethodNotAllowed, "illegal_argument_exception", "method not allowed")
	}
}

func (s *Server) handlePolicy(w http.ResponseWriter, r *http.Request, name string, body []byte) {
	switch r.Method {
	case http.MethodPut:
		var p struct {
			Policy json.RawMessage `json:"policy"`
		}
		if err := json.Unmarshal(body, &p); err != nil || p.Policy == nil {
			s.writeError(w, http.StatusBadRequest, "x_content_parse_exception", "[put_lifecycle_request] policy is missing")
			return
		}
		s.policies[name] = append(json.RawMessage(nil), body...)
		s.writeJSON(w, http.StatusOK, map[string]bool{"acknowledged": true})
	case http.MethodGet:
		p, ok := s.policies[name]
		if !ok {
			s.writeError(w, http.StatusNotFound, "resource_not_found_exception", "Lifecycle policy not found: "+name)
			return
		}
		s.writeJSON(w, http.StatusOK, map[string]any{name: map[string]any{"version": 1, "policy": p}})
	default:
		s.writeError(w, http.StatusMethodNotAllowed, "illegal_argument_exception", "method not allowed")
	}
}

func (s *Server) handleDataStream(w http.ResponseWriter, r *http.Request, name string) {
	switch r.Method {
	case http.MethodPut:
		if ix := s.indices[name]; ix != nil {
			s.writeError(w, http.StatusBadRequest, "resource_already_exists_exception", "data_stream ["+name+"] already exists")
			return
		}
		if !s.dataStreamTemplate(name) {
			s.writeError(w, http.StatusBadRequest, "illegal_argument_exception", "no matching index template found for data stream ["+name+"]")
			return
		}
		s.ensureIndex(name)
		s.writeJSON(w, http.StatusOK, map[string]bool{"acknowledged": true})
	case http.MethodGet:
		var out []map[string]any
		for n, ix := range s.indices {
			if ok, _ := path.Match(name, n); ok && ix.dataStream {
				out = append(out, map[string]any{
					"name": n, "timestamp_field": map[string]string{"name": "@timestamp"},
					"indices": []map[string]string{{"index_name": ix.backing}}, "generation": 1, "status": "GREEN",
				})
			}
		}
		if len(out) == 0 && !strings.Contains(name, "*") {
			s.writeError(w, http.StatusNotFound, "index_not_found_exception", "no such index ["+name+"]")
			return
		}
		s.writeJSON(w, http.StatusOK, map[string]any{"data_streams": out})
	default:
		s.writeError(w, http.StatusMethodNotAllowed, "illegal_argument_exception", "method not allowed")
	}
}

type hit struct {
	index, id string
	source    json.RawMessage
	seqNo     int
}

// match returns the documents of the indices named by target (comma
// separated, wildcards allowed) that the query in body selects.
func (s *Server) match(target string, body []byte) []hit {
	var q struct {
		Query struct {
			IDs *struct {
				Values []string `json:"values"`
			} `json:"ids"`
			Term map[string]json.RawMessage `json:"term"`
		} `json:"query"`
	}
	_ = json.Unmarshal(body, &q)
	var ids map[string]bool
	if q.Query.IDs != nil {
		ids = map[string]bool{}
		for _, v := range q.Query.IDs.Values {
			ids[v] = true
		}
	} else if raw, ok := q.Query.Term["_id"]; ok {
		var v string
		if json.Unmarshal(raw, &v) != nil {
			var obj struct {
				Value string `json:"value"`
			}
			_ = json.Unmarshal(raw, &obj)
			v = obj.Value
		}
		ids = map[string]bool{v: true}
	}
	var out []hit
	for _, pat := range strings.Split(target, ",") {
		for name, ix := range s.indices {
			if ok, _ := path.Match(pat, name); !ok && pat != "_all" {
				continue
			}
			idx := name
			if ix.dataStream {
				idx = ix.backing
			}
			for id, d := range ix.docs {
				if ids == nil || ids[id] {
					out = append(out, hit{index: idx, id: id, source: d.source, seqNo: d.seqNo})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seqNo < out[j].seqNo })
	return out
}

func (s *Server) handleSearch(w http.ResponseWriter, target string, body []byte) {
	var q struct {
		Size *int `json:"size"`
	}
	_ = json.Unmarshal(body, &q)
	size := 10
	if q.Size != nil {
		size = *q.Size
	}
	all := s.match(target, body)
	hits := make([]map[string]any, 0, size)
	for i, h := range all {
		if i >= size {
			break
		}
		hits = append(hits, map[string]any{"_index": h.index, "_id": h.id, "_score": 1.0, "_source": h.source})
	}
	s.writeJSON(w, http.StatusOK, map[string]any{
		"took": 1, "timed_out": false,
		"_shards": map[string]int{"total": 1, "successful": 1, "skipped": 0, "failed": 0},
		"hits": map[string]any{
			"total":     map[string]any{"value": len(all), "relation": "eq"},
			"max_score": 1.0, "hits": hits,
		},
	})
}

func (s *Server) handleGetDoc(w http.ResponseWriter, name, id string) {
	ix := s.indices[name]
	if ix == nil {
		s.writeError(w, http.StatusNotFound, "index_not_found_exception", "no such index ["+name+"]")
		return
	}
	d := ix.docs[id]
	if d == nil {
		s.writeJSON(w, http.StatusNotFound, map[string]any{"_index": name, "_id": id, "found": false})
		return
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"_index": name, "_id": id, "_version": 1, "found": true, "_source": d.source})
}

// WaitIdle waits until no connection is open, for leak checks at the end of
// a test.
func (s *Server) WaitIdle(ctx context.Context) error {
	for {
		s.mu.Lock()
		n := len(s.conns)
		s.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("connections still open")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

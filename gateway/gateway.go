// Package gateway writes the OpenAPI document that configures AWS API
// Gateway (an HTTP API) in front of the services on Kubernetes, from the
// services' own documents: every operation of every service becomes a
// route with a private integration (HTTP proxy through a VPC link to the
// internal load balancer that reaches the service), the routes that need
// a bearer token get a JWT authorizer for the OIDC issuer and audience
// (with the scopes the operation requires), and the routes outside the
// bearer-token API (a payment provider's webhook) get none: the service
// authenticates those itself.
//
// API Gateway imports OpenAPI 3.0, and the services serve 3.1: the
// documents are converted (downgrade) and the result is checked with
// kin-openapi before it is returned.
//
// The extensions written are API Gateway's: x-amazon-apigateway-integration
// on each operation, x-amazon-apigateway-authorizer on the security scheme,
// x-amazon-apigateway-cors at the root when origins are given.
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// Service is one service behind the gateway.
type Service struct {
	// Name is the service's name, as --integration-uri NAME=URI names it.
	Name string
	// Document is its OpenAPI 3.1 document, as it serves it (JSON).
	Document []byte
}

// Config is what the gateway needs to know of the deployment.
type Config struct {
	// Title names the API in API Gateway.
	Title string
	// Issuer is the OIDC issuer of the tokens (the iss claim), an https URL.
	Issuer string
	// Audience lists, comma-separated, the accepted aud or client_id values.
	Audience string
	// VPCLinkID is the VPC link to the load balancer (or a stage variable
	// reference, ${stageVariables.NAME}).
	VPCLinkID string
	// IntegrationURIs is the integration of each service: the ARN of the
	// internal load balancer's listener (or of a Cloud Map service) its
	// requests go to. The entry of the empty name is every other service's.
	IntegrationURIs IntegrationURIs
	// Stage is the stage the API is deployed to. Another stage than
	// $default prefixes the path of the requests API Gateway receives; the
	// integrations then send the path without it.
	Stage string
	// TLSServerName is the name API Gateway verifies on the load
	// balancer's certificate, for an HTTPS listener; empty for HTTP.
	TLSServerName string
	// CORSOrigins are the browser origins allowed to call the API; none
	// leaves CORS off.
	CORSOrigins Strings
}

// DefaultStage is API Gateway's stage served at the root of the API's URL.
const DefaultStage = "$default"

// RegisterFlags sets the defaults and binds the flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Title, "title", "Estate", "name of the API in API Gateway")
	fs.StringVar(&c.Issuer, "issuer", "", "OIDC issuer URL whose tokens the JWT authorizer accepts (the iss claim); the services' auth.issuer")
	fs.StringVar(&c.Audience, "audience", "", "accepted aud or client_id values, comma-separated; the services' auth.audience")
	fs.StringVar(&c.VPCLinkID, "vpc-link-id", "", "ID of the VPC link to the internal load balancer, or ${stageVariables.NAME}")
	c.IntegrationURIs = IntegrationURIs{}
	fs.Var(c.IntegrationURIs, "integration-uri", "ARN of the load balancer listener (or Cloud Map service) the services' requests go to; SERVICE=ARN for one service (repeatable)")
	fs.StringVar(&c.Stage, "stage", DefaultStage, "stage the API is deployed to")
	fs.StringVar(&c.TLSServerName, "tls-server-name", "", "name to verify on the load balancer's certificate, for an HTTPS listener")
	fs.Var(&c.CORSOrigins, "cors-origin", "browser origin allowed to call the API, such as https://app.example.com (repeatable); none leaves CORS off")
}

var (
	stageName   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	vpcLinkID   = regexp.MustCompile(`^([a-z0-9]{1,64}|\$\{stageVariables\.[A-Za-z0-9_]+\})$`)
	serviceName = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
)

// Validate names each field at fault; services are the names of the
// services the document is for, each of which needs an integration.
func (c *Config) Validate(services []string) error {
	var errs []error
	if strings.TrimSpace(c.Title) == "" {
		errs = append(errs, errors.New("title: must not be empty"))
	}
	if u, err := url.Parse(c.Issuer); err != nil || u.Scheme != "https" || u.Host == "" {
		errs = append(errs, fmt.Errorf("issuer: must be an https URL, not %q", c.Issuer))
	}
	if len(c.audiences()) == 0 {
		errs = append(errs, errors.New("audience: must name at least one audience"))
	}
	if !vpcLinkID.MatchString(c.VPCLinkID) {
		errs = append(errs, fmt.Errorf("vpc_link_id: must be a VPC link ID or ${stageVariables.NAME}, not %q", c.VPCLinkID))
	}
	for name, uri := range c.IntegrationURIs {
		if name != "" && !slices.Contains(services, name) {
			errs = append(errs, fmt.Errorf("integration_uri: no service is named %q (services: %s)", name, strings.Join(services, ", ")))
		}
		if !strings.HasPrefix(uri, "arn:") {
			errs = append(errs, fmt.Errorf("integration_uri: must be the ARN of a load balancer listener or a Cloud Map service, not %q", uri))
		}
	}
	for _, name := range services {
		if c.IntegrationURIs.of(name) == "" {
			errs = append(errs, fmt.Errorf("integration_uri: the %s service has none: give ARN for every service, or %s=ARN", name, name))
		}
	}
	if c.Stage != DefaultStage && !stageName.MatchString(c.Stage) {
		errs = append(errs, fmt.Errorf("stage: must be %s or a name of letters, digits, - and _, not %q", DefaultStage, c.Stage))
	}
	if strings.ContainsAny(c.TLSServerName, " /:") {
		errs = append(errs, fmt.Errorf("tls_server_name: must be a host name, not %q", c.TLSServerName))
	}
	for _, o := range c.CORSOrigins {
		if u, err := url.Parse(o); o != "*" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/")) {
			errs = append(errs, fmt.Errorf("cors_origin: must be an origin such as https://app.example.com, or *, not %q", o))
		}
	}
	return errors.Join(errs...)
}

func (c *Config) audiences() []string {
	var out []string
	for a := range strings.SplitSeq(c.Audience, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// IntegrationURIs maps a service to its integration URI; the empty name is
// the default. As a flag, it takes URI or NAME=URI.
type IntegrationURIs map[string]string

func (m IntegrationURIs) String() string {
	var parts []string
	for name, uri := range m {
		if name == "" {
			parts = append(parts, uri)
		} else {
			parts = append(parts, name+"="+uri)
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// Set adds URI (every service's) or NAME=URI. An ARN has no "=", so a
// value is NAME=URI when what comes before its first "=" is a name.
func (m IntegrationURIs) Set(v string) error {
	name, uri, ok := strings.Cut(v, "=")
	if !ok || !serviceName.MatchString(name) {
		name, uri = "", v
	}
	if uri == "" {
		return errors.New("empty URI")
	}
	if _, dup := m[name]; dup {
		if name == "" {
			return errors.New("a default URI is given twice")
		}
		return fmt.Errorf("the %s service's URI is given twice", name)
	}
	m[name] = uri
	return nil
}

func (m IntegrationURIs) of(service string) string {
	if uri, ok := m[service]; ok {
		return uri
	}
	return m[""]
}

// Strings is a repeatable string flag.
type Strings []string

func (s *Strings) String() string { return strings.Join(*s, ",") }

// Set adds a value.
func (s *Strings) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// The names this package writes into the document.
const (
	// authorizer names the JWT authorizer (the security scheme).
	authorizer = "jwt"
	// scopesExtension lists the scopes an operation requires, as the
	// services write it (services/kit/httpapi.ScopesExtension).
	scopesExtension = "x-required-scopes"

	integrationExtension = "x-amazon-apigateway-integration"
	authorizerExtension  = "x-amazon-apigateway-authorizer"
	corsExtension        = "x-amazon-apigateway-cors"
)

// Export returns the gateway document (indented JSON) of services, checked
// with kin-openapi. It fails when cfg is invalid, when a service's
// document cannot be said in OpenAPI 3.0, or when two services declare the
// same route (method and path, whatever its parameters are named).
func Export(cfg Config, services []Service) ([]byte, error) {
	names := make([]string, len(services))
	for i, s := range services {
		names[i] = s.Name
	}
	if err := cfg.Validate(names); err != nil {
		return nil, err
	}
	out := &openapi3.T{
		OpenAPI: openAPIVersion,
		Info: &openapi3.Info{Title: cfg.Title, Description: "The Estate APIs behind API Gateway, written by `estate gateway export` " +
			"from the OpenAPI documents of the services (" + strings.Join(names, ", ") + ")."},
		Paths: openapi3.NewPaths(),
		Components: &openapi3.Components{Schemas: openapi3.Schemas{}, SecuritySchemes: openapi3.SecuritySchemes{
			authorizer: {Value: cfg.securityScheme()},
		}},
	}
	m := merger{out: out, cfg: cfg, routes: map[string]string{}, opIDs: map[string]string{}, schemaOf: map[string]string{}}
	var versions []string
	for _, s := range services {
		doc, err := load(s)
		if err != nil {
			return nil, err
		}
		if err := m.add(s.Name, doc); err != nil {
			return nil, err
		}
		versions = append(versions, s.Name+" "+doc.Info.Version)
		if out.Info.Contact == nil {
			out.Info.Contact, out.Info.License = doc.Info.Contact, doc.Info.License
		}
	}
	out.Info.Version = strings.Join(versions, ", ")
	out.Servers = openapi3.Servers{cfg.server()}
	if len(cfg.CORSOrigins) > 0 {
		out.Extensions = map[string]any{corsExtension: m.cors()}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the gateway document: %w", err)
	}
	if err := check(b); err != nil {
		return nil, fmt.Errorf("the gateway document is not valid OpenAPI 3.0: %w", err)
	}
	return append(b, '\n'), nil
}

func (c *Config) securityScheme() *openapi3.SecurityScheme {
	issuer := strings.TrimSuffix(c.Issuer, "/")
	return &openapi3.SecurityScheme{
		Type:             "openIdConnect",
		OpenIdConnectUrl: issuer + "/.well-known/openid-configuration",
		Description: "A JWT of the OIDC issuer in the Authorization header, checked by API Gateway (issuer, audience, expiry, " +
			"and the route's scope when it names one) before the service checks it again.",
		Extensions: map[string]any{authorizerExtension: map[string]any{
			"type":           "jwt",
			"identitySource": "$request.header.Authorization",
			"jwtConfiguration": map[string]any{
				"issuer":   c.Issuer,
				"audience": c.audiences(),
			},
		}},
	}
}

// server is where API Gateway serves the API once imported: the API's
// execute-api URL, whose ID import-api answers, in the region of the
// integrations (the default one's first), under the stage's path unless it
// is $default.
func (c *Config) server() *openapi3.Server {
	region := "REGION"
	names := make([]string, 0, len(c.IntegrationURIs))
	for name := range c.IntegrationURIs {
		names = append(names, name)
	}
	slices.Sort(names) // the default ("") first
	for _, name := range names {
		if parts := strings.Split(c.IntegrationURIs[name], ":"); len(parts) > 3 && parts[3] != "" {
			region = parts[3]
			break
		}
	}
	s := &openapi3.Server{
		URL:         "https://{apiId}.execute-api.{region}.amazonaws.com",
		Description: "The API in API Gateway: apiId is the ApiId that aws apigatewayv2 import-api answers.",
		Variables: map[string]*openapi3.ServerVariable{
			"apiId":  {Default: "API_ID", Description: "The ApiId of the imported API."},
			"region": {Default: region, Description: "The AWS region of the API."},
		},
	}
	if c.Stage != DefaultStage {
		s.URL += "/{stage}"
		s.Variables["stage"] = &openapi3.ServerVariable{Default: c.Stage, Description: "The stage the API is deployed to."}
	}
	return s
}

// load converts a service's document to OpenAPI 3.0 and reads it.
func load(s Service) (*openapi3.T, error) {
	var raw map[string]any
	if err := json.Unmarshal(s.Document, &raw); err != nil {
		return nil, fmt.Errorf("the %s service's document: %w", s.Name, err)
	}
	if err := downgrade(raw); err != nil {
		return nil, fmt.Errorf("the %s service's document: %w", s.Name, err)
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		return nil, fmt.Errorf("the %s service's document: %w", s.Name, err)
	}
	if doc.Info == nil || doc.Paths == nil {
		return nil, fmt.Errorf("the %s service's document has no info or no paths", s.Name)
	}
	return doc, nil
}

// check loads the written document afresh and validates it.
func check(b []byte) error {
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		return err
	}
	return doc.Validate(context.Background())
}

// merger adds the services' operations to one document.
type merger struct {
	out *openapi3.T
	cfg Config
	// routes, opIDs and schemaOf name the service that declared a route
	// (method and path template), an operation ID, a schema.
	routes, opIDs, schemaOf map[string]string
}

var pathParam = regexp.MustCompile(`\{[^}]*\}`)

func (m *merger) add(service string, doc *openapi3.T) error {
	c := doc.Components
	if c != nil && len(c.Parameters)+len(c.Headers)+len(c.RequestBodies)+len(c.Responses)+len(c.Examples)+len(c.Links)+len(c.Callbacks) > 0 {
		return fmt.Errorf("the %s service's document has components other than schemas and security schemes, which the gateway does not merge", service)
	}
	for _, path := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(path)
		if len(item.Parameters) > 0 {
			return fmt.Errorf("the %s service's document: %s has parameters of the path item, which the gateway does not merge", service, path)
		}
		merged := m.out.Paths.Value(path)
		if merged == nil {
			merged = &openapi3.PathItem{}
			m.out.Paths.Set(path, merged)
		}
		for method, op := range item.Operations() {
			// API Gateway routes by method and path template; parameter
			// names do not tell two routes apart.
			route := method + " " + pathParam.ReplaceAllString(path, "{}")
			if other, ok := m.routes[route]; ok {
				return fmt.Errorf("%s %s is declared by both the %s and the %s service", method, path, other, service)
			}
			m.routes[route] = service
			if other, ok := m.opIDs[op.OperationID]; ok && op.OperationID != "" {
				return fmt.Errorf("the operation ID %s is declared by both the %s and the %s service", op.OperationID, other, service)
			}
			m.opIDs[op.OperationID] = service
			if err := m.route(service, doc, method, path, op); err != nil {
				return err
			}
			merged.SetOperation(method, op)
		}
	}
	if c != nil {
		for name, s := range c.Schemas {
			if err := m.schema(service, name, s); err != nil {
				return err
			}
		}
	}
	for _, t := range doc.Tags {
		if m.out.Tags.Get(t.Name) == nil {
			m.out.Tags = append(m.out.Tags, t)
		}
	}
	return nil
}

// schema adds a component schema; two services may share one only when
// they define it alike.
func (m *merger) schema(service, name string, s *openapi3.SchemaRef) error {
	have, ok := m.out.Components.Schemas[name]
	if !ok {
		m.out.Components.Schemas[name] = s
		m.schemaOf[name] = service
		return nil
	}
	a, err := json.Marshal(have)
	if err != nil {
		return err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if string(a) != string(b) {
		return fmt.Errorf("the schema %s differs between the %s and the %s service", name, m.schemaOf[name], service)
	}
	return nil
}

// route gives an operation its integration and its authorization.
func (m *merger) route(service string, doc *openapi3.T, method, path string, op *openapi3.Operation) error {
	at := fmt.Sprintf("the %s service's %s %s", service, method, path)
	security, err := m.security(doc, op, at)
	if err != nil {
		return err
	}
	op.Security = security
	integration := map[string]any{
		"type":                 "http_proxy",
		"httpMethod":           method,
		"uri":                  m.cfg.IntegrationURIs.of(service),
		"connectionType":       "VPC_LINK",
		"connectionId":         m.cfg.VPCLinkID,
		"payloadFormatVersion": "1.0",
	}
	if m.cfg.TLSServerName != "" {
		integration["tlsConfig"] = map[string]any{"serverNameToVerify": m.cfg.TLSServerName}
	}
	if m.cfg.Stage != DefaultStage {
		// The stage's name prefixes the path API Gateway receives;
		// $request.path is the path without it, as the service routes it.
		integration["requestParameters"] = map[string]any{"overwrite:path": "$request.path"}
	}
	if op.Extensions == nil {
		op.Extensions = map[string]any{}
	}
	delete(op.Extensions, scopesExtension) // said by the security requirement now
	op.Extensions[integrationExtension] = integration
	return nil
}

// security is the gateway's security requirement of an operation: none
// when the service lets it be called without a bearer token, else the JWT
// authorizer with the scope the operation requires.
func (m *merger) security(doc *openapi3.T, op *openapi3.Operation, at string) (*openapi3.SecurityRequirements, error) {
	reqs := doc.Security
	if op.Security != nil {
		reqs = *op.Security
	}
	if len(reqs) == 0 || slices.ContainsFunc(reqs, func(r openapi3.SecurityRequirement) bool { return len(r) == 0 }) {
		return &openapi3.SecurityRequirements{}, nil
	}
	var scopes []string
	for _, req := range reqs {
		for name, roles := range req {
			ref := doc.Components.SecuritySchemes[name]
			if ref == nil || ref.Value == nil || ref.Value.Type != "http" || !strings.EqualFold(ref.Value.Scheme, "bearer") {
				return nil, fmt.Errorf("%s: the security scheme %q is not a bearer token, which the JWT authorizer checks", at, name)
			}
			scopes = append(scopes, roles...)
		}
	}
	required, ok := op.Extensions[scopesExtension].([]any)
	if _, present := op.Extensions[scopesExtension]; present && !ok {
		return nil, fmt.Errorf("%s: %s must be a list of scopes", at, scopesExtension)
	}
	for _, s := range required {
		name, ok := s.(string)
		if !ok {
			return nil, fmt.Errorf("%s: %s must be a list of scopes", at, scopesExtension)
		}
		scopes = append(scopes, name)
	}
	slices.Sort(scopes)
	scopes = slices.Compact(scopes)
	if len(scopes) > 1 {
		// A JWT authorizer lets through a token with any one of a route's
		// scopes; the operation needs every one.
		return nil, fmt.Errorf("%s needs each of the scopes %s, and API Gateway checks only that a token has one of a route's scopes", at, strings.Join(scopes, ", "))
	}
	req := openapi3.NewSecurityRequirement().Authenticate(authorizer, scopes...)
	return &openapi3.SecurityRequirements{req}, nil
}

// cors is the CORS configuration: the origins given, the methods of the
// routes, the request headers the operations read and the response headers
// they send.
func (m *merger) cors() map[string]any {
	methods := map[string]bool{}
	allow := map[string]bool{"authorization": true, "content-type": true}
	expose := map[string]bool{}
	for _, path := range m.out.Paths.InMatchingOrder() {
		for method, op := range m.out.Paths.Value(path).Operations() {
			methods[method] = true
			for _, p := range op.Parameters {
				if p.Value != nil && p.Value.In == openapi3.ParameterInHeader {
					allow[strings.ToLower(p.Value.Name)] = true
				}
			}
			for _, r := range op.Responses.Map() {
				if r.Value == nil {
					continue
				}
				for name := range r.Value.Headers {
					expose[strings.ToLower(name)] = true
				}
			}
		}
	}
	return map[string]any{
		"allowOrigins":     m.cfg.CORSOrigins,
		"allowMethods":     sortedKeys(methods),
		"allowHeaders":     sortedKeys(allow),
		"exposeHeaders":    sortedKeys(expose),
		"allowCredentials": false,
		"maxAge":           3600,
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

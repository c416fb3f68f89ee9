package gateway_test

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/gateway"
	credithttp "github.com/estatehq/estate/services/credit/http"
	invoicinghttp "github.com/estatehq/estate/services/invoicing/http"
	"github.com/estatehq/estate/services/kit/httpapi"
)

var update = flag.Bool("update", false, "rewrite the golden gateway document")

const golden = "testdata/gateway.golden.json"

const (
	issuer   = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
	listener = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/estate-internal/50dc6c495c0c9188/0467ef3c8400ae65"
)

// goldenArgs are the flags of the golden document; cmd/estate's test runs
// the command with the same flags and compares its output with the file.
var goldenArgs = []string{"--issuer", issuer, "--audience", "5r2example,estate-api", "--vpc-link-id", "abc123",
	"--integration-uri", listener, "--cors-origin", "https://app.example.com"}

// services are the real services' documents, as they serve them.
func services(t *testing.T) []gateway.Service {
	t.Helper()
	inv, err := json.Marshal(invoicinghttp.OpenAPI())
	require.NoError(t, err)
	cr, err := json.Marshal(credithttp.OpenAPI())
	require.NoError(t, err)
	return []gateway.Service{{Name: "invoicing", Document: inv}, {Name: "credit", Document: cr}}
}

// config parses args as the command does.
func config(t *testing.T, args ...string) gateway.Config {
	t.Helper()
	var cfg gateway.Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	require.NoError(t, fs.Parse(args))
	return cfg
}

func TestGatewayGolden(t *testing.T) {
	got, err := gateway.Export(config(t, goldenArgs...), services(t))
	require.NoError(t, err)
	if *update {
		require.NoError(t, os.WriteFile(golden, got, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test ./gateway -run TestGatewayGolden -update")
	require.Equal(t, string(want), string(got), "%s is stale: run go test ./gateway -run TestGatewayGolden -update", golden)
}

// load reads and validates a gateway document with kin-openapi, as an
// OpenAPI 3.0 document.
func load(t *testing.T, b []byte) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(b)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background()))
	require.True(t, doc.IsOpenAPI30(), "API Gateway imports OpenAPI 3.0, not %s", doc.OpenAPI)
	return doc
}

func TestGatewayDocument(t *testing.T) {
	b, err := os.ReadFile(golden)
	require.NoError(t, err)
	doc := load(t, b)

	scheme := doc.Components.SecuritySchemes["jwt"].Value
	require.Equal(t, map[string]any{
		"type":           "jwt",
		"identitySource": "$request.header.Authorization",
		"jwtConfiguration": map[string]any{
			"issuer":   issuer,
			"audience": []any{"5r2example", "estate-api"},
		},
	}, scheme.Extensions["x-amazon-apigateway-authorizer"])
	require.Equal(t, issuer+"/.well-known/openid-configuration", scheme.OpenIdConnectUrl)

	// Every operation of both services is a route, each through the VPC
	// link with its own method, behind the authorizer unless the service
	// takes it without a bearer token.
	want := map[string]bool{}
	for _, s := range services(t) {
		var d struct {
			Paths map[string]map[string]json.RawMessage `json:"paths"`
		}
		require.NoError(t, json.Unmarshal(s.Document, &d))
		for path, ops := range d.Paths {
			for m := range ops {
				want[strings.ToUpper(m)+" "+path] = true
			}
		}
	}
	got := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			route := method + " " + path
			got[route] = true
			require.Equal(t, map[string]any{
				"type": "http_proxy", "httpMethod": method, "uri": listener,
				"connectionType": "VPC_LINK", "connectionId": "abc123", "payloadFormatVersion": "1.0",
			}, op.Extensions["x-amazon-apigateway-integration"], route)
			require.NotNil(t, op.Security, route)
			var sec []map[string][]string
			for _, r := range *op.Security {
				sec = append(sec, r)
			}
			switch route {
			case "POST " + invoicinghttp.PaymentWebhookPath:
				require.Empty(t, sec, "a provider signs its reports: no bearer token")
			case "GET /v1/businesses/{id}/invoice-history":
				require.Equal(t, []map[string][]string{{"jwt": {"invoicing/history.read"}}}, sec)
			case "PUT /v1/invoices/{id}/financing/{drawdown_id}", "DELETE /v1/invoices/{id}/financing/{drawdown_id}":
				require.Equal(t, []map[string][]string{{"jwt": {"invoicing/financing.write"}}}, sec)
			default:
				require.Equal(t, []map[string][]string{{"jwt": {}}}, sec, route)
			}
		}
	}
	require.Empty(t, cmp.Diff(want, got))

	cors, ok := doc.Extensions["x-amazon-apigateway-cors"].(map[string]any)
	require.True(t, ok)
	require.Equal(t, []any{"https://app.example.com"}, cors["allowOrigins"])
	require.Equal(t, []any{"DELETE", "GET", "PATCH", "POST", "PUT"}, cors["allowMethods"])
	require.Subset(t, cors["allowHeaders"], []any{"authorization", "content-type", "idempotency-key", "if-match"})
	require.Subset(t, cors["exposeHeaders"], []any{"etag", "location", "retry-after"})
}

func TestStageAndTLS(t *testing.T) {
	args := []string{"--issuer", issuer, "--audience", "a", "--vpc-link-id", "${stageVariables.vpcLinkId}",
		"--integration-uri", listener, "--integration-uri", "credit=" + listener + "-credit", "--stage", "prod", "--tls-server-name", "api.internal.example.com"}
	b, err := gateway.Export(config(t, args...), services(t))
	require.NoError(t, err)
	doc := load(t, b)
	require.Nil(t, doc.Extensions["x-amazon-apigateway-cors"], "no origins, no CORS")
	integration := func(path, method string) map[string]any {
		return doc.Paths.Value(path).GetOperation(method).Extensions["x-amazon-apigateway-integration"].(map[string]any)
	}
	inv := integration("/v1/invoices", "POST")
	require.Equal(t, map[string]any{"overwrite:path": "$request.path"}, inv["requestParameters"], "the backend sees its own paths, not /prod/...")
	require.Equal(t, map[string]any{"serverNameToVerify": "api.internal.example.com"}, inv["tlsConfig"])
	require.Equal(t, "${stageVariables.vpcLinkId}", inv["connectionId"])
	require.Equal(t, listener, inv["uri"])
	require.Equal(t, listener+"-credit", integration("/v1/credit/line", "GET")["uri"])
	require.Equal(t, "https://{apiId}.execute-api.{region}.amazonaws.com/{stage}", doc.Servers[0].URL)
	require.Equal(t, "prod", doc.Servers[0].Variables["stage"].Default)
	require.Equal(t, "eu-west-1", doc.Servers[0].Variables["region"].Default)
}

func TestConfigErrors(t *testing.T) {
	base := []string{"--issuer", issuer, "--audience", "a", "--vpc-link-id", "abc123", "--integration-uri", listener}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no flags", nil, `issuer: must be an https URL, not ""` + "\n" +
			"audience: must name at least one audience\n" +
			`vpc_link_id: must be a VPC link ID or ${stageVariables.NAME}, not ""` + "\n" +
			"integration_uri: the invoicing service has none: give ARN for every service, or invoicing=ARN\n" +
			"integration_uri: the credit service has none: give ARN for every service, or credit=ARN"},
		{"plain http issuer", []string{"--issuer", "http://issuer.example.com"}, `issuer: must be an https URL, not "http://issuer.example.com"`},
		{"blank audiences", []string{"--audience", " , "}, "audience: must name at least one audience"},
		{"unknown service", []string{"--integration-uri", "billing=" + listener}, `integration_uri: no service is named "billing" (services: invoicing, credit)`},
		{"not an ARN", []string{"--integration-uri", "credit=http://credit:8082"}, `integration_uri: must be the ARN of a load balancer listener or a Cloud Map service, not "http://credit:8082"`},
		{"bad stage", []string{"--stage", "pro d"}, `stage: must be $default or a name of letters, digits, - and _, not "pro d"`},
		{"bad origin", []string{"--cors-origin", "https://app.example.com/path"}, `cors_origin: must be an origin such as https://app.example.com, or *, not "https://app.example.com/path"`},
		{"bad server name", []string{"--tls-server-name", "https://api"}, `tls_server_name: must be a host name, not "https://api"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.name != "no flags" {
				args = append(append([]string{}, base...), tc.args...)
			}
			_, err := gateway.Export(config(t, args...), services(t))
			require.EqualError(t, err, tc.want)
		})
	}

	var cfg gateway.Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs)
	require.ErrorContains(t, fs.Parse([]string{"--integration-uri", listener, "--integration-uri", listener}), "a default URI is given twice")
}

// doc31 is a small OpenAPI 3.1 document of one service.
func doc31(paths, schemas string) []byte {
	return []byte(`{"openapi":"3.1.0","info":{"title":"t","version":"1"},
		"components":{"securitySchemes":{"bearer":{"type":"http","scheme":"bearer"}},"schemas":{` + schemas + `}},
		"security":[{"bearer":[]}],"paths":{` + paths + `}}`)
}

const okResponse = `"responses":{"204":{"description":"done"}}`

func TestMergeErrors(t *testing.T) {
	cfg := config(t, "--issuer", issuer, "--audience", "a", "--vpc-link-id", "abc123", "--integration-uri", listener)
	tests := []struct {
		name string
		a, b []byte
		want string
	}{
		{"the same route",
			doc31(`"/v1/things/{id}":{"get":{"operationId":"a",`+okResponse+`}}`, ""),
			doc31(`"/v1/things/{thing_id}":{"get":{"operationId":"b",`+okResponse+`}}`, ""),
			"GET /v1/things/{thing_id} is declared by both the a and the b service"},
		{"the same operation ID",
			doc31(`"/v1/things":{"get":{"operationId":"list",`+okResponse+`}}`, ""),
			doc31(`"/v1/others":{"get":{"operationId":"list",`+okResponse+`}}`, ""),
			"the operation ID list is declared by both the a and the b service"},
		{"a schema of the same name, another shape",
			doc31(`"/v1/things":{"get":{"operationId":"a",`+okResponse+`}}`, `"Thing":{"type":"string"}`),
			doc31(`"/v1/others":{"get":{"operationId":"b",`+okResponse+`}}`, `"Thing":{"type":"integer"}`),
			"the schema Thing differs between the a and the b service"},
		{"scopes a JWT authorizer cannot require together",
			doc31(`"/v1/things":{"get":{"operationId":"a","x-required-scopes":["r","w"],`+okResponse+`}}`, ""),
			doc31("", ""),
			"the a service's GET /v1/things needs each of the scopes r, w, and API Gateway checks only that a token has one of a route's scopes"},
		{"another kind of security",
			doc31(`"/v1/things":{"get":{"operationId":"a","security":[{"key":[]}],`+okResponse+`}}`, ""),
			doc31("", ""),
			`the a service's GET /v1/things: the security scheme "key" is not a bearer token, which the JWT authorizer checks`},
		{"a 3.0 document",
			[]byte(`{"openapi":"3.0.3","info":{"title":"t","version":"1"},"paths":{}}`), doc31("", ""),
			`the a service's document: openapi: the document is OpenAPI "3.0.3", not 3.1`},
		{"what 3.0 cannot say",
			doc31("", `"Either":{"type":["string","integer"]}`), doc31("", ""),
			"the a service's document: components.schemas.Either: type [string integer] has no OpenAPI 3.0 form: one type besides null is needed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := gateway.Export(cfg, []gateway.Service{{Name: "a", Document: tc.a}, {Name: "b", Document: tc.b}})
			require.EqualError(t, err, tc.want)
		})
	}

	// Shared schemas defined alike, and shared paths with other methods,
	// merge.
	b, err := gateway.Export(cfg, []gateway.Service{
		{Name: "a", Document: doc31(`"/v1/things":{"get":{"operationId":"a",`+okResponse+`}}`, `"Thing":{"type":"string"}`)},
		{Name: "b", Document: doc31(`"/v1/things":{"post":{"operationId":"b",`+okResponse+`}}`, `"Thing":{"type":"string"}`)},
	})
	require.NoError(t, err)
	doc := load(t, b)
	require.NotNil(t, doc.Paths.Value("/v1/things").Get)
	require.NotNil(t, doc.Paths.Value("/v1/things").Post)
}

// TestScopesExtension: the gateway reads the scopes where the service kit
// writes them.
func TestScopesExtension(t *testing.T) {
	b, err := json.Marshal(httpapi.RequireScopes("s"))
	require.NoError(t, err)
	require.JSONEq(t, `{"x-required-scopes":["s"]}`, string(b))
}

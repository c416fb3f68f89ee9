package gateway

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDowngradeSchema(t *testing.T) {
	tests := []struct {
		name, in, want, err string
	}{
		{"nullable", `{"type":["array","null"],"items":{"type":"string"}}`, `{"type":"array","nullable":true,"items":{"type":"string"}}`, ""},
		{"examples: the first is the example", `{"type":"string","examples":["a","b"]}`, `{"type":"string","example":"a"}`, ""},
		{"exclusive bounds", `{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":10}`,
			`{"type":"number","minimum":0,"exclusiveMinimum":true,"maximum":10,"exclusiveMaximum":true}`, ""},
		{"const", `{"type":"string","const":"x"}`, `{"type":"string","enum":["x"]}`, ""},
		{"a $ref loses its siblings", `{"$ref":"#/components/schemas/A","description":"d"}`, `{"$ref":"#/components/schemas/A"}`, ""},
		{"annotations dropped", `{"type":"string","$comment":"c","$schema":"s"}`, `{"type":"string"}`, ""},
		{"nested", `{"type":"object","properties":{"a":{"type":["string","null"],"examples":["x"]}},"additionalProperties":{"type":["integer","null"]},"allOf":[{"const":1}]}`,
			`{"type":"object","properties":{"a":{"type":"string","nullable":true,"example":"x"}},"additionalProperties":{"type":"integer","nullable":true},"allOf":[{"enum":[1]}]}`, ""},
		{"several types", `{"type":["string","integer"]}`, "", "s: type [string integer] has no OpenAPI 3.0 form: one type besides null is needed"},
		{"null alone", `{"type":"null"}`, "", "s: type null has no OpenAPI 3.0 form"},
		{"a tuple", `{"type":"array","items":[{"type":"string"}]}`, "", "s.items: a tuple has no OpenAPI 3.0 form"},
		{"deep and several", `{"properties":{"a":{"prefixItems":[]},"b":{"if":{}}}}`, "", "s.properties.a: prefixItems has no OpenAPI 3.0 form\ns.properties.b: if has no OpenAPI 3.0 form"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s map[string]any
			require.NoError(t, json.Unmarshal([]byte(tc.in), &s))
			err := schema(s, "s")
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			got, err := json.Marshal(s)
			require.NoError(t, err)
			require.JSONEq(t, tc.want, string(got))
		})
	}
}

func TestDowngradeDocument(t *testing.T) {
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(`{
		"openapi": "3.1.0", "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
		"info": {"title": "t", "version": "1", "summary": "s", "license": {"name": "MIT", "identifier": "MIT"}},
		"paths": {"/a/{id}": {"post": {
			"parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "examples": ["x"]}}],
			"requestBody": {"content": {"application/json": {"schema": {"type": ["object", "null"]}}}},
			"responses": {"200": {"description": "ok",
				"headers": {"ETag": {"schema": {"type": "string", "examples": ["\"1\""]}}},
				"content": {"application/json": {"schema": {"const": 1}}}}}}}},
		"components": {"schemas": {"A": {"type": ["integer", "null"]}}}
	}`), &doc))
	require.NoError(t, downgrade(doc))
	got, err := json.Marshal(doc)
	require.NoError(t, err)
	require.JSONEq(t, `{
		"openapi": "3.0.1",
		"info": {"title": "t", "version": "1", "license": {"name": "MIT"}},
		"paths": {"/a/{id}": {"post": {
			"parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "example": "x"}}],
			"requestBody": {"content": {"application/json": {"schema": {"type": "object", "nullable": true}}}},
			"responses": {"200": {"description": "ok",
				"headers": {"ETag": {"schema": {"type": "string", "example": "\"1\""}}},
				"content": {"application/json": {"schema": {"enum": [1]}}}}}}}},
		"components": {"schemas": {"A": {"type": "integer", "nullable": true}}}
	}`, string(got))

	require.EqualError(t, downgrade(map[string]any{"openapi": "3.1.0", "webhooks": map[string]any{"x": map[string]any{}}}),
		"webhooks: OpenAPI 3.0 has no webhooks")
}

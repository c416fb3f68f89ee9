package gateway

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// openAPIVersion is the version of the document written: API Gateway
// imports OpenAPI 2.0 and 3.0 definitions, not 3.1.
const openAPIVersion = "3.0.1"

// downgrade rewrites doc, an OpenAPI 3.1 document decoded from JSON, into
// OpenAPI 3.0 in place. What it converts, as OpenAPI 3.0 says it:
//
//   - a type array with "null" ("type": ["string", "null"]) becomes the
//     other type with "nullable": true;
//   - a schema's examples array becomes its first value as example;
//   - numeric exclusiveMinimum and exclusiveMaximum become minimum and
//     maximum with the boolean exclusiveMinimum and exclusiveMaximum;
//   - const becomes a one-value enum;
//   - a $ref loses its siblings, which 3.0 ignores (descriptions only);
//   - annotations 3.0 lacks ($schema, $comment, the licence's SPDX
//     identifier, jsonSchemaDialect) are dropped.
//
// What 3.0 cannot say (several non-null types, tuples, webhooks,
// conditional schemas...) is an error naming where it is, rather than a
// document that means something else.
func downgrade(doc map[string]any) error {
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1") {
		return fmt.Errorf("openapi: the document is OpenAPI %q, not 3.1", v)
	}
	doc["openapi"] = openAPIVersion
	delete(doc, "jsonSchemaDialect")
	if w, ok := doc["webhooks"].(map[string]any); ok && len(w) > 0 {
		return errors.New("webhooks: OpenAPI 3.0 has no webhooks")
	}
	delete(doc, "webhooks")
	if info, ok := doc["info"].(map[string]any); ok {
		delete(info, "summary")
		if lic, ok := info["license"].(map[string]any); ok {
			delete(lic, "identifier")
		}
	}
	var errs []error
	for path, item := range objects(doc["paths"]) {
		errs = append(errs, pathItem(item, "paths."+path))
	}
	comps, _ := doc["components"].(map[string]any)
	for name, s := range objects(comps["schemas"]) {
		errs = append(errs, schema(s, "components.schemas."+name))
	}
	for name, r := range objects(comps["responses"]) {
		errs = append(errs, response(r, "components.responses."+name))
	}
	for name, p := range objects(comps["parameters"]) {
		errs = append(errs, parameter(p, "components.parameters."+name))
	}
	for name, h := range objects(comps["headers"]) {
		errs = append(errs, parameter(h, "components.headers."+name))
	}
	for name, b := range objects(comps["requestBodies"]) {
		errs = append(errs, content(b, "components.requestBodies."+name))
	}
	return errors.Join(errs...)
}

// methods are the operations of a path item.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func pathItem(item map[string]any, at string) error {
	var errs []error
	for i, p := range list(item["parameters"]) {
		errs = append(errs, parameter(p, fmt.Sprintf("%s.parameters[%d]", at, i)))
	}
	for _, m := range methods {
		op, ok := item[m].(map[string]any)
		if !ok {
			continue
		}
		opAt := at + "." + m
		for i, p := range list(op["parameters"]) {
			errs = append(errs, parameter(p, fmt.Sprintf("%s.parameters[%d]", opAt, i)))
		}
		if b, ok := op["requestBody"].(map[string]any); ok {
			errs = append(errs, content(b, opAt+".requestBody"))
		}
		for code, r := range objects(op["responses"]) {
			errs = append(errs, response(r, opAt+".responses."+code))
		}
	}
	return errors.Join(errs...)
}

// parameter converts the schema of a parameter or a header.
func parameter(p map[string]any, at string) error {
	errs := []error{content(p, at)}
	if s, ok := p["schema"].(map[string]any); ok {
		errs = append(errs, schema(s, at+".schema"))
	}
	return errors.Join(errs...)
}

func response(r map[string]any, at string) error {
	errs := []error{content(r, at)}
	for name, h := range objects(r["headers"]) {
		errs = append(errs, parameter(h, at+".headers."+name))
	}
	return errors.Join(errs...)
}

// content converts the schemas of the media types of a request body, a
// response or a parameter.
func content(c map[string]any, at string) error {
	var errs []error
	for mt, m := range objects(c["content"]) {
		if s, ok := m["schema"].(map[string]any); ok {
			errs = append(errs, schema(s, at+".content."+mt+".schema"))
		}
	}
	return errors.Join(errs...)
}

// unsupported are the JSON Schema keywords of OpenAPI 3.1 that 3.0's
// schema object cannot say.
var unsupported = []string{
	"$defs", "$dynamicRef", "$dynamicAnchor", "$anchor", "$id", "if", "then", "else", "dependentSchemas", "dependentRequired",
	"prefixItems", "contains", "minContains", "maxContains", "unevaluatedItems", "unevaluatedProperties",
	"patternProperties", "propertyNames", "contentEncoding", "contentMediaType", "contentSchema",
}

func schema(s map[string]any, at string) error {
	if _, ok := s["$ref"]; ok {
		for k := range s {
			if k != "$ref" {
				delete(s, k)
			}
		}
		return nil
	}
	var errs []error
	for _, k := range unsupported {
		if _, ok := s[k]; ok {
			errs = append(errs, fmt.Errorf("%s: %s has no OpenAPI 3.0 form", at, k))
		}
	}
	delete(s, "$schema")
	delete(s, "$comment")
	if types, ok := s["type"].([]any); ok {
		var kept []string
		for _, t := range types {
			if t == "null" {
				s["nullable"] = true
			} else if name, ok := t.(string); ok {
				kept = append(kept, name)
			}
		}
		if len(kept) != 1 {
			errs = append(errs, fmt.Errorf("%s: type %v has no OpenAPI 3.0 form: one type besides null is needed", at, types))
		} else {
			s["type"] = kept[0]
		}
	} else if s["type"] == "null" {
		errs = append(errs, fmt.Errorf("%s: type null has no OpenAPI 3.0 form", at))
	}
	if ex, ok := s["examples"].([]any); ok {
		if len(ex) > 0 {
			s["example"] = ex[0]
		}
		delete(s, "examples")
	}
	for bound, limit := range map[string]string{"exclusiveMinimum": "minimum", "exclusiveMaximum": "maximum"} {
		if n, ok := s[bound].(float64); ok {
			s[limit], s[bound] = n, true
		}
	}
	if c, ok := s["const"]; ok {
		s["enum"] = []any{c}
		delete(s, "const")
	}
	for name, p := range objects(s["properties"]) {
		errs = append(errs, schema(p, at+".properties."+name))
	}
	switch items := s["items"].(type) {
	case map[string]any:
		errs = append(errs, schema(items, at+".items"))
	case []any:
		errs = append(errs, fmt.Errorf("%s.items: a tuple has no OpenAPI 3.0 form", at))
	}
	if ap, ok := s["additionalProperties"].(map[string]any); ok {
		errs = append(errs, schema(ap, at+".additionalProperties"))
	}
	if not, ok := s["not"].(map[string]any); ok {
		errs = append(errs, schema(not, at+".not"))
	}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		for i, sub := range list(s[k]) {
			errs = append(errs, schema(sub, fmt.Sprintf("%s.%s[%d]", at, k, i)))
		}
	}
	return errors.Join(errs...)
}

// objects returns the members of a JSON object whose values are objects,
// in key order (so errors come in a stable order).
func objects(v any) func(yield func(string, map[string]any) bool) {
	return func(yield func(string, map[string]any) bool) {
		m, _ := v.(map[string]any)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if o, ok := m[k].(map[string]any); ok && !yield(k, o) {
				return
			}
		}
	}
}

// list returns the objects of a JSON array.
func list(v any) []map[string]any {
	a, _ := v.([]any)
	out := make([]map[string]any, 0, len(a))
	for _, x := range a {
		if o, ok := x.(map[string]any); ok {
			out = append(out, o)
		}
	}
	return out
}

package chaos

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// MaxDocumentBytes bounds an experiment document.
const MaxDocumentBytes = 1 << 20

// Decode reads one experiment document, YAML or JSON, strictly: an unknown
// or repeated key is an error naming its path, and so is a value of the
// wrong type. It does not validate (Validate does).
func Decode(doc []byte) (Experiment, error) {
	var e Experiment
	if len(doc) > MaxDocumentBytes {
		return e, invalid(FieldError{Message: fmt.Sprintf("the document is larger than %d bytes", MaxDocumentBytes)})
	}
	if len(bytes.TrimSpace(doc)) == 0 {
		return e, invalid(FieldError{Message: "the document is empty"})
	}
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return e, invalid(FieldError{Message: "not YAML: " + err.Error()})
	}
	if t := bytes.TrimSpace(js); len(t) == 0 || t[0] != '{' {
		return e, invalid(FieldError{Message: "the document must be a mapping"})
	}
	strict, err := kjson.UnmarshalStrict(js, &e, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return Experiment{}, invalid(jsonProblem(err))
	}
	if len(strict) > 0 {
		var fe []FieldError
		for _, s := range strict {
			fe = append(fe, strictProblem(s))
		}
		return Experiment{}, invalid(fe...)
	}
	return e, nil
}

// Load decodes and validates a document.
func Load(doc []byte) (Experiment, error) {
	e, err := Decode(doc)
	if err != nil {
		return e, err
	}
	return e, e.Validate()
}

// Encode writes e as JSON, the form the API and the store keep.
func Encode(e Experiment) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encoding experiment: %w", err)
	}
	return b, nil
}

var strictField = regexp.MustCompile(`^(unknown|duplicate) field "(.*)"$`)

func strictProblem(err error) FieldError {
	if m := strictField.FindStringSubmatch(err.Error()); m != nil {
		return FieldError{Field: m[2], Message: "is not a known field"}
	}
	return FieldError{Message: err.Error()}
}

// goField finds the path in encoding/json's "Go struct field
// Experiment.spec.duration of type" wording.
var goField = regexp.MustCompile(`Go struct field [A-Za-z0-9_]+\.(\S+) of type (\S+)`)

func jsonProblem(err error) FieldError {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		return FieldError{Field: ute.Field, Message: "must be " + kindName(ute.Type.Kind().String()) + ", not " + ute.Value}
	}
	if m := goField.FindStringSubmatch(err.Error()); m != nil {
		return FieldError{Field: m[1], Message: "must be of type " + m[2]}
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	return FieldError{Message: "not an experiment: " + msg}
}

func kindName(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "a number"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "a list"
	case "map", "struct", "ptr":
		return "a mapping"
	}
	return "of another type"
}

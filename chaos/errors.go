package chaos

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes: what went wrong, for the edge to map onto its protocol (the
// HTTP mapping is one table in chaos/http).
const (
	// EINVALID: the experiment is wrong; Fields says where.
	EINVALID = "invalid"
	// ENOTFOUND: there is no such run.
	ENOTFOUND = "not_found"
	// ECONFLICT: the request conflicts with the run's state (aborting a
	// finished run).
	ECONFLICT = "conflict"
	// EHALTED: the kill switch is on; no run starts until resumed.
	EHALTED = "halted"
	// EUNAVAILABLE: no executor can run the fault here.
	EUNAVAILABLE = "unavailable"
	// EINTERNAL: a fault on our side; its text is never shown to callers.
	EINTERNAL = "internal"
)

// Error is a domain error whose Message is safe to show the caller.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
}

// FieldError names one field of an experiment at fault.
type FieldError struct {
	// Field is the path in the document ("spec.fault.http.delay"); empty
	// when the document as a whole is at fault.
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (f FieldError) String() string {
	if f.Field == "" {
		return f.Message
	}
	return f.Field + ": " + f.Message
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return e.Message
	}
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.String()
	}
	return strings.Join(parts, "; ")
}

// Errorf returns an *Error.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func invalid(fields ...FieldError) *Error {
	return &Error{Code: EINVALID, Message: "invalid experiment", Fields: fields}
}

// ErrorCode returns the code of err's *Error, EINTERNAL for any other
// error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of err's *Error, or a generic one.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorFields returns the fields of err's *Error.
func ErrorFields(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// ErrNotFound is returned by stores for an unknown run.
var ErrNotFound = &Error{Code: ENOTFOUND, Message: "no such run"}

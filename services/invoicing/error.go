package invoicing

import (
	"errors"
	"fmt"
)

// Error codes: what went wrong, for the edge to map onto its protocol (the
// HTTP mapping is one table in the http package).
const (
	// EINVALID: the input is wrong; Fields says where.
	EINVALID = "invalid"
	// ENOTFOUND: there is no such thing, or the caller may not know of it.
	ENOTFOUND = "not_found"
	// ECONFLICT: the request conflicts with the current state (a forbidden
	// transition, an over-payment, a duplicate).
	ECONFLICT = "conflict"
	// EPRECONDITION: the caller's If-Match does not match the current version.
	EPRECONDITION = "precondition_failed"
	// EFORBIDDEN: the caller is known but may not do this.
	EFORBIDDEN = "forbidden"
	// EINTERNAL: a fault on our side; its text is never shown to callers.
	EINTERNAL = "internal"
)

// Error is a domain error whose Message is safe to show the caller.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
}

// FieldError names one field of the input at fault.
type FieldError struct {
	// Field is the JSON path of the field ("line_items[0].quantity").
	Field   string
	Message string
	Value   any
}

func (e *Error) Error() string { return fmt.Sprintf("invoicing %s: %s", e.Code, e.Message) }

// Errorf returns an *Error.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err's *Error, EINTERNAL for any other error,
// and "" for nil.
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

// fieldErrors collects validation faults.
type fieldErrors []FieldError

func (fe *fieldErrors) add(field, msg string, value any) {
	*fe = append(*fe, FieldError{Field: field, Message: msg, Value: value})
}

func (fe fieldErrors) err() error {
	if len(fe) == 0 {
		return nil
	}
	return &Error{Code: EINVALID, Message: "the request has invalid fields", Fields: fe}
}

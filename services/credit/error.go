package credit

import (
	"errors"
	"fmt"
	"time"
)

// Error codes, mapped onto HTTP statuses in one table at the edge.
const (
	EINVALID  = "invalid"
	ENOTFOUND = "not_found"
	// ECONFLICT: the request conflicts with the current state (over the
	// available credit, an invoice already financed or no longer open).
	ECONFLICT  = "conflict"
	EFORBIDDEN = "forbidden"
	// EUNAVAILABLE: a service the answer depends on (invoicing) cannot be
	// reached; nothing was written and the caller may retry after
	// RetryAfter.
	EUNAVAILABLE = "unavailable"
	EINTERNAL    = "internal"
)

// Error is a domain error whose Message is safe to show the caller.
type Error struct {
	Code    string
	Message string
	// Field names the input at fault, for EINVALID.
	Field string
	// RetryAfter is set with EUNAVAILABLE.
	RetryAfter time.Duration
	// Err is the cause, for logs; never shown.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("credit %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("credit %s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func invalid(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err's *Error, EINTERNAL for any other error
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

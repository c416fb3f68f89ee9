// Package problem writes RFC 9457 problem details (application/problem+json)
// for the HTTP APIs that are not built on huma. The shape is the one huma's
// ErrorModel uses, so every Estate API answers errors alike: clients read
// `status`, `title`, `detail` and, for bad input, `errors[]` naming each field.
package problem

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// ContentType is the media type of a problem document.
const ContentType = "application/problem+json"

// FieldError names one part of the input at fault.
type FieldError struct {
	// Message says what is wrong, for a person.
	Message string `json:"message"`
	// Location is where the fault is, as a dotted path ("body.data.service",
	// "query.from", "header.X-Hub-Signature-256").
	Location string `json:"location,omitempty"`
	// Value is the offending value, when it is safe to echo.
	Value any `json:"value,omitempty"`
}

// Details is an RFC 9457 problem document.
type Details struct {
	Type     string       `json:"type,omitempty"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`
}

// Error lets a Details travel as an error to the edge that writes it.
func (d *Details) Error() string {
	if d.Detail != "" {
		return d.Detail
	}
	return d.Title
}

// New returns a problem with the status's standard title.
func New(status int, detail string, errs ...FieldError) *Details {
	return &Details{Title: http.StatusText(status), Status: status, Detail: detail, Errors: errs}
}

// Write sends p as the response. The instance defaults to the request path.
func Write(w http.ResponseWriter, r *http.Request, p *Details) {
	if p.Instance == "" && r != nil {
		p.Instance = r.URL.Path
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// RetryAfter sets the Retry-After header to d rounded up to whole seconds.
func RetryAfter(w http.ResponseWriter, d time.Duration) {
	secs := int((d + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
}

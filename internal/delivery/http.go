package delivery

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ParseRetryAfter reads a Retry-After header value (RFC 9110): a number of
// seconds, or an HTTP date, which is read against now. It reports false
// when v is empty or neither; a date already past is a delay of zero.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(min(s, int64(1<<62)/int64(time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// OTLPRetryable is the OTLP specification's list of HTTP statuses worth
// sending the same request again for: 429, 502, 503 and 504.
func OTLPRetryable(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// maxDetail bounds the part of an answer's body an error quotes.
const maxDetail = 512

// HTTPError classifies an HTTP answer: nil for 2xx; for a status that
// retryable accepts (OTLPRetryable when nil), a *ThrottleError when it is
// 429 or carries a Retry-After (read against now), else a transient error;
// for any other status a *PermanentError. detail (the answer's body, or
// what the caller made of it) is quoted in the error, trimmed and cut to
// 512 bytes.
func HTTPError(resp *http.Response, detail []byte, retryable func(status int) bool, now time.Time) error {
	code := resp.StatusCode
	if code/100 == 2 {
		return nil
	}
	if retryable == nil {
		retryable = OTLPRetryable
	}
	st := resp.Status
	if st == "" {
		st = strings.TrimSpace(strconv.Itoa(code) + " " + http.StatusText(code))
	}
	detail = bytes.TrimSpace(detail)
	if len(detail) > maxDetail {
		detail = append(detail[:maxDetail:maxDetail], "..."...)
	}
	err := fmt.Errorf("HTTP %s", st)
	if len(detail) > 0 {
		err = fmt.Errorf("HTTP %s: %s", st, detail)
	}
	if !retryable(code) {
		return &PermanentError{Err: err}
	}
	delay, named := ParseRetryAfter(resp.Header.Get("Retry-After"), now)
	if named || code == http.StatusTooManyRequests {
		return &ThrottleError{Err: err, Delay: delay}
	}
	return err
}

package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Under names every field error in err under the key prefix, so that a
// component validates its own keys ("max_bytes: must be positive") and the
// configuration that holds it reports the full key
// ("collector.queue.max_bytes: must be positive"). err may be a join of
// several errors (errors.Join); each is named. A nil err stays nil.
func Under(prefix string, err error) error {
	if err == nil {
		return nil
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs := joined.Unwrap()
		out := make([]error, 0, len(errs))
		for _, e := range errs {
			out = append(out, Under(prefix, e))
		}
		return errors.Join(out...)
	}
	return &fieldError{prefix: prefix, err: err}
}

type fieldError struct {
	prefix string
	err    error
}

func (e *fieldError) Error() string { return e.prefix + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

// ListenAddr checks a listen address (host:port, port 0 to 65535, host
// empty for every interface) and names key in its error.
func ListenAddr(key, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s: must be host:port, not %q", key, addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%s: port must be a number from 0 to 65535, not %q", key, port)
	}
	return nil
}

// Positive is an error naming key unless v is above zero, and nil
// otherwise: errors.Join drops the nils of a list of such checks.
func Positive[T ~int | ~int64 | ~float64](key string, v T) error {
	if v > 0 {
		return nil
	}
	return fmt.Errorf("%s: must be positive, not %v", key, v)
}

// CommaList is a flag value for a list given as one comma-separated
// argument ("logs,traces"); "" is the empty list. Its default is the
// list's value when the flag is bound.
type CommaList struct{ List *[]string }

func (c CommaList) String() string {
	if c.List == nil {
		return ""
	}
	return strings.Join(*c.List, ",")
}

// Set replaces the list with the items of s, spaces trimmed, empty items
// dropped.
func (c CommaList) Set(s string) error {
	out := []string{}
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	*c.List = out
	return nil
}

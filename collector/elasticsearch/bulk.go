package elasticsearch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// item is one document on its way to the cluster.
type item struct {
	index  string
	id     string
	source []byte
}

// appendAction appends the NDJSON create action and source of it to buf.
func appendAction(buf []byte, it item) []byte {
	buf = append(buf, `{"create":{"_index":`...)
	buf = appendJSONString(buf, it.index)
	buf = append(buf, `,"_id":`...)
	buf = appendJSONString(buf, it.id)
	buf = append(buf, "}}\n"...)
	buf = append(buf, it.source...)
	return append(buf, '\n')
}

func appendJSONString(buf []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always encodes
	return append(buf, b...)
}

// itemResult is the cluster's answer for one bulk item.
type itemResult struct {
	Status int
	Type   string
	Reason string
}

// Outcomes of an item, as counted in metrics.
const (
	outcomeCreated    = "created"
	outcomeDuplicate  = "duplicate"
	outcomeRetry      = "retry"
	outcomeDeadLetter = "dead_letter"
)

// outcome classifies an item result. A 409 on create means a document with
// this deterministic id is already there: the record was delivered before.
// 429, 5xx and 403 (cluster_block_exception: a read-only index after the
// disk flood stage) pass with time; any other 4xx will fail again, the same
// way, on every attempt.
func (r itemResult) outcome() string {
	switch {
	case r.Status >= 200 && r.Status < 300:
		return outcomeCreated
	case r.Status == http.StatusConflict:
		return outcomeDuplicate
	case r.Status == http.StatusTooManyRequests, r.Status >= 500, r.Status == http.StatusForbidden,
		r.Status == http.StatusRequestTimeout:
		return outcomeRetry
	default:
		return outcomeDeadLetter
	}
}

// bulkFilterPath trims the response to what parseBulkResponse reads.
var bulkFilterPath = []string{"errors", "items.*.status", "items.*.error.type", "items.*.error.reason"}

var errMalformedBulkResponse = errors.New("malformed _bulk response")

// parseBulkResponse reads the per-item results of a _bulk response to a
// request of want items. Results are in request order.
func parseBulkResponse(body []byte, want int) ([]itemResult, error) {
	var resp struct {
		Errors *bool `json:"errors"`
		Items  []map[string]struct {
			Status int             `json:"status"`
			Error  json.RawMessage `json:"error"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("%w: %w", errMalformedBulkResponse, err)
	}
	if resp.Errors == nil {
		return nil, fmt.Errorf("%w: no errors field", errMalformedBulkResponse)
	}
	if len(resp.Items) != want {
		return nil, fmt.Errorf("%w: %d items for %d actions", errMalformedBulkResponse, len(resp.Items), want)
	}
	out := make([]itemResult, want)
	for i, it := range resp.Items {
		if len(it) != 1 {
			return nil, fmt.Errorf("%w: item %d has %d actions", errMalformedBulkResponse, i, len(it))
		}
		for _, r := range it {
			if r.Status < 100 || r.Status > 599 {
				return nil, fmt.Errorf("%w: item %d has status %d", errMalformedBulkResponse, i, r.Status)
			}
			res := itemResult{Status: r.Status}
			if e := bytes.TrimSpace(r.Error); len(e) > 0 && !bytes.Equal(e, []byte("null")) {
				var obj struct {
					Type   string `json:"type"`
					Reason string `json:"reason"`
				}
				if e[0] == '{' {
					_ = json.Unmarshal(e, &obj)
				} else {
					_ = json.Unmarshal(e, &obj.Reason)
				}
				res.Type, res.Reason = obj.Type, obj.Reason
				if res.Type == "" && res.Reason == "" {
					res.Reason = string(e)
				}
			}
			out[i] = res
		}
	}
	return out, nil
}

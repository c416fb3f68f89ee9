package intake

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/estatehq/estate/metrics"
)

// Batch is what a payload of several items maps to: the events of the
// items that map, and the items that do not, each with its reason.
type Batch struct {
	// Events are the events of every item that maps, in payload order.
	Events []metrics.Event
	// Rejected are the items that map to no event.
	Rejected []Rejection
	// Items counts the items of the payload, mapped or rejected.
	Items int
}

// Rejection is an item of a payload that maps to no event.
type Rejection struct {
	// Item locates the item in the payload: "alerts[1]".
	Item string
	// Raw is the item as it was sent.
	Raw json.RawMessage
	// Err says why: it wraps metrics.ErrInvalid, and its *InvalidError
	// names the fields at fault from the payload's root
	// ("alerts[1].labels.service").
	Err error
}

// Add adds the outcome of mapping one item: its events, or, when err is
// not nil, its rejection.
func (b *Batch) Add(item string, raw json.RawMessage, events []metrics.Event, err error) {
	b.Items++
	if err != nil {
		b.Rejected = append(b.Rejected, Rejection{Item: item, Raw: raw, Err: err})
		return
	}
	b.Events = append(b.Events, events...)
}

// Err joins the reasons of the rejected items, or is nil when every item
// mapped: for a caller that takes a payload whole or not at all.
func (b Batch) Err() error {
	errs := make([]error, 0, len(b.Rejected))
	for _, r := range b.Rejected {
		errs = append(errs, fmt.Errorf("%s: %w", r.Item, r.Err))
	}
	return errors.Join(errs...)
}

// Within roots the fields of an *metrics.InvalidError found inside the
// item at path at the payload's root: "startsAt" becomes
// "alerts[1].startsAt". Other errors are returned as they are.
func Within(path string, err error) error {
	var ie *metrics.InvalidError
	if !errors.As(err, &ie) {
		return err
	}
	out := &metrics.InvalidError{Problems: make([]metrics.FieldError, len(ie.Problems))}
	for i, p := range ie.Problems {
		switch {
		case p.Field == "":
			p.Field = path
		case p.Field[0] == '[':
			p.Field = path + p.Field
		default:
			p.Field = path + "." + p.Field
		}
		out.Problems[i] = p
	}
	return out
}

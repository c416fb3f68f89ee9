package intake_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/intake"
)

func TestWithin(t *testing.T) {
	err := intake.Within("alerts[1]", &metrics.InvalidError{Problems: []metrics.FieldError{
		{Field: "", Message: "must be an object"},
		{Field: "startsAt", Message: "is required"},
		{Field: "[0]", Message: "is odd"},
	}})
	var ie *metrics.InvalidError
	require.ErrorAs(t, err, &ie)
	require.Equal(t, []metrics.FieldError{
		{Field: "alerts[1]", Message: "must be an object"},
		{Field: "alerts[1].startsAt", Message: "is required"},
		{Field: "alerts[1][0]", Message: "is odd"},
	}, ie.Problems)

	other := errors.New("not an invalid-event error")
	require.Equal(t, other, intake.Within("alerts[1]", other))
}

func TestBatch(t *testing.T) {
	var b intake.Batch
	require.NoError(t, b.Err(), "no item, nothing rejected")
	ev := metrics.Event{ID: "e1"}
	b.Add("alerts[0]", json.RawMessage(`{}`), []metrics.Event{ev}, nil)
	b.Add("alerts[1]", json.RawMessage(`{"a":1}`), nil, metrics.Invalid("alerts[1].fingerprint", "is required"))
	require.Equal(t, 2, b.Items)
	require.Equal(t, []metrics.Event{ev}, b.Events)
	require.Len(t, b.Rejected, 1)
	require.Equal(t, "alerts[1]", b.Rejected[0].Item)
	require.JSONEq(t, `{"a":1}`, string(b.Rejected[0].Raw))
	require.ErrorIs(t, b.Err(), metrics.ErrInvalid)
	require.EqualError(t, b.Err(), "alerts[1]: alerts[1].fingerprint is required")
}

package rollout

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// JSON has no infinity: a bucket's bound and an error ratio may be +Inf,
// written as the string "+Inf", as Prometheus writes bucket bounds.

func inf(v float64) any {
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	return v
}

func parseInf(raw json.RawMessage) (float64, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || !math.IsInf(v, 1) {
			return 0, fmt.Errorf("%q is not a number or +Inf", s)
		}
		return v, nil
	}
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, err
	}
	return v, nil
}

// MarshalJSON writes the bucket with its bound as Prometheus writes it.
func (b Bucket) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Le    any     `json:"le"`
		Count float64 `json:"count"`
	}{inf(b.Le), b.Count})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (b *Bucket) UnmarshalJSON(data []byte) error {
	var w struct {
		Le    json.RawMessage `json:"le"`
		Count float64         `json:"count"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	le, err := parseInf(w.Le)
	if err != nil {
		return fmt.Errorf("le: %w", err)
	}
	*b = Bucket{Le: le, Count: w.Count}
	return nil
}

// MarshalJSON writes the test with an infinite ratio as "+Inf".
func (t RateTest) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		P     float64 `json:"p"`
		Ratio any     `json:"ratio"`
	}{t.P, inf(t.Ratio)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (t *RateTest) UnmarshalJSON(data []byte) error {
	var w struct {
		P     float64         `json:"p"`
		Ratio json.RawMessage `json:"ratio"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	r, err := parseInf(w.Ratio)
	if err != nil {
		return fmt.Errorf("ratio: %w", err)
	}
	*t = RateTest{P: w.P, Ratio: r}
	return nil
}

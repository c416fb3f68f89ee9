package rollout

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// RateTest is the outcome of comparing the error rate after a deploy with
// the rate before it.
type RateTest struct {
	// P is the one-sided p-value that the rate after is no higher than
	// before: small means the errors after the deploy are too many to be
	// the old rate's noise.
	P float64 `json:"p"`
	// Ratio is the observed rate after over the rate before: +Inf when
	// there were errors after and none before (written "+Inf" in JSON), 1
	// when there were none at all.
	Ratio float64 `json:"-"`
}

// ErrorRateTest compares errAfter errors of reqAfter requests after a
// deploy with errBefore of reqBefore before it, by the conditional test of
// two Poisson rates (Przyborowski and Wilenski, 1940; Lehmann and Romano,
// Testing Statistical Hypotheses, §4.5): given k = errBefore + errAfter
// errors in all, under the hypothesis that the rate did not change the
// errors after are Binomial(k, reqAfter / (reqBefore + reqAfter)). The test
// is exact, so it holds at any traffic, however low, where a normal
// approximation does not. Counts are rounded to whole numbers, since
// increase() extrapolates to the window's edges.
func ErrorRateTest(errBefore, reqBefore, errAfter, reqAfter float64) (RateTest, error) {
	for _, c := range []struct {
		name string
		v    float64
	}{{"errors before", errBefore}, {"requests before", reqBefore}, {"errors after", errAfter}, {"requests after", reqAfter}} {
		if math.IsNaN(c.v) || math.IsInf(c.v, 0) || c.v < 0 {
			return RateTest{}, fmt.Errorf("%s must be a finite count, not %v", c.name, c.v)
		}
	}
	eb, nb, ea, na := math.Round(errBefore), math.Round(reqBefore), math.Round(errAfter), math.Round(reqAfter)
	if eb > nb || ea > na {
		return RateTest{}, errors.New("errors must not exceed requests")
	}
	t := RateTest{P: 1, Ratio: 1}
	switch {
	case ea == 0 && eb == 0:
	case eb == 0:
		t.Ratio = math.Inf(1)
	default:
		t.Ratio = (ea / na) / (eb / nb)
	}
	if na == 0 || nb == 0 {
		// Without traffic on one side there is nothing to compare.
		return t, nil
	}
	t.P = binomialUpperTail(int(eb+ea), int(ea), na/(na+nb))
	return t, nil
}

// binomialUpperTail is P(X >= x) for X ~ Binomial(k, p), summed exactly
// term by term in log space, so that neither the binomial coefficients of
// a large k nor the powers of a small p overflow or underflow. It is
// written here because the module does not depend on gonum's stat
// packages, and the sum is a dozen lines.
func binomialUpperTail(k, x int, p float64) float64 {
	switch {
	case x <= 0:
		return 1
	case x > k:
		return 0
	case p <= 0:
		return 0
	case p >= 1:
		return 1
	}
	lk, _ := math.Lgamma(float64(k) + 1)
	lp, lq := math.Log(p), math.Log1p(-p)
	terms := make([]float64, 0, k-x+1)
	peak := math.Inf(-1)
	for i := x; i <= k; i++ {
		li, _ := math.Lgamma(float64(i) + 1)
		lr, _ := math.Lgamma(float64(k-i) + 1)
		t := lk - li - lr + float64(i)*lp + float64(k-i)*lq
		terms = append(terms, t)
		peak = math.Max(peak, t)
	}
	var s float64
	for _, t := range terms {
		s += math.Exp(t - peak)
	}
	return math.Min(1, math.Exp(peak+math.Log(s)))
}

// Bucket is one cumulative bucket of a Prometheus histogram: Count
// observations were at most Le.
type Bucket struct {
	Le    float64 `json:"-"` // "+Inf" in JSON, as Prometheus writes it
	Count float64 `json:"count"`
}

// LatencyTest is the outcome of comparing request durations after a
// deploy with those before it.
type LatencyTest struct {
	// P is the one-sided p-value that the requests after are no slower.
	P float64 `json:"p"`
	// Effect is the probability that a request after the deploy is slower
	// than one before, ties counting half (Vargha and Delaney's A, U over
	// the pairs): 0.5 is no change.
	Effect float64 `json:"effect"`
	// Before and After are the numbers of requests compared.
	Before float64 `json:"before"`
	After  float64 `json:"after"`
}

// MannWhitney compares two histograms with the same bucket bounds by the
// Mann-Whitney U test. The observations within a bucket are tied, so
// each bucket's observations take its mid-rank; the p-value is the normal
// approximation with the variance corrected for ties and a continuity
// correction of 1/2 (Lehmann, Nonparametrics, 1975, §1.4), which is sound
// at the hundred or more requests it is used on. Buckets are cumulative,
// as Prometheus keeps them; bounds need not be sorted.
func MannWhitney(before, after []Bucket) (LatencyTest, error) {
	b, err := perBucket(before)
	if err != nil {
		return LatencyTest{}, fmt.Errorf("buckets before: %w", err)
	}
	a, err := perBucket(after)
	if err != nil {
		return LatencyTest{}, fmt.Errorf("buckets after: %w", err)
	}
	bounds := map[float64]bool{}
	for le := range b {
		bounds[le] = true
	}
	for le := range a {
		bounds[le] = true
	}
	les := make([]float64, 0, len(bounds))
	for le := range bounds {
		les = append(les, le)
	}
	sort.Float64s(les)

	var n1, n2 float64
	for _, le := range les {
		n1 += b[le]
		n2 += a[le]
	}
	t := LatencyTest{P: 1, Effect: 0.5, Before: n1, After: n2}
	if n1 == 0 || n2 == 0 {
		return t, nil
	}
	n := n1 + n2
	var below, rankSum, ties float64
	for _, le := range les {
		c := b[le] + a[le]
		rankSum += a[le] * (below + (c+1)/2)
		ties += c*c*c - c
		below += c
	}
	u := rankSum - n2*(n2+1)/2
	t.Effect = u / (n1 * n2)
	variance := n1 * n2 / 12 * ((n + 1) - ties/(n*(n-1)))
	if variance <= 0 {
		// Every request in one bucket: nothing tells them apart.
		return t, nil
	}
	z := (u - n1*n2/2 - 0.5) / math.Sqrt(variance)
	t.P = 0.5 * math.Erfc(z/math.Sqrt2)
	return t, nil
}

// perBucket turns cumulative buckets into the count of each bucket alone,
// keyed by its upper bound.
func perBucket(bs []Bucket) (map[float64]float64, error) {
	sorted := append([]Bucket(nil), bs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Le < sorted[j].Le })
	out := make(map[float64]float64, len(sorted))
	var prev float64
	for i, x := range sorted {
		if math.IsNaN(x.Le) || math.IsNaN(x.Count) || math.IsInf(x.Count, 0) || x.Count < 0 {
			return nil, fmt.Errorf("bucket le=%v has count %v", x.Le, x.Count)
		}
		if i > 0 && x.Le == sorted[i-1].Le {
			return nil, fmt.Errorf("bucket le=%v appears twice", x.Le)
		}
		// increase() of each bucket is extrapolated separately, so a
		// bucket may read a hair below the one beneath it: clamp to zero.
		out[x.Le] = math.Max(0, x.Count-prev)
		prev = math.Max(prev, x.Count)
	}
	return out, nil
}

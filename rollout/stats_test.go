package rollout

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestErrorRateTest(t *testing.T) {
	cases := []struct {
		name             string
		eb, nb, ea, na   float64
		wantP, wantRatio float64
	}{
		// k = 10, p = 1/2: P(X >= 8) = (C(10,8)+C(10,9)+C(10,10))/2^10
		// = (45+10+1)/1024.
		{"equal traffic, 8 of 10 errors after", 2, 1000, 8, 1000, 56.0 / 1024, 4},
		// k = 5, p = 1/2: P(X = 5) = 1/32.
		{"all five errors after", 0, 500, 5, 500, 1.0 / 32, math.Inf(1)},
		// k = 4, p = 100/400 = 1/4: P(X >= 3) = 4(1/4)^3(3/4) + (1/4)^4
		// = 12/256 + 1/256 = 13/256.
		{"a quarter of the traffic after", 1, 300, 3, 100, 13.0 / 256, 9},
		// One error after, none before, equal traffic: P(X >= 1) = 1/2.
		{"one error after", 0, 150, 1, 150, 0.5, math.Inf(1)},
		// No errors after: P(X >= 0) = 1.
		{"no errors after", 3, 100, 0, 100, 1, 0},
		{"no errors at all", 0, 100, 0, 100, 1, 1},
		{"no traffic before", 0, 0, 5, 100, 1, math.Inf(1)},
		// Counts from increase() are rounded: 7.6 → 8, 1.9 → 2.
		{"extrapolated counts", 1.9, 1000.2, 7.6, 999.8, 56.0 / 1024, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ErrorRateTest(c.eb, c.nb, c.ea, c.na)
			require.NoError(t, err)
			require.InDelta(t, c.wantP, got.P, 1e-12)
			if math.IsInf(c.wantRatio, 1) {
				require.True(t, math.IsInf(got.Ratio, 1), "ratio %v", got.Ratio)
			} else {
				require.InDelta(t, c.wantRatio, got.Ratio, 1e-12)
			}
		})
	}
}

func TestErrorRateTestLargeCounts(t *testing.T) {
	// 2000 errors after where 1000 were expected: the terms C(3000, i)
	// overflow float64 outside log space. Expected values are the sums
	// done exactly in integer arithmetic, sum(comb(3000, i) for i in
	// range(x, 3001)) / 2**3000 with Python's math.comb.
	got, err := ErrorRateTest(1000, 1e6, 2000, 1e6)
	require.NoError(t, err)
	require.InEpsilon(t, 5.0450743139706706e-76, got.P, 1e-9)

	// Large and unchanged: a bit over 1/2, the middle term included.
	got, err = ErrorRateTest(1500, 1e6, 1500, 1e6)
	require.NoError(t, err)
	require.InEpsilon(t, 0.5072830492578979, got.P, 1e-9)
}

func TestErrorRateTestRefusesBadCounts(t *testing.T) {
	for name, c := range map[string][4]float64{
		"negative":              {-1, 10, 0, 10},
		"NaN":                   {0, math.NaN(), 0, 10},
		"infinite":              {0, 10, math.Inf(1), 10},
		"more errors than reqs": {0, 10, 11, 10},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ErrorRateTest(c[0], c[1], c[2], c[3])
			require.Error(t, err)
		})
	}
}

func TestMannWhitney(t *testing.T) {
	t.Run("worked example", func(t *testing.T) {
		// Before: 3 requests in (0, 0.1], 1 in (0.1, 0.25]; after: 1 and 3.
		// Ranks: the four in the first bucket share mid-rank 2.5, the four
		// in the second 6.5. R_after = 2.5 + 3·6.5 = 22, U = 22 - 4·5/2 =
		// 12, mean 8. Ties: 2·(4³-4) = 120; var = 16/12·(9 - 120/56) =
		// 64/7. z = (12 - 8 - 0.5)/√(64/7) = 1.157516; P(Z > z) =
		// 0.123531 (standard normal table).
		got, err := MannWhitney(
			[]Bucket{{0.1, 3}, {0.25, 4}, {math.Inf(1), 4}},
			[]Bucket{{0.1, 1}, {0.25, 4}, {math.Inf(1), 4}},
		)
		require.NoError(t, err)
		require.InDelta(t, 0.123531, got.P, 1e-6)
		require.InDelta(t, 12.0/16, got.Effect, 1e-12)
		require.Equal(t, 4.0, got.Before)
		require.Equal(t, 4.0, got.After)
	})
	t.Run("same distribution", func(t *testing.T) {
		h := []Bucket{{0.1, 90}, {0.25, 98}, {math.Inf(1), 100}}
		got, err := MannWhitney(h, h)
		require.NoError(t, err)
		require.InDelta(t, 0.5, got.Effect, 1e-12)
		require.Greater(t, got.P, 0.4)
	})
	t.Run("after faster", func(t *testing.T) {
		got, err := MannWhitney(
			[]Bucket{{0.1, 10}, {0.25, 50}, {math.Inf(1), 100}},
			[]Bucket{{0.1, 90}, {0.25, 100}, {math.Inf(1), 100}},
		)
		require.NoError(t, err)
		require.Greater(t, got.P, 0.99)
		require.Less(t, got.Effect, 0.5)
	})
	t.Run("all in one bucket", func(t *testing.T) {
		h := []Bucket{{0.1, 100}, {math.Inf(1), 100}}
		got, err := MannWhitney(h, h)
		require.NoError(t, err)
		require.Equal(t, 1.0, got.P)
	})
	t.Run("empty side", func(t *testing.T) {
		got, err := MannWhitney([]Bucket{{0.1, 5}, {math.Inf(1), 5}}, nil)
		require.NoError(t, err)
		require.Equal(t, 1.0, got.P)
	})
	t.Run("bad buckets", func(t *testing.T) {
		_, err := MannWhitney([]Bucket{{0.1, -1}}, nil)
		require.Error(t, err)
		_, err = MannWhitney(nil, []Bucket{{0.1, 1}, {0.1, 2}})
		require.Error(t, err)
	})
}

// TestMannWhitneyU checks U against its definition: over every pair of a
// request before and one after, count the after one slower as 1 and a tie
// (same bucket) as 1/2.
func TestMannWhitneyU(t *testing.T) {
	before := []float64{7, 3, 0, 5, 1} // per bucket
	after := []float64{1, 2, 6, 0, 4}  // per bucket
	les := []float64{0.01, 0.05, 0.1, 0.5, math.Inf(1)}
	var u, n1, n2 float64
	for i, b := range before {
		n1 += b
		for j, a := range after {
			switch {
			case j > i:
				u += a * b
			case j == i:
				u += a * b / 2
			}
		}
	}
	for _, a := range after {
		n2 += a
	}
	cum := func(c []float64) []Bucket {
		var out []Bucket
		var s float64
		for i, x := range c {
			s += x
			out = append(out, Bucket{les[i], s})
		}
		return out
	}
	got, err := MannWhitney(cum(before), cum(after))
	require.NoError(t, err)
	require.InDelta(t, u/(n1*n2), got.Effect, 1e-12)
}

// TestErrorRateTestSizeAndPower draws the errors of low-traffic windows
// (200 requests each side) many times. With the rate unchanged (1%), the
// exact test rejects at alpha = 0.01 in at most about 1% of them (it is
// conservative, discrete); with the rate ×10 after, in nearly all.
func TestErrorRateTestSizeAndPower(t *testing.T) {
	rnd := rand.New(rand.NewPCG(19, 1))
	draw := func(n int, p float64) float64 {
		var e float64
		for range n {
			if rnd.Float64() < p {
				e++
			}
		}
		return e
	}
	const trials, n, alpha = 2000, 200, 0.01
	rejected := func(after float64) float64 {
		var r float64
		for range trials {
			got, err := ErrorRateTest(draw(n, 0.01), n, draw(n, after), n)
			require.NoError(t, err)
			if got.P < alpha {
				r++
			}
		}
		return r / trials
	}
	require.LessOrEqual(t, rejected(0.01), 0.015, "false alarms with the rate unchanged")
	require.GreaterOrEqual(t, rejected(0.10), 0.9, "misses with the rate ×10")
}

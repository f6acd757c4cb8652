package loadgen

import (
	"slices"
)

// Quantiles summarises latencies in microseconds.
type Quantiles struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

// QuantilesOf computes nearest-rank quantiles of samples given in nanoseconds. It sorts a copy.
func QuantilesOf(samplesNS []int64) Quantiles {
	if len(samplesNS) == 0 {
		return Quantiles{}
	}
	s := slices.Clone(samplesNS)
	slices.Sort(s)
	var sum float64
	for _, v := range s {
		sum += float64(v)
	}
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	return Quantiles{
		Count: len(s),
		P50:   us(rank(s, 0.50)),
		P90:   us(rank(s, 0.90)),
		P99:   us(rank(s, 0.99)),
		Max:   us(s[len(s)-1]),
		Mean:  sum / float64(len(s)) / 1e3,
	}
}

// rank is the nearest-rank quantile: the smallest sample with at least q of all samples at or
// below it.
func rank(sorted []int64, q float64) int64 {
	i := int(q*float64(len(sorted))+0.999999999) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}

package data

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestStandardiserRoundTrip(t *testing.T) {
	tests := []struct {
		name       string
		mean, std  []float64 // of the generated targets
		n          int
		wantStdOne []bool // whether the fitted deviation is exactly 1 (a constant target)
	}{
		{"unit scale", []float64{0, 0}, []float64{0.5, 0.5}, 500, []bool{false, false}},
		{"large offset, small spread", []float64{1000, -3}, []float64{0.01, 20}, 500, []bool{false, false}},
		{"constant target", []float64{7, 1}, []float64{0, 2}, 100, []bool{true, false}},
		{"one example", []float64{2}, []float64{1}, 1, []bool{true}},
	}
	for _, tt := range tests {
		names := make([]string, len(tt.mean))
		for j := range names {
			names[j] = string(rune('a' + j))
		}
		r := rand.New(rand.NewPCG(1, 2))
		rows := make([]float32, tt.n*len(names))
		for k := range rows {
			j := k % len(names)
			rows[k] = float32(tt.mean[j] + tt.std[j]*r.NormFloat64())
		}
		s, err := FitStandardiser(names, rows)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for j := range names {
			if got := s.Std[j] == 1; got != tt.wantStdOne[j] {
				t.Errorf("%s: target %d deviation %v, want exactly 1: %v", tt.name, j, s.Std[j], tt.wantStdOne[j])
			}
		}
		z := slices.Clone(rows)
		if err := s.Standardise(z); err != nil {
			t.Fatal(err)
		}
		// Standardised, the training targets have mean 0 and deviation 1 (or 0 when constant).
		for j := range names {
			var m, v float64
			for i := 0; i < tt.n; i++ {
				m += float64(z[i*len(names)+j])
			}
			m /= float64(tt.n)
			for i := 0; i < tt.n; i++ {
				d := float64(z[i*len(names)+j]) - m
				v += d * d
			}
			sd, want := math.Sqrt(v/float64(tt.n)), 1.0
			if tt.wantStdOne[j] {
				want = 0
			}
			if math.Abs(m) > 1e-4 || math.Abs(sd-want) > 1e-4 {
				t.Errorf("%s: target %d standardised to mean %v deviation %v, want 0 and %v", tt.name, j, m, sd, want)
			}
		}
		// Through JSON (as a checkpoint stores it) and back to the targets' units.
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back Standardiser
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if err := back.Unstandardise(z); err != nil {
			t.Fatal(err)
		}
		for k := range rows {
			// One float32 rounding of the standardised value (relative error 2^-24, scaled
			// back by the deviation: |v - mean|) and one of the result (|v|), with margin.
			v := float64(rows[k])
			tol := 2.5e-7 * (math.Abs(v) + math.Abs(v-s.Mean[k%len(names)]))
			if d := math.Abs(float64(z[k] - rows[k])); d > tol {
				t.Fatalf("%s: value %d came back as %v, was %v (off by %g, tolerance %g)", tt.name, k, z[k], rows[k], d, tol)
			}
		}
	}
}

func TestStandardiserErrors(t *testing.T) {
	good := Standardiser{Names: []string{"a", "b"}, Mean: []float64{0, 1}, Std: []float64{1, 2}}
	tests := []struct {
		name    string
		s       Standardiser
		rows    []float32
		wantErr string
	}{
		{"partial row", good, []float32{1, 2, 3}, "not whole rows"},
		{"missing deviation", Standardiser{Names: []string{"a"}, Mean: []float64{0}}, []float32{1}, "1 names, 1 means and 0 deviations"},
		{"zero deviation", Standardiser{Names: []string{"a"}, Mean: []float64{0}, Std: []float64{0}}, []float32{1}, `target "a"`},
		{"NaN mean", Standardiser{Names: []string{"a"}, Mean: []float64{math.NaN()}, Std: []float64{1}}, []float32{1}, `target "a"`},
		{"no targets", Standardiser{}, nil, "0 names"},
	}
	for _, tt := range tests {
		for _, f := range []func([]float32) error{tt.s.Standardise, tt.s.Unstandardise} {
			if err := f(tt.rows); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: got error %v, want one containing %q", tt.name, err, tt.wantErr)
			}
		}
	}
	if _, err := FitStandardiser([]string{"a", "b"}, []float32{1, 2, 3}); err == nil {
		t.Errorf("fit to a partial row: got nil error")
	}
	if _, err := FitStandardiser([]string{"a"}, nil); err == nil {
		t.Errorf("fit to no rows: got nil error")
	}
}

package opkit

import (
	"math"
	"testing"
)

func TestCentralDifferences(t *testing.T) {
	x := []float64{0.5, -1.25, 2}
	// f = x0^2 x1 + sin(x2): gradient (2 x0 x1, x0^2, cos(x2)).
	f := func(v []float64) float64 { return v[0]*v[0]*v[1] + math.Sin(v[2]) }
	got := CentralDifferences(x, 1e-5, f)
	want := []float64{2 * x[0] * x[1], x[0] * x[0], math.Cos(x[2])}
	for j := range want {
		if math.Abs(got[j]-want[j]) > 1e-8 {
			t.Errorf("d/dx[%d] = %.12g, want %.12g", j, got[j], want[j])
		}
	}
	if x[0] != 0.5 || x[1] != -1.25 || x[2] != 2 {
		t.Errorf("x changed to %v", x)
	}
}

package kernels

import "testing"

func TestFill(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 100, 1025} {
		v := make([]float32, n+2)
		for i := range v {
			v[i] = -1
		}
		fill(v[1:n+1], 2.5)
		if v[0] != -1 || v[n+1] != -1 {
			t.Errorf("n=%d: fill wrote outside its slice: %v %v", n, v[0], v[n+1])
		}
		for i, x := range v[1 : n+1] {
			if x != 2.5 {
				t.Errorf("n=%d: element %d = %v, want 2.5", n, i, x)
				break
			}
		}
	}
}

package opkit

// CentralDifferences returns the numeric gradient of f at x, element j being
// (f(x + h e_j) - f(x - h e_j)) / 2h: the reference every differentiable op's
// gradient is checked against, in float64. f is handed a scratch copy of x with
// one element moved; x itself is left as it was.
func CentralDifferences(x []float64, h float64, f func(x []float64) float64) []float64 {
	xs := append([]float64(nil), x...)
	grad := make([]float64, len(x))
	for j := range xs {
		orig := xs[j]
		xs[j] = orig + h
		up := f(xs)
		xs[j] = orig - h
		down := f(xs)
		xs[j] = orig
		grad[j] = (up - down) / (2 * h)
	}
	return grad
}

//go:build !amd64

package blas

func addAVX2(*float32, *float32, int) { panic("blas: addAVX2 off amd64") }

func hasVectorAdd() bool { return false }

func add2DAVX2(*float32, *float32, int, int, int, int) { panic("blas: add2DAVX2 off amd64") }

func copy2DAVX2(*float32, *float32, int, int, int, int) { panic("blas: copy2DAVX2 off amd64") }

func sum8AVX2(*float32, int, *[8]float32) { panic("blas: sum8AVX2 off amd64") }

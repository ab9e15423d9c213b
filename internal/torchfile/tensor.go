package torchfile

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// DType is the element type a tensor has in the file.
type DType int

// The element types the readers know. Floating types are converted to float32
// (Tensor.Data), integer and boolean types to int64 (Tensor.Ints).
const (
	Float32 DType = iota + 1
	Float64
	Float16
	BFloat16
	Int64
	Int32
	Int16
	Int8
	Uint8
	Bool
)

var dtypeNames = [...]string{
	Float32: "float32", Float64: "float64", Float16: "float16", BFloat16: "bfloat16",
	Int64: "int64", Int32: "int32", Int16: "int16", Int8: "int8", Uint8: "uint8", Bool: "bool",
}

var dtypeSizes = [...]int{
	Float32: 4, Float64: 8, Float16: 2, BFloat16: 2,
	Int64: 8, Int32: 4, Int16: 2, Int8: 1, Uint8: 1, Bool: 1,
}

func (d DType) String() string {
	if d > 0 && int(d) < len(dtypeNames) {
		return dtypeNames[d]
	}
	return fmt.Sprintf("dtype(%d)", int(d))
}

// IsFloat says whether values of this type are floating point.
func (d DType) IsFloat() bool { return d >= Float32 && d <= BFloat16 }

// Size is the number of bytes of one element.
func (d DType) Size() int {
	if d > 0 && int(d) < len(dtypeSizes) {
		return dtypeSizes[d]
	}
	return 0
}

// Tensor is one named array of a state_dict, row-major (C order).
type Tensor struct {
	Shape []int
	DType DType     // the type in the file
	Data  []float32 // the values of a floating tensor (nil otherwise)
	Ints  []int64   // the values of an integer or boolean tensor (nil otherwise)
}

// Len is the number of values, the product of Shape (1 for a 0-d scalar).
func (t *Tensor) Len() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// StateDict is an ordered map from names to tensors, in the order of the file.
type StateDict struct {
	names    []string
	tensors  map[string]*Tensor
	metadata map[string]string
}

// Metadata is a safetensors file's "__metadata__" (nil for a .pth).
func (s *StateDict) Metadata() map[string]string { return s.metadata }

func newStateDict() *StateDict { return &StateDict{tensors: map[string]*Tensor{}} }

func (s *StateDict) add(name string, t *Tensor) error {
	if _, ok := s.tensors[name]; ok {
		return fmt.Errorf("%w: tensor %q appears twice", ErrFormat, truncate(name))
	}
	s.names = append(s.names, name)
	s.tensors[name] = t
	return nil
}

// Names lists the tensor names in file order.
func (s *StateDict) Names() []string { return append([]string(nil), s.names...) }

// Len is the number of tensors.
func (s *StateDict) Len() int { return len(s.names) }

// Tensor returns the tensor with this name.
func (s *StateDict) Tensor(name string) (*Tensor, bool) {
	t, ok := s.tensors[name]
	return t, ok
}

// Float32 returns the values of the floating tensor name, which must have the
// given shape; the error names the tensor and what is wrong with it.
func (s *StateDict) Float32(name string, shape ...int) ([]float32, error) {
	t, ok := s.tensors[name]
	switch {
	case !ok:
		return nil, fmt.Errorf("tensor %q is missing", name)
	case !t.DType.IsFloat():
		return nil, fmt.Errorf("tensor %q is %s, not floating point", name, t.DType)
	case !slices.Equal(t.Shape, shape):
		return nil, fmt.Errorf("tensor %q has shape %v, want %v", name, t.Shape, shape)
	}
	return t.Data, nil
}

// Sub returns the tensors whose names start with prefix, the prefix removed,
// in the same order: Sub("hi_res.") of the official model is its task network,
// Sub("module.") undoes torch.nn.DataParallel's renaming. The tensors are shared.
func (s *StateDict) Sub(prefix string) *StateDict {
	out := newStateDict()
	for _, n := range s.names {
		if len(n) > len(prefix) && n[:len(prefix)] == prefix {
			out.names = append(out.names, n[len(prefix):])
			out.tensors[n[len(prefix):]] = s.tensors[n]
		}
	}
	return out
}

// storage is one of torch's flat typed buffers; tensors are strided views of it.
type storage struct {
	key   string
	dtype DType
	numel int64
	order binary.ByteOrder
	data  []byte // numel * dtype.Size() bytes once loaded
}

// tensorRef is a tensor as the pickle describes it, before its storage is read.
type tensorRef struct {
	st     *storage
	offset int64
	shape  []int64
	stride []int64
}

// maxRank bounds a tensor's number of dimensions; torch allows 64, weights use 4.
const maxRank = 16

// checkView validates a strided view against its storage and returns its number
// of elements. A view may not reach outside the storage, and may not hold more
// elements than the storage (an overlapping view such as expand()'s is never
// part of a state_dict, and refusing it bounds memory by the file's size).
func checkView(name string, r *tensorRef) (int, error) {
	if len(r.shape) > maxRank || len(r.shape) != len(r.stride) {
		return 0, fmt.Errorf("%w: tensor %q: %d sizes and %d strides", ErrFormat, name, len(r.shape), len(r.stride))
	}
	if r.offset < 0 {
		return 0, fmt.Errorf("%w: tensor %q: negative storage offset", ErrFormat, name)
	}
	empty := false
	for i, d := range r.shape {
		if d < 0 || r.stride[i] < 0 {
			return 0, fmt.Errorf("%w: tensor %q: negative size or stride", ErrFormat, name)
		}
		empty = empty || d == 0
	}
	if empty {
		return 0, nil
	}
	numel := int64(1)
	last := r.offset
	for i, d := range r.shape {
		if d > r.st.numel || numel > r.st.numel/d {
			return 0, fmt.Errorf("%w: tensor %q of shape %v is larger than its storage of %d values", ErrFormat, name, r.shape, r.st.numel)
		}
		numel *= d
		if r.stride[i] > r.st.numel {
			return 0, fmt.Errorf("%w: tensor %q: stride %d beyond its storage of %d values", ErrFormat, name, r.stride[i], r.st.numel)
		}
		last += (d - 1) * r.stride[i] // each term <= numel^2 < 2^62 after the checks above
		if last >= r.st.numel {
			return 0, fmt.Errorf("%w: tensor %q (offset %d, shape %v, strides %v) reaches beyond its storage of %d values", ErrFormat, name, r.offset, r.shape, r.stride, r.st.numel)
		}
	}
	if r.offset >= r.st.numel && numel > 0 {
		return 0, fmt.Errorf("%w: tensor %q: offset %d beyond its storage of %d values", ErrFormat, name, r.offset, r.st.numel)
	}
	return int(numel), nil
}

// materialize copies a checked view out of its loaded storage into a row-major
// Tensor, converting to float32 or int64.
func materialize(r *tensorRef, numel int) *Tensor {
	t := &Tensor{Shape: make([]int, len(r.shape)), DType: r.st.dtype}
	for i, d := range r.shape {
		t.Shape[i] = int(d)
	}
	if t.DType.IsFloat() {
		t.Data = make([]float32, numel)
	} else {
		t.Ints = make([]int64, numel)
	}
	if numel == 0 {
		return t
	}
	idx := make([]int64, len(r.shape))
	pos := r.offset
	for k := 0; k < numel; k++ {
		if t.Data != nil {
			t.Data[k] = floatAt(r.st, pos)
		} else {
			t.Ints[k] = intAt(r.st, pos)
		}
		// Advance the multi-index, last dimension fastest.
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			pos += r.stride[d]
			if idx[d] < r.shape[d] {
				break
			}
			pos -= idx[d] * r.stride[d]
			idx[d] = 0
		}
	}
	return t
}

func floatAt(s *storage, i int64) float32 {
	switch s.dtype {
	case Float32:
		return math.Float32frombits(s.order.Uint32(s.data[4*i:]))
	case Float64:
		return float32(math.Float64frombits(s.order.Uint64(s.data[8*i:])))
	case Float16:
		return halfToFloat(s.order.Uint16(s.data[2*i:]))
	case BFloat16:
		return math.Float32frombits(uint32(s.order.Uint16(s.data[2*i:])) << 16)
	}
	return 0
}

func intAt(s *storage, i int64) int64 {
	switch s.dtype {
	case Int64:
		return int64(s.order.Uint64(s.data[8*i:]))
	case Int32:
		return int64(int32(s.order.Uint32(s.data[4*i:])))
	case Int16:
		return int64(int16(s.order.Uint16(s.data[2*i:])))
	case Int8:
		return int64(int8(s.data[i]))
	case Uint8, Bool:
		return int64(s.data[i])
	}
	return 0
}

// halfToFloat converts an IEEE 754 binary16 value exactly.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf, NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: frac * 2^-24
		v := float32(frac) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
}

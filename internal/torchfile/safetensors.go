package torchfile

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
)

// maxSafetensorsHeader bounds the JSON header, as the reference implementation does.
const maxSafetensorsHeader = 100 << 20

var safetensorsDTypes = map[string]DType{
	"F32": Float32, "F64": Float64, "F16": Float16, "BF16": BFloat16,
	"I64": Int64, "I32": Int32, "I16": Int16, "I8": Int8, "U8": Uint8, "BOOL": Bool,
}

type safetensorsEntry struct {
	DType       string  `json:"dtype"`
	Shape       []int64 `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// parseSafetensors reads the safetensors format: an 8-byte little-endian header
// length, a JSON object mapping each name to its dtype, shape and [begin, end)
// byte range in the data that follows (plus an optional "__metadata__" object of
// strings), then the little-endian row-major data. The ranges must tile the data
// exactly, without gaps or overlaps. Tensors come out in data order.
func parseSafetensors(data []byte) (*StateDict, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("%w: safetensors file of %d bytes is truncated", ErrFormat, len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > maxSafetensorsHeader || n > uint64(len(data)-8) {
		return nil, fmt.Errorf("%w: safetensors header of %d bytes in a file of %d", ErrFormat, n, len(data))
	}
	header, body := data[8:8+n], data[8+n:]
	dec := json.NewDecoder(bytes.NewReader(header))
	dec.DisallowUnknownFields()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("%w: safetensors header is not a JSON object", ErrFormat)
	}
	type item struct {
		name string
		e    safetensorsEntry
	}
	var items []item
	var meta map[string]string
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: safetensors header: %v", ErrFormat, err)
		}
		name, _ := tok.(string)
		if seen[name] {
			return nil, fmt.Errorf("%w: safetensors header names %q twice", ErrFormat, truncate(name))
		}
		seen[name] = true
		if name == "__metadata__" {
			if err := dec.Decode(&meta); err != nil {
				return nil, fmt.Errorf("%w: safetensors __metadata__: %v", ErrFormat, err)
			}
			continue
		}
		var e safetensorsEntry
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("%w: safetensors entry %q: %v", ErrFormat, name, err)
		}
		items = append(items, item{name, e})
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, fmt.Errorf("%w: safetensors header is not a JSON object", ErrFormat)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the safetensors header object", ErrFormat)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%w: the safetensors file holds no tensors", ErrNotStateDict)
	}

	refs := make([]namedRef, len(items))
	begins := make([]int64, len(items))
	for i, it := range items {
		dtype, ok := safetensorsDTypes[it.e.DType]
		if !ok {
			return nil, fmt.Errorf("%w %q of tensor %q", ErrDType, it.e.DType, truncate(it.name))
		}
		if len(it.e.DataOffsets) != 2 {
			return nil, fmt.Errorf("%w: tensor %q: data_offsets needs 2 values", ErrFormat, truncate(it.name))
		}
		b, e := it.e.DataOffsets[0], it.e.DataOffsets[1]
		if b < 0 || e < b || e > int64(len(body)) {
			return nil, fmt.Errorf("%w: tensor %q: data_offsets [%d, %d] outside the %d data bytes", ErrFormat, truncate(it.name), b, e, len(body))
		}
		size := int64(dtype.Size())
		if (e-b)%size != 0 {
			return nil, fmt.Errorf("%w: tensor %q: %d bytes are not whole %s values", ErrFormat, truncate(it.name), e-b, dtype)
		}
		st := &storage{key: it.name, dtype: dtype, numel: (e - b) / size, order: binary.LittleEndian, data: body[b:e]}
		ref := &tensorRef{st: st, shape: it.e.Shape, stride: make([]int64, len(it.e.Shape))}
		if len(ref.shape) > maxRank {
			return nil, fmt.Errorf("%w: tensor %q has %d dimensions", ErrFormat, truncate(it.name), len(ref.shape))
		}
		numel, err := contiguous(ref)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", truncate(it.name), err)
		}
		if numel != st.numel {
			return nil, fmt.Errorf("%w: tensor %q: shape %v needs %d %s values, its data_offsets hold %d", ErrFormat, truncate(it.name), ref.shape, numel, dtype, st.numel)
		}
		refs[i] = namedRef{it.name, ref}
		begins[i] = b
	}
	// Data order, which is also how the ranges are checked to tile the data.
	idx := make([]int, len(refs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ra, rb := refs[idx[a]].ref.st, refs[idx[b]].ref.st
		if begins[idx[a]] != begins[idx[b]] {
			return begins[idx[a]] < begins[idx[b]]
		}
		return ra.numel < rb.numel
	})
	ordered := make([]namedRef, len(refs))
	var end int64
	for k, i := range idx {
		ordered[k] = refs[i]
		if begins[i] != end {
			return nil, fmt.Errorf("%w: tensor %q starts at data byte %d, the previous one ends at %d", ErrFormat, refs[i].name, begins[i], end)
		}
		end += int64(len(refs[i].ref.st.data))
	}
	if end != int64(len(body)) {
		return nil, fmt.Errorf("%w: the tensors cover %d of the %d data bytes", ErrFormat, end, len(body))
	}
	sd, err := buildStateDict(ordered, len(data))
	if err != nil {
		return nil, err
	}
	sd.metadata = meta
	return sd, nil
}

// contiguous sets a row-major stride for ref's shape and returns its number of
// elements, or an error if that exceeds its storage.
func contiguous(ref *tensorRef) (int64, error) {
	empty := false
	for _, d := range ref.shape {
		if d < 0 {
			return 0, fmt.Errorf("%w: negative size in shape %v", ErrFormat, ref.shape)
		}
		empty = empty || d == 0
	}
	numel := int64(1)
	for d := len(ref.shape) - 1; d >= 0; d-- {
		ref.stride[d] = numel
		if !empty && numel > ref.st.numel/ref.shape[d] {
			return 0, fmt.Errorf("%w: shape %v holds more than the %d values present", ErrFormat, ref.shape, ref.st.numel)
		}
		numel *= ref.shape[d]
	}
	if empty {
		return 0, nil
	}
	return numel, nil
}

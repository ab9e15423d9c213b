// Package npyfile reads and writes the small NumPy .npy arrays zoomtrain exchanges
// with scripts: saliency maps (h x w) and sampling grids (h x w x 2).
//
// The reader trusts nothing in the file: the header is parsed strictly, the shape
// must be what the caller asks for, and the data must be exactly as long as the shape
// says, so a header that lies about the shape is an error, and the memory used is
// bounded by the bytes actually present, never by what the header claims.
package npyfile

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"zoomtrain/internal/atomicfile"
	"zoomtrain/internal/inputfile"
)

// MaxValues bounds the number of values an array may hold (64 Mi, 256 MiB of
// float32): far above any saliency map or grid, far below what a forged shape asks.
const MaxValues = 64 << 20

// maxHeader bounds the header dictionary; NumPy itself writes a few dozen bytes.
const maxHeader = 1 << 16

// maxFileBytes is the longest file Read can accept: magic, version, a 4-byte header
// length, the header and MaxValues float64 values.
const maxFileBytes = int64(len(magic)) + 2 + 4 + maxHeader + 8*MaxValues

const magic = "\x93NUMPY"

// ErrFormat is wrapped into every error about the content of a file.
var ErrFormat = errors.New("not a valid .npy array")

// header is the part of the .npy header dictionary this package understands.
type header struct {
	order   binary.ByteOrder
	size    int // bytes per value: 4 (float32) or 8 (float64)
	fortran bool
	shape   []int
}

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

// Read2D reads a 2-D float32 or float64 array (either byte order, C or Fortran order)
// as row-major float32, returning its values and shape h x w.
func Read2D(r io.Reader) (values []float32, h, w int, err error) {
	values, shape, err := Read(r, 2)
	if err != nil {
		return nil, 0, 0, err
	}
	return values, shape[0], shape[1], nil
}

// ReadFile2D is Read2D on a file; errors name the file. Only a regular file is opened,
// and one longer than the largest array Read accepts (maxHeader and 8 bytes for each of
// MaxValues values) is refused unread.
func ReadFile2D(path string) (values []float32, h, w int, err error) {
	f, err := inputfile.Open(path)
	if err != nil {
		return nil, 0, 0, err
	}
	if err := inputfile.CheckSize(f, path, maxFileBytes); err != nil {
		f.Close()
		return nil, 0, 0, err
	}
	defer f.Close()
	values, h, w, err = Read2D(bufio.NewReader(f))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	return values, h, w, nil
}

// Read reads a float32 or float64 array of ndim dimensions as row-major float32 and
// returns it with its shape. The stream must end with the array.
func Read(r io.Reader, ndim int) ([]float32, []int, error) {
	h, err := readHeader(r)
	if err != nil {
		return nil, nil, err
	}
	if len(h.shape) != ndim {
		return nil, nil, formatErr("array of shape %v, want %d-D", h.shape, ndim)
	}
	n := 1
	for _, d := range h.shape {
		// d <= MaxValues and n <= MaxValues keep the product inside an int64.
		if d > MaxValues || n*d > MaxValues {
			return nil, nil, formatErr("array of shape %v is larger than the limit of %d values", h.shape, MaxValues)
		}
		n *= d
	}
	want := int64(n) * int64(h.size)
	// Read at most one byte more than the shape needs: a short file is found without
	// allocating what the header claims, a long one by the extra byte.
	raw, err := io.ReadAll(io.LimitReader(r, want+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read data: %w", err)
	}
	switch {
	case int64(len(raw)) < want:
		return nil, nil, formatErr("shape %v needs %d bytes of data, the file holds %d", h.shape, want, len(raw))
	case int64(len(raw)) > want:
		return nil, nil, formatErr("data continues past the %d bytes that shape %v needs", want, h.shape)
	}
	out := make([]float32, n)
	for i := range out {
		if h.size == 4 {
			out[i] = math.Float32frombits(h.order.Uint32(raw[4*i:]))
		} else {
			out[i] = float32(math.Float64frombits(h.order.Uint64(raw[8*i:])))
		}
	}
	if h.fortran && ndim > 1 {
		out = fortranToC(out, h.shape)
	}
	return out, h.shape, nil
}

// fortranToC reorders column-major values to row-major.
func fortranToC(v []float32, shape []int) []float32 {
	out := make([]float32, len(v))
	idx := make([]int, len(shape))
	for f := range v {
		// idx is the multi-index of the f-th value in column-major order.
		c := 0
		for k := range shape {
			c = c*shape[k] + idx[k]
		}
		out[c] = v[f]
		for k := 0; k < len(shape); k++ {
			idx[k]++
			if idx[k] < shape[k] {
				break
			}
			idx[k] = 0
		}
	}
	return out
}

// readHeader reads the magic, the version, and the header dictionary.
func readHeader(r io.Reader) (header, error) {
	var h header
	pre := make([]byte, len(magic)+2)
	if _, err := io.ReadFull(r, pre); err != nil {
		return h, formatErr("file of fewer than %d bytes", len(pre))
	}
	if string(pre[:len(magic)]) != magic {
		return h, formatErr("no .npy magic")
	}
	var hlen int
	switch major := pre[len(magic)]; major {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return h, formatErr("truncated header")
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return h, formatErr("truncated header")
		}
		hlen = int(min(binary.LittleEndian.Uint32(b[:]), maxHeader+1))
	default:
		return h, formatErr("format version %d.%d, want 1, 2 or 3", major, pre[len(magic)+1])
	}
	if hlen > maxHeader {
		return h, formatErr("header longer than %d bytes", maxHeader)
	}
	dict := make([]byte, hlen)
	if _, err := io.ReadFull(r, dict); err != nil {
		return h, formatErr("header of %d bytes is truncated", hlen)
	}
	return parseDict(string(dict))
}

// parseDict parses the header's Python dict literal, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }, requiring exactly the
// three keys NumPy writes.
func parseDict(s string) (header, error) {
	var h header
	p := &lexer{s: strings.TrimRight(s, " \n\x00")}
	if !p.eat('{') {
		return h, formatErr("header is not a dictionary")
	}
	seen := map[string]bool{}
	for !p.eat('}') {
		key, ok := p.str()
		if !ok || !p.eat(':') {
			return h, formatErr("header dictionary is malformed")
		}
		if seen[key] {
			return h, formatErr("header key %q appears twice", key)
		}
		seen[key] = true
		switch key {
		case "descr":
			d, ok := p.str()
			if !ok {
				return h, formatErr("descr is not a string")
			}
			if err := h.setDescr(d); err != nil {
				return h, err
			}
		case "fortran_order":
			switch {
			case p.word("True"):
				h.fortran = true
			case p.word("False"):
			default:
				return h, formatErr("fortran_order is not True or False")
			}
		case "shape":
			shape, ok := p.tuple()
			if !ok {
				return h, formatErr("shape is not a tuple of non-negative integers")
			}
			h.shape = shape
		default:
			return h, formatErr("unknown header key %q", key)
		}
		if !p.eat(',') && !p.peek('}') {
			return h, formatErr("header dictionary is malformed")
		}
	}
	if p.skip(); p.i != len(p.s) {
		return h, formatErr("header has data after the dictionary")
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return h, formatErr("header has no %q", k)
		}
	}
	return h, nil
}

// setDescr accepts float32 and float64 in either byte order.
func (h *header) setDescr(d string) error {
	if len(d) == 3 && d[1] == 'f' && (d[2] == '4' || d[2] == '8') {
		switch d[0] {
		case '<':
			h.order = binary.LittleEndian
		case '>':
			h.order = binary.BigEndian
		default:
			return formatErr("dtype %q, want float32 or float64", d)
		}
		h.size = int(d[2] - '0')
		return nil
	}
	return formatErr("dtype %q, want float32 or float64", d)
}

// lexer walks the header's Python literal.
type lexer struct {
	s string
	i int
}

func (p *lexer) skip() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}

func (p *lexer) peek(c byte) bool {
	p.skip()
	return p.i < len(p.s) && p.s[p.i] == c
}

func (p *lexer) eat(c byte) bool {
	if p.peek(c) {
		p.i++
		return true
	}
	return false
}

func (p *lexer) word(w string) bool {
	p.skip()
	if strings.HasPrefix(p.s[p.i:], w) {
		p.i += len(w)
		return true
	}
	return false
}

// str reads a quoted string without escapes (NumPy's keys and dtypes have none).
func (p *lexer) str() (string, bool) {
	p.skip()
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", false
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", false
	}
	v := p.s[p.i+1 : p.i+1+end]
	if strings.ContainsRune(v, '\\') {
		return "", false
	}
	p.i += end + 2
	return v, true
}

// tuple reads (), (n,) or (a, b, ...) of non-negative integers.
func (p *lexer) tuple() ([]int, bool) {
	if !p.eat('(') {
		return nil, false
	}
	dims := []int{}
	for !p.eat(')') {
		p.skip()
		j := p.i
		for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
			j++
		}
		if j == p.i || j-p.i > 12 {
			return nil, false
		}
		d, err := strconv.Atoi(p.s[p.i:j])
		if err != nil {
			return nil, false
		}
		p.i = j
		dims = append(dims, d)
		if !p.eat(',') && !p.peek(')') {
			return nil, false
		}
	}
	return dims, true
}

// Write writes values as a C-order little-endian float32 array of the given shape.
func Write(w io.Writer, values []float32, shape ...int) error {
	n := 1
	dims := make([]string, len(shape))
	for i, d := range shape {
		if d < 0 {
			return fmt.Errorf("negative dimension in shape %v", shape)
		}
		n *= d
		dims[i] = strconv.Itoa(d)
	}
	if n != len(values) {
		return fmt.Errorf("shape %v holds %d values, got %d", shape, n, len(values))
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	dict := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", tuple)
	// NumPy pads the header with spaces and a newline so the data starts on a
	// 64-byte boundary.
	total := len(magic) + 2 + 2 + len(dict) + 1
	pad := (64 - total%64) % 64
	var b bytes.Buffer
	b.WriteString(magic)
	b.Write([]byte{1, 0})
	if err := binary.Write(&b, binary.LittleEndian, uint16(len(dict)+pad+1)); err != nil {
		return err
	}
	b.WriteString(dict)
	b.WriteString(strings.Repeat(" ", pad))
	b.WriteByte('\n')
	buf := make([]byte, 4*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
	}
	b.Write(buf)
	_, err := w.Write(b.Bytes())
	return err
}

// WriteFile writes values (of the given shape) to path atomically: a crash leaves
// the old file or the new one, never half of one.
func WriteFile(path string, values []float32, shape ...int) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		if err := Write(w, values, shape...); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	})
}

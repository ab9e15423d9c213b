// Package checkpoint reads and writes zoomtrain's versioned, self-describing,
// checksummed checkpoint files.
//
// Layout, all integers little-endian:
//
//	"ZTCKPT\n"        7 bytes of magic
//	version           uint32 (FormatVersion)
//	payload length    uint64
//	payload:
//	  header length   uint32
//	  header          JSON: epoch, step, classes, extra, config length, tensor names and shapes
//	  config          the resolved YAML config, verbatim
//	  tensor data     float32 values of Weights, then Buffers, then Optimizer, in order
//	SHA-256           32 bytes over everything before it
//
// The header is JSON so that `head -c 4096 file` shows what a checkpoint holds. A
// reader checks the frame lengths against the file size and the checksum before it
// decodes anything, so a damaged or truncated file is an error, never garbage.
package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"unicode/utf8"

	"zoomtrain/internal/atomicfile"
	"zoomtrain/internal/inputfile"
)

// FormatVersion is the layout version this build writes and reads.
const FormatVersion = 1

// MaxFileBytes bounds the checkpoint files Load and Peek read: Load holds the file and
// its values (about twice the file) in memory. A ResNet-152-sized model (60 M
// parameters) with Adam's two moments is about 0.7 GB, so 2 GiB is three times the
// largest model in sight, and a wrong path to a disk image is an error, not an OOM.
const MaxFileBytes = 2 << 30

const (
	magic     = "ZTCKPT\n"
	frameSize = len(magic) + 4 + 8 // magic, version, payload length
	sumSize   = sha256.Size
)

// Tensor is one named array, stored as float32. Shape [] is a scalar (one value).
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// Checkpoint is everything needed to resume or evaluate a run.
type Checkpoint struct {
	Version    int    // set by Load; Save always writes FormatVersion
	ConfigYAML []byte // the resolved config of the run
	Classes    []string
	Epoch      int
	Step       int
	Weights    []Tensor          // model parameters, in the model's order
	Buffers    []Tensor          // non-learned state: batch-norm running statistics
	Optimizer  []Tensor          // optimiser state, named "<param>/m" etc.
	Extra      map[string]string // free-form text: metrics history JSON, rng state, best top-1
}

// Errors that Load and Peek wrap, for callers that tell the cases apart.
var (
	ErrNotCheckpoint = errors.New("not a zoomtrain checkpoint")
	ErrTruncated     = errors.New("truncated checkpoint")
	ErrDamaged       = errors.New("damaged checkpoint")
)

// VersionError is a checkpoint written in a format version this build cannot read.
type VersionError struct{ Got, Want int }

func (e *VersionError) Error() string {
	return fmt.Sprintf("checkpoint format version %d, this build reads %d", e.Got, e.Want)
}

// header is the JSON part of the payload.
type header struct {
	Epoch       int               `json:"epoch"`
	Step        int               `json:"step"`
	Classes     []string          `json:"classes"`
	ConfigBytes int64             `json:"config_bytes"`
	Weights     []tensorInfo      `json:"weights"`
	Buffers     []tensorInfo      `json:"buffers"`
	Optimizer   []tensorInfo      `json:"optimizer"`
	Extra       map[string]string `json:"extra"`
}

type tensorInfo struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
}

// Save writes c to path atomically: a reader, or a crash mid-write, sees the old file
// or the new one, never a mix. A full disk gives an error wrapping
// atomicfile.ErrDiskFull.
func Save(path string, c *Checkpoint) error {
	return save(path, c, nil)
}

// save is Save with a hook that wraps the file writer, so tests can fail a write.
func save(path string, c *Checkpoint, wrap func(io.Writer) io.Writer) error {
	if c == nil {
		return fmt.Errorf("save checkpoint %s: nil checkpoint", path)
	}
	if err := check(c); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", path, err)
	}
	err := atomicfile.Write(path, func(w io.Writer) error {
		if wrap != nil {
			w = wrap(w)
		}
		if err := encode(w, c); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	return nil
}

// check refuses what the format cannot hold faithfully.
func check(c *Checkpoint) error {
	if c.Epoch < 0 || c.Step < 0 {
		return fmt.Errorf("negative epoch %d or step %d", c.Epoch, c.Step)
	}
	for i, s := range c.Classes {
		if !utf8.ValidString(s) {
			return fmt.Errorf("class %d is not valid UTF-8", i)
		}
	}
	for k, v := range c.Extra {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("extra %q is not valid UTF-8", k)
		}
	}
	for _, sec := range sections(c) {
		if err := checkNames(sec.name, infos(*sec.ts)); err != nil {
			return err
		}
		for _, t := range *sec.ts {
			n, err := elements(t.Shape, int64(len(t.Data)))
			if err != nil {
				return fmt.Errorf("%s %q: %w", sec.name, t.Name, err)
			}
			if n != int64(len(t.Data)) {
				return fmt.Errorf("%s %q: shape %v holds %d values, data has %d", sec.name, t.Name, t.Shape, n, len(t.Data))
			}
		}
	}
	return nil
}

// checkNames requires names that are non-empty and unique within a section, so a
// reader can look tensors up by name.
func checkNames(section string, ts []tensorInfo) error {
	seen := make(map[string]bool, len(ts))
	for _, t := range ts {
		if t.Name == "" || !utf8.ValidString(t.Name) {
			return fmt.Errorf("%s: tensor name %q is empty or not UTF-8", section, t.Name)
		}
		if seen[t.Name] {
			return fmt.Errorf("%s: tensor name %q appears twice", section, t.Name)
		}
		seen[t.Name] = true
	}
	return nil
}

type section struct {
	name string
	ts   *[]Tensor
}

func sections(c *Checkpoint) []section {
	return []section{{"weights", &c.Weights}, {"buffers", &c.Buffers}, {"optimizer", &c.Optimizer}}
}

// elements is the number of values of shape, refusing negative dimensions and any
// count above limit (so a lying header cannot make us allocate more than the file).
func elements(shape []int, limit int64) (int64, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		if d == 0 {
			n = 0
			continue
		}
		if n > limit/int64(d) {
			return 0, fmt.Errorf("shape %v is larger than %d values", shape, limit)
		}
		n *= int64(d)
	}
	return n, nil
}

func infos(ts []Tensor) []tensorInfo {
	out := make([]tensorInfo, len(ts))
	for i, t := range ts {
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		out[i] = tensorInfo{Name: t.Name, Shape: shape}
	}
	return out
}

func encode(w io.Writer, c *Checkpoint) error {
	h := header{
		Epoch:       c.Epoch,
		Step:        c.Step,
		Classes:     c.Classes,
		ConfigBytes: int64(len(c.ConfigYAML)),
		Weights:     infos(c.Weights),
		Buffers:     infos(c.Buffers),
		Optimizer:   infos(c.Optimizer),
		Extra:       c.Extra,
	}
	js, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encode header: %w", err)
	}
	if len(js) > math.MaxUint32 {
		return fmt.Errorf("header of %d bytes is too large", len(js))
	}
	var values int64
	for _, sec := range sections(c) {
		for _, t := range *sec.ts {
			values += int64(len(t.Data))
		}
	}
	payload := 4 + int64(len(js)) + int64(len(c.ConfigYAML)) + 4*values

	sum := sha256.New()
	hw := io.MultiWriter(w, sum)
	frame := make([]byte, 0, frameSize+4)
	frame = append(frame, magic...)
	frame = binary.LittleEndian.AppendUint32(frame, FormatVersion)
	frame = binary.LittleEndian.AppendUint64(frame, uint64(payload))
	frame = binary.LittleEndian.AppendUint32(frame, uint32(len(js)))
	for _, b := range [][]byte{frame, js, c.ConfigYAML} {
		if _, err := hw.Write(b); err != nil {
			return err
		}
	}
	// Values go out through a bounded buffer so that a large model is not copied
	// whole into memory a second time.
	buf := make([]byte, 0, 64<<10)
	for _, sec := range sections(c) {
		for _, t := range *sec.ts {
			for _, v := range t.Data {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
				if len(buf) == cap(buf) {
					if _, err := hw.Write(buf); err != nil {
						return err
					}
					buf = buf[:0]
				}
			}
		}
	}
	if _, err := hw.Write(buf); err != nil {
		return err
	}
	_, err = w.Write(sum.Sum(nil))
	return err
}

// Load reads a whole checkpoint, verifying its frame and checksum first.
func Load(path string) (*Checkpoint, error) {
	f, err := inputfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load checkpoint: %w", err)
	}
	defer f.Close()
	plen, err := readFrame(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// readFrame bounded plen by the file size, so this allocation is the file's.
	file := make([]byte, int64(frameSize)+plen+sumSize)
	if _, err := f.ReadAt(file, 0); err != nil {
		return nil, fmt.Errorf("%s: read: %w", path, err)
	}
	body, sum := file[:len(file)-sumSize], file[len(file)-sumSize:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, fmt.Errorf("%s: %w: checksum mismatch", path, ErrDamaged)
	}
	payload := body[frameSize:]
	c, dataOff, err := readHead(bytes.NewReader(payload), plen)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	data := payload[dataOff:]
	for _, sec := range sections(c) {
		for i := range *sec.ts {
			t := &(*sec.ts)[i]
			n, _ := elements(t.Shape, int64(len(data))/4) // readHead checked the sizes
			t.Data = make([]float32, n)
			for j := range t.Data {
				t.Data[j] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*j:]))
			}
			data = data[4*n:]
		}
	}
	return c, nil
}

// Peek reads a checkpoint's config, classes, counters, extras and tensor names and
// shapes, without the tensor values (Data is nil). It verifies the checksum by
// streaming the file, so it needs little memory however large the file is.
func Peek(path string) (*Checkpoint, error) {
	f, err := inputfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("peek checkpoint: %w", err)
	}
	defer f.Close()
	plen, err := readFrame(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	h := sha256.New()
	bodyLen := int64(frameSize) + plen
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, bodyLen)); err != nil {
		return nil, fmt.Errorf("%s: read: %w", path, err)
	}
	sum := make([]byte, sumSize)
	if _, err := f.ReadAt(sum, bodyLen); err != nil {
		return nil, fmt.Errorf("%s: read: %w", path, err)
	}
	if !bytes.Equal(h.Sum(nil), sum) {
		return nil, fmt.Errorf("%s: %w: checksum mismatch", path, ErrDamaged)
	}
	c, _, err := readHead(io.NewSectionReader(f, int64(frameSize), plen), plen)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// readFrame checks the magic, the version and that the payload length agrees with
// the file size, and returns the payload length.
func readFrame(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size() // inputfile.Open opened a regular file
	if size > MaxFileBytes {
		return 0, fmt.Errorf("%w: %d bytes, the limit is %d", inputfile.ErrTooLarge, size, int64(MaxFileBytes))
	}
	head := make([]byte, min(size, int64(frameSize)))
	if _, err := io.ReadFull(f, head); err != nil {
		return 0, fmt.Errorf("read: %w", err)
	}
	n := min(len(head), len(magic))
	if string(head[:n]) != magic[:n] {
		return 0, ErrNotCheckpoint
	}
	if len(head) < frameSize {
		return 0, fmt.Errorf("%w: %d bytes, shorter than the header", ErrTruncated, size)
	}
	if v := binary.LittleEndian.Uint32(head[len(magic):]); v != FormatVersion {
		return 0, &VersionError{Got: int(v), Want: FormatVersion}
	}
	plen := binary.LittleEndian.Uint64(head[len(magic)+4:])
	room := size - int64(frameSize) - sumSize
	switch {
	case room < 0 || plen > uint64(room):
		return 0, fmt.Errorf("%w: header says %d payload bytes, file has room for %d", ErrTruncated, plen, max(room, 0))
	case plen < uint64(room):
		return 0, fmt.Errorf("%w: %d bytes after the end", ErrDamaged, uint64(room)-plen)
	}
	return int64(plen), nil
}

// readHead decodes the JSON header and the config from a verified payload of plen
// bytes and checks that the tensors it lists fill the rest exactly. It returns the
// checkpoint with tensor Data nil, and the offset of the tensor data.
func readHead(r io.ReaderAt, plen int64) (*Checkpoint, int64, error) {
	damaged := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrDamaged, fmt.Sprintf(format, args...))
	}
	var lenBuf [4]byte
	if plen < 4 {
		return nil, 0, damaged("payload of %d bytes has no header", plen)
	}
	if err := readAt(r, lenBuf[:], 0); err != nil {
		return nil, 0, fmt.Errorf("read header: %w", err)
	}
	jlen := int64(binary.LittleEndian.Uint32(lenBuf[:]))
	if jlen > plen-4 {
		return nil, 0, damaged("header length %d exceeds the payload", jlen)
	}
	js := make([]byte, jlen)
	if err := readAt(r, js, 4); err != nil {
		return nil, 0, fmt.Errorf("read header: %w", err)
	}
	var h header
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return nil, 0, damaged("header: %v", err)
	}
	if dec.More() {
		return nil, 0, damaged("header has trailing data")
	}
	off := 4 + jlen
	if h.ConfigBytes < 0 || h.ConfigBytes > plen-off {
		return nil, 0, damaged("config length %d exceeds the payload", h.ConfigBytes)
	}
	if h.Epoch < 0 || h.Step < 0 {
		return nil, 0, damaged("negative epoch %d or step %d", h.Epoch, h.Step)
	}
	cfg := make([]byte, h.ConfigBytes)
	if err := readAt(r, cfg, off); err != nil {
		return nil, 0, fmt.Errorf("read config: %w", err)
	}
	off += h.ConfigBytes

	c := &Checkpoint{
		Version:    FormatVersion,
		ConfigYAML: cfg,
		Classes:    h.Classes,
		Epoch:      h.Epoch,
		Step:       h.Step,
		Extra:      h.Extra,
	}
	left := (plen - off) / 4
	if (plen-off)%4 != 0 {
		return nil, 0, damaged("tensor data of %d bytes is not whole float32 values", plen-off)
	}
	for _, part := range []struct {
		name  string
		infos []tensorInfo
		dst   *[]Tensor
	}{{"weights", h.Weights, &c.Weights}, {"buffers", h.Buffers, &c.Buffers}, {"optimizer", h.Optimizer, &c.Optimizer}} {
		if len(part.infos) == 0 {
			continue
		}
		if err := checkNames(part.name, part.infos); err != nil {
			return nil, 0, damaged("%v", err)
		}
		ts := make([]Tensor, len(part.infos))
		for i, ti := range part.infos {
			n, err := elements(ti.Shape, left)
			if err != nil || n > left {
				return nil, 0, damaged("%s %q: shape %v does not fit the %d values left", part.name, ti.Name, ti.Shape, left)
			}
			left -= n
			shape := ti.Shape
			if shape == nil {
				shape = []int{}
			}
			ts[i] = Tensor{Name: ti.Name, Shape: shape}
		}
		*part.dst = ts
	}
	if left != 0 {
		return nil, 0, damaged("%d float32 values beyond the listed tensors", left)
	}
	return c, off, nil
}

// readAt fills b from off; io.EOF with b filled is success (io.ReaderAt allows it).
func readAt(r io.ReaderAt, b []byte, off int64) error {
	if len(b) == 0 {
		return nil
	}
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	return err
}

package torchfile

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// pthLoader holds what one .pth file's pickle refers to.
type pthLoader struct {
	storages map[string]*storage
	order    binary.ByteOrder
	legacy   bool
}

func newPthLoader(legacy bool) *pthLoader {
	return &pthLoader{storages: map[string]*storage{}, order: binary.LittleEndian, legacy: legacy}
}

// persistentLoad resolves torch's storage records: in the zip format
// ('storage', type, key, location, numel), in the legacy format the same with a
// sixth element, the view metadata, which torch since 1.0 writes as None.
func (l *pthLoader) persistentLoad(pid any) (any, error) {
	t, ok := pid.(pyTuple)
	if !ok || len(t) == 0 {
		return nil, fmt.Errorf("%w: persistent id is a %s, not a tuple", ErrFormat, typeName(pid))
	}
	if kind, _ := toString(t[0]); kind != "storage" {
		if kind == "module" {
			return nil, fmt.Errorf("%w: the file pickles a whole module (save the weights with torch.save(model.state_dict(), path))", ErrNotStateDict)
		}
		return nil, fmt.Errorf("%w: persistent id of kind %s", ErrFormat, typeName(t[0]))
	}
	want := 5
	if l.legacy {
		want = 6
	}
	if len(t) != want {
		return nil, fmt.Errorf("%w: storage record of %d fields, want %d", ErrFormat, len(t), want)
	}
	g, ok := t[1].(pyGlobal)
	dtype, known := storageTypes[g.name]
	if !ok || g.module != "torch" || !known {
		return nil, fmt.Errorf("%w: storage type %s", ErrDType, typeName(t[1]))
	}
	key, ok1 := toString(t[2])
	_, ok2 := toString(t[3])
	numel, ok3 := t[4].(int64)
	if !ok1 || !ok2 || !ok3 || numel < 0 {
		return nil, fmt.Errorf("%w: malformed storage record", ErrFormat)
	}
	if l.legacy && t[5] != nil {
		return nil, fmt.Errorf("%w: storage views (files written before PyTorch 1.0) are not supported", ErrFormat)
	}
	if st, ok := l.storages[key]; ok {
		if st.dtype != dtype || st.numel != numel {
			return nil, fmt.Errorf("%w: storage %q described twice differently", ErrFormat, key)
		}
		return st, nil
	}
	st := &storage{key: key, dtype: dtype, numel: numel, order: l.order}
	l.storages[key] = st
	return st, nil
}

// call runs one of the allowed globals (see lookupGlobal).
func (l *pthLoader) call(g pyGlobal, args pyTuple) (any, error) {
	switch g.String() {
	case "collections.OrderedDict":
		d := newDict()
		if len(args) == 0 {
			return d, nil
		}
		// Python 2's OrderedDict pickles its items as a list of [key, value] pairs.
		items, ok := args[0].(*pyList)
		if len(args) != 1 || !ok {
			return nil, fmt.Errorf("%w: OrderedDict called with %d arguments", ErrFormat, len(args))
		}
		for _, it := range items.items {
			var kv []any
			switch p := it.(type) {
			case pyTuple:
				kv = p
			case *pyList:
				kv = p.items
			}
			if len(kv) != 2 {
				return nil, fmt.Errorf("%w: OrderedDict item is not a pair", ErrFormat)
			}
			if err := d.set(kv[0], kv[1]); err != nil {
				return nil, err
			}
		}
		return d, nil
	case "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2":
		// (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]])
		n := len(args)
		if g.name == "_rebuild_tensor" && n != 4 || g.name == "_rebuild_tensor_v2" && n != 6 && n != 7 {
			return nil, fmt.Errorf("%w: %s called with %d arguments", ErrFormat, g, n)
		}
		st, ok := args[0].(*storage)
		if !ok {
			return nil, fmt.Errorf("%w: %s of a %s, not a storage", ErrFormat, g, typeName(args[0]))
		}
		offset, ok := args[1].(int64)
		if !ok {
			return nil, fmt.Errorf("%w: tensor storage offset is a %s", ErrFormat, typeName(args[1]))
		}
		shape, err := intTuple(args[2])
		if err != nil {
			return nil, fmt.Errorf("tensor size: %w", err)
		}
		stride, err := intTuple(args[3])
		if err != nil {
			return nil, fmt.Errorf("tensor stride: %w", err)
		}
		if n >= 6 {
			if err := checkNoHooks(args[5]); err != nil {
				return nil, err
			}
		}
		return &tensorRef{st: st, offset: offset, shape: shape, stride: stride}, nil
	case "torch._utils._rebuild_parameter":
		// (data, requires_grad, backward_hooks): an nn.Parameter is its data here.
		if len(args) != 3 {
			return nil, fmt.Errorf("%w: %s called with %d arguments", ErrFormat, g, len(args))
		}
		t, ok := args[0].(*tensorRef)
		if !ok {
			return nil, fmt.Errorf("%w: parameter of a %s, not a tensor", ErrFormat, typeName(args[0]))
		}
		if err := checkNoHooks(args[2]); err != nil {
			return nil, err
		}
		return t, nil
	}
	return nil, fmt.Errorf("%w %q: it cannot be called", ErrForbidden, g.String())
}

func checkNoHooks(v any) error {
	if d, ok := v.(*pyDict); v != nil && (!ok || len(d.keys) > 0) {
		return fmt.Errorf("%w: tensor with backward hooks", ErrFormat)
	}
	return nil
}

func intTuple(v any) ([]int64, error) {
	t, ok := v.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("%w: a %s, not a tuple", ErrFormat, typeName(v))
	}
	out := make([]int64, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok {
			return nil, fmt.Errorf("%w: a %s in a tuple of ints", ErrFormat, typeName(x))
		}
		out[i] = n
	}
	return out, nil
}

// namedRef is a tensor of the chosen state_dict before it is materialised.
type namedRef struct {
	name string
	ref  *tensorRef
}

// stateDictRefs finds the state_dict in what the pickle built: a dict whose
// leaves are tensors, nested dicts joined with "." (as torch names submodules), or
// a training checkpoint's "state_dict" entry. Anything else is not a state_dict.
// size is the pickle's size in bytes, which bounds the names (see flattener).
func stateDictRefs(v any, size int) ([]namedRef, error) {
	d, ok := v.(*pyDict)
	if !ok {
		if _, isTensor := v.(*tensorRef); isTensor {
			return nil, fmt.Errorf("%w: the file holds a single tensor, not a dict of tensors", ErrNotStateDict)
		}
		return nil, fmt.Errorf("%w: the file holds a %s, not a dict of tensors", ErrNotStateDict, typeName(v))
	}
	f := newFlattener(size)
	err := f.flatten("", d, 0)
	if err != nil {
		if inner, ok := d.values["state_dict"].(*pyDict); ok {
			f = newFlattener(size)
			if err := f.flatten("", inner, 0); err != nil {
				return nil, fmt.Errorf("the checkpoint's \"state_dict\": %w", err)
			}
			err = nil
		}
	}
	if err != nil {
		return nil, err
	}
	if len(f.refs) == 0 {
		return nil, fmt.Errorf("%w: the dict holds no tensors", ErrNotStateDict)
	}
	return f.refs, nil
}

// maxNesting bounds how deep dicts may nest in a state_dict; a pickle can make a
// dict contain itself.
const maxNesting = 32

// flattener collects a nested dict's tensors under joined names. A pickle can
// share one dict (or one long key) many times over, at every level, naming 2^levels
// tensors, or very long names, in a few bytes; a real state_dict spells out its
// names, so the number of names and their total length are bounded by multiples
// of the pickle's size.
type flattener struct {
	refs      []namedRef
	names     int // names left
	nameBytes int // bytes of names left
}

func newFlattener(size int) *flattener {
	return &flattener{names: size, nameBytes: 8*size + 4096}
}

func (f *flattener) flatten(prefix string, d *pyDict, depth int) error {
	if depth > maxNesting {
		return fmt.Errorf("%w: dicts nested more than %d deep", ErrNotStateDict, maxNesting)
	}
	for _, k := range d.keys {
		name, ok := toString(k)
		if !ok {
			return fmt.Errorf("%w: key %v of type %s in a dict", ErrNotStateDict, k, typeName(k))
		}
		f.names--
		f.nameBytes -= len(prefix) + len(name)
		if f.names < 0 || f.nameBytes < 0 {
			return fmt.Errorf("%w: more or longer names than the pickle spells out", ErrFormat)
		}
		name = prefix + name
		switch v := d.values[k].(type) {
		case *tensorRef:
			f.refs = append(f.refs, namedRef{name, v})
		case *pyDict:
			if err := f.flatten(name+".", v, depth+1); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: entry %q is of type %s, not a tensor", ErrNotStateDict, truncate(name), typeName(v))
		}
	}
	return nil
}

// truncate shortens a name from a hostile file for an error message.
func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// buildStateDict checks each view against its (loaded) storage and copies it out,
// with the total number of values bounded by the file's size.
func buildStateDict(refs []namedRef, fileSize int) (*StateDict, error) {
	budget := 2*int64(fileSize) + 1<<16
	sd := newStateDict()
	for _, r := range refs {
		if r.ref.st.data == nil && r.ref.st.numel > 0 {
			return nil, fmt.Errorf("%w: tensor %q: storage %q has no data", ErrFormat, r.name, r.ref.st.key)
		}
		n, err := checkView(truncate(r.name), r.ref)
		if err != nil {
			return nil, err
		}
		if budget -= int64(n); budget < 0 {
			return nil, fmt.Errorf("%w: the tensors hold more values than a file of %d bytes can", ErrFormat, fileSize)
		}
		if err := sd.add(r.name, materialize(r.ref, n)); err != nil {
			return nil, err
		}
	}
	return sd, nil
}

// parseZip reads torch.save's zip format (PyTorch 1.6 and later): one top-level
// folder holding data.pkl, data/<key> for each storage, version and, in newer
// files, byteorder.
func parseZip(data []byte) (*StateDict, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%w: truncated or damaged zip archive (%v)", ErrFormat, err)
	}
	records := map[string]*zip.File{}
	prefix := ""
	for _, f := range zr.File {
		records[f.Name] = f
		dir, base, ok := strings.Cut(f.Name, "/")
		if !ok {
			continue
		}
		if base == "constants.pkl" || strings.HasPrefix(base, "code/") {
			return nil, fmt.Errorf("%w (torch.jit.save): it holds a compiled program, not a state_dict; save the weights with torch.save(model.state_dict(), path)", ErrTorchScript)
		}
		if base == "data.pkl" {
			if prefix != "" && prefix != dir {
				return nil, fmt.Errorf("%w: the zip archive holds two torch files (%s/ and %s/)", ErrFormat, prefix, dir)
			}
			prefix = dir
		}
	}
	if prefix == "" {
		return nil, fmt.Errorf("%w: a zip archive without data.pkl is not a torch.save file", ErrFormat)
	}
	l := newPthLoader(false)
	if f, ok := records[prefix+"/byteorder"]; ok {
		b, err := readRecord(f, 16)
		if err != nil {
			return nil, err
		}
		switch string(b) {
		case "little":
		case "big":
			l.order = binary.BigEndian
		default:
			return nil, fmt.Errorf("%w: byteorder record %q", ErrFormat, b)
		}
	}
	pkl, err := readRecord(records[prefix+"/data.pkl"], len(data))
	if err != nil {
		return nil, err
	}
	v, _, err := unpickle(pkl, l.persistentLoad, l.call)
	if err != nil {
		return nil, fmt.Errorf("data.pkl: %w", err)
	}
	refs, err := stateDictRefs(v, len(pkl))
	if err != nil {
		return nil, err
	}
	// Read only the storages the state_dict uses (a checkpoint's optimiser state
	// is skipped), each exactly as long as its record says.
	for _, r := range refs {
		st := r.ref.st
		if st.data != nil || st.numel == 0 {
			continue
		}
		f, ok := records[prefix+"/data/"+st.key]
		if !ok {
			return nil, fmt.Errorf("%w: storage record data/%s is missing", ErrFormat, st.key)
		}
		if st.numel > int64(len(data)/st.dtype.Size()) {
			return nil, fmt.Errorf("%w: storage data/%s claims %d %s values, more than the file holds", ErrFormat, st.key, st.numel, st.dtype)
		}
		want := uint64(st.numel) * uint64(st.dtype.Size())
		if f.UncompressedSize64 != want {
			return nil, fmt.Errorf("%w: storage data/%s has %d bytes, its %d %s values need %d", ErrFormat, st.key, f.UncompressedSize64, st.numel, st.dtype, want)
		}
		if st.data, err = readRecord(f, len(data)); err != nil {
			return nil, err
		}
	}
	return buildStateDict(refs, len(data))
}

// readRecord reads one stored (uncompressed) zip record of at most limit bytes,
// checking its CRC. torch.save never compresses, and refusing compression keeps a
// small file from expanding into a large allocation.
func readRecord(f *zip.File, limit int) ([]byte, error) {
	if f.Method != zip.Store || f.CompressedSize64 != f.UncompressedSize64 {
		return nil, fmt.Errorf("%w: zip record %s is compressed (torch.save stores records as they are)", ErrFormat, f.Name)
	}
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("%w: zip record %s claims %d bytes", ErrFormat, f.Name, f.UncompressedSize64)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: zip record %s: %v", ErrFormat, f.Name, err)
	}
	defer rc.Close()
	b := make([]byte, f.UncompressedSize64)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("%w: zip record %s is truncated (%v)", ErrFormat, f.Name, err)
	}
	// Reading on to the end makes archive/zip verify the CRC.
	if n, err := rc.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: zip record %s is damaged (%v)", ErrFormat, f.Name, err)
	}
	return b, nil
}

// legacyMagic is the number torch's pre-1.6 format starts with, as pickled
// (little-endian two's complement bytes of 0x1950a86a20f9469cfc6c).
const legacyMagic = "\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"

// parseLegacy reads torch.save's format before PyTorch 1.6
// (_use_new_zipfile_serialization=False): five pickles back to back (magic
// number, protocol version 1001, system info, the object, the list of storage
// keys), then each storage as an 8-byte element count and its raw values.
func parseLegacy(data []byte) (*StateDict, error) {
	pos := 0
	next := func(what string, l *pthLoader) (any, error) {
		var persist persistentLoader
		var call reducer = func(g pyGlobal, _ pyTuple) (any, error) {
			return nil, fmt.Errorf("%w %q: it cannot be called", ErrForbidden, g.String())
		}
		if l != nil {
			persist, call = l.persistentLoad, l.call
		}
		v, n, err := unpickle(data[pos:], persist, call)
		if err != nil {
			return nil, fmt.Errorf("legacy torch file, %s: %w", what, err)
		}
		pos += n
		return v, nil
	}
	magic, err := next("magic number", nil)
	if err != nil {
		return nil, err
	}
	if magic != pyBigInt(legacyMagic) {
		return nil, fmt.Errorf("%w: a pickle that torch.save did not write (no magic number)", ErrFormat)
	}
	if v, err := next("protocol version", nil); err != nil {
		return nil, err
	} else if v != int64(1001) {
		return nil, fmt.Errorf("%w: legacy torch protocol version %v, want 1001", ErrFormat, v)
	}
	info, err := next("system info", nil)
	if err != nil {
		return nil, err
	}
	l := newPthLoader(true)
	if d, ok := info.(*pyDict); ok {
		le, ok := d.values["little_endian"].(bool)
		if !ok {
			le, ok = d.values[pyBytes("little_endian")].(bool) // Python 2
		}
		if ok && !le {
			l.order = binary.BigEndian
		}
	}
	obj, err := next("object", l)
	if err != nil {
		return nil, err
	}
	// Find the state_dict first: a whole model is refused before any data is read.
	refs, err := stateDictRefs(obj, len(data))
	if err != nil {
		return nil, err
	}
	keysV, err := next("storage keys", nil)
	if err != nil {
		return nil, err
	}
	keys, ok := keysV.(*pyList)
	if !ok {
		return nil, fmt.Errorf("%w: legacy storage keys are a %s", ErrFormat, typeName(keysV))
	}
	for _, k := range keys.items {
		key, ok := toString(k)
		st, known := l.storages[key]
		if !ok || !known {
			return nil, fmt.Errorf("%w: legacy storage key %v not in the object", ErrFormat, k)
		}
		if len(data)-pos < 8 {
			return nil, fmt.Errorf("%w: legacy torch file truncated at storage %s", ErrFormat, key)
		}
		n := l.order.Uint64(data[pos:])
		pos += 8
		if n != uint64(st.numel) {
			return nil, fmt.Errorf("%w: legacy storage %s holds %d values, the object says %d", ErrFormat, key, n, st.numel)
		}
		size := uint64(st.dtype.Size())
		if n > uint64(len(data)-pos)/size {
			return nil, fmt.Errorf("%w: legacy torch file truncated in storage %s (%d values of %s)", ErrFormat, key, n, st.dtype)
		}
		st.data = data[pos : pos+int(n*size)]
		pos += int(n * size)
	}
	return buildStateDict(refs, len(data))
}

// toString accepts a str or, from Python 2 pickles, a bytes-like str.
func toString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case pyBytes:
		return string(v), true
	}
	return "", false
}

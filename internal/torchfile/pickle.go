package torchfile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// This file is a deliberately small unpickler. It understands the opcodes of
// pickle protocols 0 to 5 that build plain data and refuses everything that
// would, in Python, run code: a GLOBAL or STACK_GLOBAL is looked up in a short
// allow list (see lookupGlobal) the moment it is read, REDUCE and NEWOBJ call only
// what that list returned, and BUILD may only set attributes on a dict (torch's
// state_dict carries a _metadata attribute). gopickle (github.com/nlpodyssey/gopickle)
// is not used because it resolves some classes before any hook sees them, sizes
// its buffers from lengths read from the file, and indexes its opcode table with a
// byte that can exceed it; here every length is checked against the bytes present
// before anything is allocated, and no input makes the code panic.

// pyTuple is a Python tuple.
type pyTuple []any

// pyList is a Python list; a pointer, because APPEND mutates it in place.
type pyList struct{ items []any }

// pyDict is a Python dict or OrderedDict, keeping insertion order (which for a
// state_dict is the module's parameter order).
type pyDict struct {
	keys   []any
	values map[any]any
}

func newDict() *pyDict { return &pyDict{values: map[any]any{}} }

func (d *pyDict) set(k, v any) error {
	switch k.(type) {
	case string, int64, bool, nil, float64, pyBytes:
	default:
		return fmt.Errorf("%w: dict key of type %s", ErrFormat, typeName(k))
	}
	if _, ok := d.values[k]; !ok {
		d.keys = append(d.keys, k)
	}
	d.values[k] = v
	return nil
}

// pyBytes is a Python bytes object (or a Python 2 str, which the legacy format's
// Python 2 pickles use for keys; toString accepts both).
type pyBytes string

// pyBigInt is an integer too wide for int64, kept as its little-endian two's
// complement bytes; the legacy format's magic number is one.
type pyBigInt string

// pyGlobal is an allowed global, the only kind of value REDUCE will call.
type pyGlobal struct{ module, name string }

func (g pyGlobal) String() string { return g.module + "." + g.name }

// persistentLoader resolves a BINPERSID/PERSID id (torch's storage records).
type persistentLoader func(pid any) (any, error)

// reducer calls an allowed global with its arguments.
type reducer func(g pyGlobal, args pyTuple) (any, error)

type unpickler struct {
	data    []byte
	pos     int
	stack   []any
	marks   []int
	memo    map[int64]any
	persist persistentLoader
	reduce  reducer
}

// unpickle runs one pickle from data and returns its value and the number of
// bytes it used (the legacy format is several pickles back to back).
func unpickle(data []byte, persist persistentLoader, reduce reducer) (any, int, error) {
	u := &unpickler{data: data, memo: map[int64]any{}, persist: persist, reduce: reduce}
	v, err := u.run()
	return v, u.pos, err
}

func (u *unpickler) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: pickle at byte %d: %s", ErrFormat, u.pos, fmt.Sprintf(format, args...))
}

func (u *unpickler) read(n int) ([]byte, error) {
	if n < 0 || n > len(u.data)-u.pos {
		return nil, u.errorf("truncated (wants %d bytes, %d left)", n, len(u.data)-u.pos)
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

func (u *unpickler) readUint(n int) (uint64, error) {
	b, err := u.read(n)
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

// readLen reads an n-byte little-endian length and checks it against what is left.
func (u *unpickler) readLen(n int) (int, error) {
	v, err := u.readUint(n)
	if err != nil {
		return 0, err
	}
	if v > uint64(len(u.data)-u.pos) {
		return 0, u.errorf("length %d exceeds the %d bytes left", v, len(u.data)-u.pos)
	}
	return int(v), nil
}

func (u *unpickler) readLine() (string, error) {
	i := bytes.IndexByte(u.data[u.pos:], '\n')
	if i < 0 {
		return "", u.errorf("unterminated line")
	}
	s := string(u.data[u.pos : u.pos+i])
	u.pos += i + 1
	return s, nil
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

func (u *unpickler) pop() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) == u.marks[len(u.marks)-1]) {
		return nil, u.errorf("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) == u.marks[len(u.marks)-1]) {
		return nil, u.errorf("stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark returns the items pushed since the last MARK and drops them.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, u.errorf("no mark on the stack")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) run() (any, error) {
	for {
		if u.pos >= len(u.data) {
			return nil, u.errorf("truncated (no STOP)")
		}
		op := u.data[u.pos]
		u.pos++
		if err := u.step(op); err != nil {
			if err == errStop {
				v, err := u.pop()
				if err != nil {
					return nil, err
				}
				return v, nil
			}
			return nil, err
		}
	}
}

var errStop = fmt.Errorf("stop")

func (u *unpickler) step(op byte) error {
	switch op {
	case '.': // STOP
		return errStop
	case 0x80: // PROTO
		p, err := u.readUint(1)
		if err != nil {
			return err
		}
		if p > 5 {
			return u.errorf("unsupported pickle protocol %d", p)
		}
	case 0x95: // FRAME: a length hint only; the data follows inline
		_, err := u.read(8)
		return err
	case '(': // MARK
		u.marks = append(u.marks, len(u.stack))
	case 'N':
		u.push(nil)
	case 0x88:
		u.push(true)
	case 0x89:
		u.push(false)
	case 'I': // INT (protocol 0; "01"/"00" are booleans)
		s, err := u.readLine()
		if err != nil {
			return err
		}
		switch s {
		case "01":
			u.push(true)
		case "00":
			u.push(false)
		default:
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return u.errorf("bad INT %q", s)
			}
			u.push(v)
		}
	case 'L': // LONG (protocol 0)
		s, err := u.readLine()
		if err != nil {
			return err
		}
		v, err := strconv.ParseInt(strings.TrimSuffix(s, "L"), 10, 64)
		if err != nil {
			return u.errorf("bad or too wide LONG %q", s)
		}
		u.push(v)
	case 'J': // BININT
		v, err := u.readUint(4)
		if err != nil {
			return err
		}
		u.push(int64(int32(uint32(v))))
	case 'K': // BININT1
		v, err := u.readUint(1)
		if err != nil {
			return err
		}
		u.push(int64(v))
	case 'M': // BININT2
		v, err := u.readUint(2)
		if err != nil {
			return err
		}
		u.push(int64(v))
	case 0x8a, 0x8b: // LONG1, LONG4
		width := 1
		if op == 0x8b {
			width = 4
		}
		n, err := u.readLen(width)
		if err != nil {
			return err
		}
		b, err := u.read(n)
		if err != nil {
			return err
		}
		u.push(decodeLong(b))
	case 'F': // FLOAT (protocol 0)
		s, err := u.readLine()
		if err != nil {
			return err
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return u.errorf("bad FLOAT %q", s)
		}
		u.push(v)
	case 'G': // BINFLOAT, big-endian
		b, err := u.read(8)
		if err != nil {
			return err
		}
		u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case 'S': // STRING (protocol 0): a quoted Python 2 str
		s, err := u.readLine()
		if err != nil {
			return err
		}
		if len(s) < 2 || (s[0] != '\'' && s[0] != '"') || s[len(s)-1] != s[0] {
			return u.errorf("bad STRING")
		}
		v, err := strconv.Unquote(`"` + strings.ReplaceAll(s[1:len(s)-1], `"`, `\"`) + `"`)
		if err != nil {
			return u.errorf("bad STRING escape")
		}
		u.push(pyBytes(v))
	case 'V': // UNICODE (protocol 0, raw-unicode-escape; plain ASCII is all we need)
		s, err := u.readLine()
		if err != nil {
			return err
		}
		u.push(s)
	case 'T', 'U', 'B', 'C', 0x8e, 0x96: // BINSTRING, SHORT_BINSTRING, BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8
		n, err := u.readLen(lengthWidth(op))
		if err != nil {
			return err
		}
		b, err := u.read(n)
		if err != nil {
			return err
		}
		u.push(pyBytes(b))
	case 'X', 0x8c, 0x8d: // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
		width := 4
		switch op {
		case 0x8c:
			width = 1
		case 0x8d:
			width = 8
		}
		n, err := u.readLen(width)
		if err != nil {
			return err
		}
		b, err := u.read(n)
		if err != nil {
			return err
		}
		u.push(string(b))
	case ')':
		u.push(pyTuple{})
	case 't':
		items, err := u.popMark()
		if err != nil {
			return err
		}
		u.push(pyTuple(items))
	case 0x85, 0x86, 0x87: // TUPLE1, TUPLE2, TUPLE3
		n := int(op-0x85) + 1
		t := make(pyTuple, n)
		for i := n - 1; i >= 0; i-- {
			v, err := u.pop()
			if err != nil {
				return err
			}
			t[i] = v
		}
		u.push(t)
	case ']':
		u.push(&pyList{})
	case 'l':
		items, err := u.popMark()
		if err != nil {
			return err
		}
		u.push(&pyList{items: items})
	case '}':
		u.push(newDict())
	case 'd':
		items, err := u.popMark()
		if err != nil {
			return err
		}
		d := newDict()
		if err := setItems(d, items); err != nil {
			return err
		}
		u.push(d)
	case 'a': // APPEND
		v, err := u.pop()
		if err != nil {
			return err
		}
		l, err := u.top()
		if err != nil {
			return err
		}
		pl, ok := l.(*pyList)
		if !ok {
			return u.errorf("APPEND to a %s", typeName(l))
		}
		pl.items = append(pl.items, v)
	case 'e': // APPENDS
		items, err := u.popMark()
		if err != nil {
			return err
		}
		l, err := u.top()
		if err != nil {
			return err
		}
		pl, ok := l.(*pyList)
		if !ok {
			return u.errorf("APPENDS to a %s", typeName(l))
		}
		pl.items = append(pl.items, items...)
	case 's': // SETITEM
		v, err := u.pop()
		if err != nil {
			return err
		}
		k, err := u.pop()
		if err != nil {
			return err
		}
		d, err := u.top()
		if err != nil {
			return err
		}
		pd, ok := d.(*pyDict)
		if !ok {
			return u.errorf("SETITEM on a %s", typeName(d))
		}
		return pd.set(k, v)
	case 'u': // SETITEMS
		items, err := u.popMark()
		if err != nil {
			return err
		}
		d, err := u.top()
		if err != nil {
			return err
		}
		pd, ok := d.(*pyDict)
		if !ok {
			return u.errorf("SETITEMS on a %s", typeName(d))
		}
		return setItems(pd, items)
	case '0': // POP
		if len(u.marks) > 0 && len(u.stack) == u.marks[len(u.marks)-1] {
			_, err := u.popMark() // POP of a bare MARK drops the mark
			return err
		}
		_, err := u.pop()
		return err
	case '1': // POP_MARK
		_, err := u.popMark()
		return err
	case '2': // DUP
		v, err := u.top()
		if err != nil {
			return err
		}
		u.push(v)
	case 'p', 'q', 'r', 0x94: // PUT, BINPUT, LONG_BINPUT, MEMOIZE
		var idx int64
		switch op {
		case 'p':
			s, err := u.readLine()
			if err != nil {
				return err
			}
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return u.errorf("bad PUT %q", s)
			}
			idx = v
		case 'q', 'r':
			w := 1
			if op == 'r' {
				w = 4
			}
			v, err := u.readUint(w)
			if err != nil {
				return err
			}
			idx = int64(v)
		default:
			idx = int64(len(u.memo))
		}
		v, err := u.top()
		if err != nil {
			return err
		}
		u.memo[idx] = v
	case 'g', 'h', 'j': // GET, BINGET, LONG_BINGET
		var idx int64
		if op == 'g' {
			s, err := u.readLine()
			if err != nil {
				return err
			}
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return u.errorf("bad GET %q", s)
			}
			idx = v
		} else {
			w := 1
			if op == 'j' {
				w = 4
			}
			v, err := u.readUint(w)
			if err != nil {
				return err
			}
			idx = int64(v)
		}
		v, ok := u.memo[idx]
		if !ok {
			return u.errorf("memo %d not defined", idx)
		}
		u.push(v)
	case 'c': // GLOBAL
		module, err := u.readLine()
		if err != nil {
			return err
		}
		name, err := u.readLine()
		if err != nil {
			return err
		}
		g, err := lookupGlobal(module, name)
		if err != nil {
			return err
		}
		u.push(g)
	case 0x93: // STACK_GLOBAL
		name, err := u.pop()
		if err != nil {
			return err
		}
		module, err := u.pop()
		if err != nil {
			return err
		}
		ms, ok1 := module.(string)
		ns, ok2 := name.(string)
		if !ok1 || !ok2 {
			return u.errorf("STACK_GLOBAL of non-strings")
		}
		g, err := lookupGlobal(ms, ns)
		if err != nil {
			return err
		}
		u.push(g)
	case 'R': // REDUCE
		args, err := u.pop()
		if err != nil {
			return err
		}
		fn, err := u.pop()
		if err != nil {
			return err
		}
		return u.call(fn, args)
	case 0x81: // NEWOBJ: cls.__new__(cls, *args)
		args, err := u.pop()
		if err != nil {
			return err
		}
		cls, err := u.pop()
		if err != nil {
			return err
		}
		return u.call(cls, args)
	case 'b': // BUILD
		state, err := u.pop()
		if err != nil {
			return err
		}
		obj, err := u.top()
		if err != nil {
			return err
		}
		// A state_dict is an OrderedDict subclass instance with a _metadata
		// attribute; its attributes are not weights, so they are dropped.
		if _, ok := obj.(*pyDict); !ok {
			return u.errorf("BUILD on a %s", typeName(obj))
		}
		if _, ok := state.(*pyDict); !ok && state != nil {
			return u.errorf("BUILD with a %s state", typeName(state))
		}
	case 'Q', 'P': // BINPERSID, PERSID
		var pid any
		if op == 'Q' {
			v, err := u.pop()
			if err != nil {
				return err
			}
			pid = v
		} else {
			s, err := u.readLine()
			if err != nil {
				return err
			}
			pid = s
		}
		if u.persist == nil {
			return u.errorf("persistent id outside a torch file")
		}
		v, err := u.persist(pid)
		if err != nil {
			return err
		}
		u.push(v)
	default:
		// INST, OBJ, EXT*, sets, buffers and anything unknown construct objects
		// by name or are never part of a state_dict.
		return u.errorf("opcode 0x%02x is not allowed", op)
	}
	return nil
}

func lengthWidth(op byte) int {
	switch op {
	case 'U', 'C':
		return 1
	case 0x8e, 0x96:
		return 8
	}
	return 4
}

func (u *unpickler) call(fn, args any) error {
	g, ok := fn.(pyGlobal)
	if !ok {
		return u.errorf("call of a %s", typeName(fn))
	}
	t, ok := args.(pyTuple)
	if !ok {
		return u.errorf("call of %s with %s arguments", g, typeName(args))
	}
	v, err := u.reduce(g, t)
	if err != nil {
		return err
	}
	u.push(v)
	return nil
}

func setItems(d *pyDict, items []any) error {
	if len(items)%2 != 0 {
		return fmt.Errorf("%w: odd number of dict items", ErrFormat)
	}
	for i := 0; i < len(items); i += 2 {
		if err := d.set(items[i], items[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// decodeLong decodes a little-endian two's complement integer.
func decodeLong(b []byte) any {
	if len(b) > 8 {
		// Wider than int64 unless the extra bytes only extend the sign.
		ext := byte(0)
		if b[7]&0x80 != 0 {
			ext = 0xff
		}
		for _, x := range b[8:] {
			if x != ext {
				return pyBigInt(b)
			}
		}
		b = b[:8]
	}
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	if n := len(b); n > 0 && n < 8 && b[n-1]&0x80 != 0 {
		v |= ^uint64(0) << (8 * n) // sign-extend
	}
	return int64(v)
}

// The globals a state_dict pickle may name: the OrderedDict it is, torch's tensor
// rebuilders and its storage types. Nothing else is ever resolved.
var storageTypes = map[string]DType{
	"FloatStorage":    Float32,
	"DoubleStorage":   Float64,
	"HalfStorage":     Float16,
	"BFloat16Storage": BFloat16,
	"LongStorage":     Int64,
	"IntStorage":      Int32,
	"ShortStorage":    Int16,
	"CharStorage":     Int8,
	"ByteStorage":     Uint8,
	"BoolStorage":     Bool,
}

func lookupGlobal(module, name string) (pyGlobal, error) {
	g := pyGlobal{module, name}
	switch module {
	case "collections":
		if name == "OrderedDict" {
			return g, nil
		}
	case "torch._utils":
		switch name {
		case "_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter":
			return g, nil
		}
	case "torch":
		// Any storage type is let through to the storage record, which names an
		// unknown one (ComplexFloatStorage, QInt8Storage) as an unknown dtype.
		if strings.HasSuffix(name, "Storage") {
			return g, nil
		}
	}
	if isModelClass(module, name) {
		return g, fmt.Errorf("%w, it looks like a whole pickled model: %w %q (save the weights with torch.save(model.state_dict(), path))", ErrNotStateDict, ErrForbidden, g.String())
	}
	return g, fmt.Errorf("%w %q: a state_dict holds only tensors, dicts, lists, numbers and strings", ErrForbidden, g.String())
}

// isModelClass guesses whether a refused global is a network's class (a whole
// model pickled with torch.save(model)) rather than something hostile, to give
// the more useful hint; both are refused alike.
func isModelClass(module, name string) bool {
	if strings.HasPrefix(module, "torch.nn.") || strings.HasPrefix(module, "torchvision.models") || module == "__main__" {
		return true
	}
	return name != "" && name[0] >= 'A' && name[0] <= 'Z' && module != "builtins" && module != "__builtin__"
}

func typeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64, pyBigInt:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case pyBytes:
		return "bytes"
	case pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	case *pyDict:
		return "dict"
	case pyGlobal:
		return v.String()
	case *storage:
		return "storage"
	case *tensorRef:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}

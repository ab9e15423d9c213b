// Package torchfile reads PyTorch weights without Python: the state_dicts that
// torch.save writes (.pth, .pt) and safetensors files, as an ordered map from
// tensor names to arrays.
//
// Formats, told apart by their content, not their name:
//
//   - torch.save's zip format (PyTorch 1.6 and later, torchvision's current
//     weights): a zip archive with one top-level folder holding data.pkl, a pickle
//     of the object, and data/<key>, the raw bytes of each storage, uncompressed,
//     in the byte order of the byteorder record (little-endian if absent).
//   - torch.save's legacy format (before 1.6, or _use_new_zipfile_serialization=False;
//     torchvision's older weights, checkpoints of PyTorch 0.4): five pickles back to
//     back, then each storage as an 8-byte count and its values.
//   - safetensors: an 8-byte little-endian header length, a JSON header giving each
//     tensor's dtype, shape and byte range, then the little-endian data.
//
// A tensor in a pickle is a strided view of a storage (offset, sizes, strides);
// views are copied out row-major, so non-contiguous tensors read correctly.
// Floating tensors (float32, float64, float16, bfloat16) come out as float32 in
// Tensor.Data, integer and boolean tensors (batch norm's num_batches_tracked is an
// int64) as int64 in Tensor.Ints, with Tensor.DType saying what the file held.
//
// The object a pickle holds must be a state_dict: a dict whose values are
// tensors, or nested dicts of tensors (their names joined with "."), or a
// training checkpoint whose "state_dict" entry is one. Tensors come out in the
// pickle's order; a safetensors file's come out in data order.
//
// A checkpoint is untrusted input. The pickle is read by this package's own
// unpickler, which builds only data: dicts, OrderedDicts, lists, tuples, numbers,
// strings, bytes, None, booleans and tensors. Any global other than
// collections.OrderedDict, torch._utils' tensor rebuilders and torch's storage
// types (such as os.system, builtins.eval or a torch.nn module class of a whole
// pickled model) is refused with an error naming it, before anything is called.
// TorchScript archives (torch.jit.save) are refused, as are compressed zip
// records and PyTorch's pre-0.1.10 tar format. Every length and size is checked
// against the bytes present before memory is allocated, so a lying header gets an
// error, not a large allocation.
//
// For loading into a model: StateDict.Sub selects a prefix (the official model's
// "hi_res.", DataParallel's "module."), Compare sets a state_dict against the
// (name, shape) list a model expects and names what is missing, unexpected or
// misshapen in one line, and StateDict.Float32 fetches one tensor of a known shape.
package torchfile

import (
	"errors"
	"fmt"
	"os"
)

// Errors wrapped into what the readers return, for errors.Is.
var (
	ErrFormat       = errors.New("malformed torch file")
	ErrNotStateDict = errors.New("not a state_dict")
	ErrTorchScript  = errors.New("a TorchScript archive")
	ErrForbidden    = errors.New("refusing global")
	ErrDType        = errors.New("unknown dtype")
)

// MaxFileBytes bounds the size of a file ReadFile reads (ResNet-152's weights are
// 230 MB).
const MaxFileBytes = 4 << 30

// ReadFile reads a .pth or .safetensors file; errors name the file.
func ReadFile(path string) (*StateDict, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > MaxFileBytes {
		return nil, fmt.Errorf("%s: %d bytes is more than the %d this reader accepts", path, fi.Size(), int64(MaxFileBytes))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sd, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sd, nil
}

// Parse reads a state_dict from the contents of a .pth or .safetensors file.
func Parse(data []byte) (*StateDict, error) {
	switch {
	case len(data) >= 4 && (string(data[:4]) == "PK\x03\x04" || string(data[:4]) == "PK\x05\x06"):
		return parseZip(data)
	case len(data) >= 2 && data[0] == 0x80 && data[1] >= 2:
		return parseLegacy(data)
	case len(data) > 262 && string(data[257:262]) == "ustar":
		return nil, fmt.Errorf("%w: the tar format of PyTorch before 0.1.10 is not supported", ErrFormat)
	case len(data) >= 9 && data[8] == '{':
		return parseSafetensors(data)
	}
	return nil, fmt.Errorf("%w: neither a torch.save file nor safetensors", ErrFormat)
}

// ParsePth reads the contents of a torch.save file, zip or legacy.
func ParsePth(data []byte) (*StateDict, error) {
	if len(data) >= 4 && string(data[:2]) == "PK" {
		return parseZip(data)
	}
	return parseLegacy(data)
}

// ParseSafetensors reads the contents of a safetensors file.
func ParseSafetensors(data []byte) (*StateDict, error) { return parseSafetensors(data) }

package torchfile

import (
	"bytes"
	"slices"
	"testing"
)

// checkResult holds for anything a reader accepts: unique names, each tensor's
// values exactly as many as its shape says, in the slice its dtype says.
func checkResult(t *testing.T, sd *StateDict) {
	names := sd.Names()
	if len(names) != sd.Len() || len(names) == 0 {
		t.Fatalf("%d names for %d tensors", len(names), sd.Len())
	}
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	if len(slices.Compact(sorted)) != len(names) {
		t.Fatalf("duplicate names in %v", names)
	}
	for _, n := range names {
		tn, ok := sd.Tensor(n)
		if !ok {
			t.Fatalf("%q listed but absent", n)
		}
		if tn.DType.IsFloat() && (tn.Ints != nil || len(tn.Data) != tn.Len()) ||
			!tn.DType.IsFloat() && (tn.Data != nil || len(tn.Ints) != tn.Len()) {
			t.Fatalf("%q: %s %v with %d floats, %d ints", n, tn.DType, tn.Shape, len(tn.Data), len(tn.Ints))
		}
	}
}

// FuzzParsePth feeds whole files (zip and legacy) to the torch.save reader.
func FuzzParsePth(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		sd, err := ParsePth(data)
		if err == nil {
			checkResult(t, sd)
		}
	})
}

// FuzzPickle feeds data.pkl to the zip reader, with a few storage records of
// 64 bytes each beside it, so the unpickler, the state_dict checks and the view
// checks all see arbitrary input.
func FuzzPickle(f *testing.F) {
	storage := bytes.Repeat([]byte{0x3f, 0x80, 0, 0}, 16)
	f.Fuzz(func(t *testing.T, pkl []byte) {
		data := zipTorch(t, map[string][]byte{"data.pkl": pkl, "data/0": storage, "data/1": storage[:32], "data/2": storage[:8]})
		sd, err := Parse(data)
		if err == nil {
			checkResult(t, sd)
		}
	})
}

// FuzzParseSafetensors feeds whole files to the safetensors reader.
func FuzzParseSafetensors(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		sd, err := ParseSafetensors(data)
		if err == nil {
			checkResult(t, sd)
		}
	})
}

// Package pretrained loads PyTorch weights into a built model: a torchvision
// state_dict into a task or saliency network, matched by name (the graph names its
// torchvision networks' tensors by their state_dict keys), and the official
// Saliency-Sampler's whole model.
package pretrained

import (
	"fmt"
	"slices"
	"strings"

	"gorgonia.org/tensor"

	"zoomtrain/internal/graph"
	"zoomtrain/internal/torchfile"
)

// Into says where in a model a state_dict goes.
type Into struct {
	// Prefix is the model's name for the state_dict's root: "task." for a task
	// network, "saliency." for the saliency network.
	Prefix string
	// Skip lists model names (after Prefix) this state_dict does not provide,
	// such as the saliency network's conv_last.
	Skip []string
	// Ignore lists state_dict name prefixes that are not loaded, such as the
	// layer4 and fc of a ResNet-18 whose saliency network stops at layer3.
	Ignore []string
	// Classifier, when set, is the model name (after Prefix) of a linear layer
	// (fc) that is left at its initialisation when its class count differs from
	// the file's: fine-tuning an ImageNet network to other classes.
	Classifier string
}

// Report says what Load did.
type Report struct {
	Tensors int // tensors copied into the model
	// Reinitialised, when not empty, says why the classifier was left at its
	// initialisation ("fc: the file has 1000 classes, the model 5").
	Reinitialised string
}

// Load copies the state_dict's tensors into m's parameters and batch-norm running
// statistics under in.Prefix. Every tensor the model expects there must be in the
// file with its shape, and every tensor of the file must be used (or ignored): any
// difference is one error naming the tensors, and then nothing is copied.
// Batch norm's num_batches_tracked may be absent (torchvision's older files) and
// is not used.
func Load(m *graph.Model, sd *torchfile.StateDict, in Into) (Report, error) {
	var rep Report
	type dest struct {
		data []float32 // a parameter
		stat []float64 // or a batch-norm statistic
	}
	dests := map[string]dest{}
	var want []torchfile.Spec
	add := func(name string, shape []int, d dest) {
		want = append(want, torchfile.Spec{Name: name, Shape: shape})
		dests[name] = d
	}
	skipped := func(name string) bool {
		return slices.ContainsFunc(in.Skip, func(p string) bool { return strings.HasPrefix(name, p) })
	}
	for _, p := range m.Params {
		name, ok := strings.CutPrefix(p.Name, in.Prefix)
		if !ok || skipped(name) {
			continue
		}
		d, ok := p.Node.Value().(*tensor.Dense)
		if !ok {
			return rep, fmt.Errorf("parameter %s has no value", p.Name)
		}
		data, ok := d.Data().([]float32)
		if !ok {
			return rep, fmt.Errorf("parameter %s is not float32", p.Name)
		}
		add(name, []int(p.Node.Shape()), dest{data: data})
	}
	var counters []string
	for _, b := range m.Buffers {
		name, ok := strings.CutPrefix(b.Name, in.Prefix)
		if !ok || skipped(name) {
			continue
		}
		c := []int{len(b.BN.Mean)}
		add(name+".running_mean", c, dest{stat: b.BN.Mean})
		add(name+".running_var", c, dest{stat: b.BN.Var})
		counters = append(counters, name+".num_batches_tracked")
	}
	if len(want) == 0 {
		return rep, fmt.Errorf("the model has no tensors under %q to load", in.Prefix)
	}

	mis := torchfile.Compare(sd, want)
	mis.Unexpected = slices.DeleteFunc(mis.Unexpected, func(n string) bool {
		return slices.Contains(counters, n) ||
			slices.ContainsFunc(in.Ignore, func(p string) bool { return strings.HasPrefix(n, p) })
	})
	if in.Classifier != "" {
		note, keep := classifier(sd, mis.Misshapen, in.Classifier)
		if note != "" {
			rep.Reinitialised = note
			mis.Misshapen = keep
			delete(dests, in.Classifier+".weight")
			delete(dests, in.Classifier+".bias")
		}
	}
	if err := mis.Err(); err != nil {
		return rep, err
	}
	for name, d := range dests {
		t, _ := sd.Tensor(name)
		switch {
		case d.data != nil:
			copy(d.data, t.Data)
		default:
			for i, v := range t.Data {
				d.stat[i] = float64(v)
			}
		}
		rep.Tensors++
	}
	return rep, nil
}

// classifier recognises a linear layer whose only difference from the model is
// its number of classes (both its weight and bias misshapen in the first
// dimension alone) and returns a note saying so and the other misshapen tensors.
func classifier(sd *torchfile.StateDict, mis []torchfile.Misshapen, fc string) (string, []torchfile.Misshapen) {
	var w, b *torchfile.Misshapen
	var rest []torchfile.Misshapen
	for i := range mis {
		switch mis[i].Name {
		case fc + ".weight":
			w = &mis[i]
		case fc + ".bias":
			b = &mis[i]
		default:
			rest = append(rest, mis[i])
		}
	}
	if w == nil || b == nil || !w.DType.IsFloat() || !b.DType.IsFloat() {
		return "", mis
	}
	if len(w.Got) != 2 || len(w.Want) != 2 || w.Got[1] != w.Want[1] || len(b.Got) != 1 || b.Got[0] != w.Got[0] {
		return "", mis
	}
	return fmt.Sprintf("%s re-initialised: the file has %d classes, the model %d", fc, w.Got[0], w.Want[0]), rest
}

// StripDataParallel undoes torch.nn.DataParallel's renaming: when every name of
// sd starts with "module.", the state_dict without that prefix.
func StripDataParallel(sd *torchfile.StateDict) *torchfile.StateDict {
	names := sd.Names()
	if len(names) == 0 {
		return sd
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "module.") {
			return sd
		}
	}
	return sd.Sub("module.")
}

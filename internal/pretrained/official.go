package pretrained

import (
	"fmt"
	"math"
	"strings"

	"zoomtrain/internal/graph"
	"zoomtrain/internal/torchfile"
)

// The official Saliency-Sampler's model (recasens/Saliency-Sampler, class
// Saliency_Sampler) names its parts hi_res (the task network), localization (the
// saliency network: a torchvision ResNet-18 whose layer4 and fc are unused),
// conv_last (the saliency head) and filter (the fixed Gaussian of the grid
// generator).
const (
	officialTask     = "hi_res."
	officialSaliency = "localization."
	officialHead     = "conv_last."
	officialFilter   = "filter.weight"
)

// Official is what a state_dict of the official model says about the model it
// was saved from.
type Official struct {
	TaskWidth     int // stem width of hi_res (64 for torchvision's)
	SaliencyWidth int // stem width of localization
	Classes       int // rows of hi_res.fc.weight
}

// InspectOfficial reads the widths and class count of an official model's
// state_dict (torch.nn.DataParallel's "module." prefix removed first), refusing a
// file that is not one.
func InspectOfficial(sd *torchfile.StateDict) (Official, error) {
	sd = StripDataParallel(sd)
	for _, n := range sd.Names() {
		known := n == officialFilter
		for _, p := range []string{officialTask, officialSaliency, officialHead} {
			known = known || strings.HasPrefix(n, p)
		}
		if !known {
			return Official{}, fmt.Errorf("tensor %q is not part of the official Saliency-Sampler model (hi_res, localization, conv_last, filter)", n)
		}
	}
	width := func(name string) (int, error) {
		t, ok := sd.Tensor(name)
		if !ok {
			return 0, fmt.Errorf("no tensor %s: not a state_dict of the official Saliency-Sampler model", name)
		}
		if len(t.Shape) != 4 || t.Shape[1] != 3 || t.Shape[2] != 7 || t.Shape[3] != 7 || t.Shape[0] < 1 {
			return 0, fmt.Errorf("%s has shape %v, want a ResNet stem (width, 3, 7, 7)", name, t.Shape)
		}
		return t.Shape[0], nil
	}
	var o Official
	var err error
	if o.TaskWidth, err = width(officialTask + "conv1.weight"); err != nil {
		return o, err
	}
	if o.SaliencyWidth, err = width(officialSaliency + "conv1.weight"); err != nil {
		return o, err
	}
	fc, ok := sd.Tensor(officialTask + "fc.weight")
	if !ok || len(fc.Shape) != 2 {
		return o, fmt.Errorf("no classifier %sfc.weight (classes, features) in the state_dict", officialTask)
	}
	o.Classes = fc.Shape[0]
	return o, nil
}

// LoadOfficial loads an official model's state_dict into m, a model built with the
// resnet18-layer3 saliency network and a torchvision task network of the widths
// InspectOfficial found. filter.weight must be the Gaussian of m's padding and
// fwhm (the grid generator computes it; a file with another kernel would give
// another model). It returns the reports of the task network, the saliency
// network and its head.
func LoadOfficial(m *graph.Model, sd *torchfile.StateDict) ([]Report, error) {
	sd = StripDataParallel(sd)
	if err := checkFilter(sd, m.Spec.Padding, m.Spec.FWHM); err != nil {
		return nil, err
	}
	parts := []struct {
		what string
		sub  string
		into Into
	}{
		{"task network", officialTask, Into{Prefix: "task.", Classifier: "fc"}},
		{"saliency network", officialSaliency, Into{Prefix: "saliency.", Skip: []string{"conv_last."}, Ignore: []string{"layer4.", "fc."}}},
		{"saliency head", officialHead, Into{Prefix: "saliency.conv_last."}},
	}
	var reps []Report
	for _, p := range parts {
		rep, err := Load(m, sd.Sub(p.sub), p.into)
		if err != nil {
			return nil, fmt.Errorf("%s (%s*): %w", p.what, p.sub, err)
		}
		reps = append(reps, rep)
	}
	return reps, nil
}

// checkFilter compares filter.weight with the generator's Gaussian: (1, 1, 2P+1,
// 2P+1), exp(-4 ln 2 ((i-P)^2 + (j-P)^2) / fwhm^2), the official makeGaussian.
func checkFilter(sd *torchfile.StateDict, padding int, fwhm float64) error {
	t, ok := sd.Tensor(officialFilter)
	if !ok {
		return fmt.Errorf("no tensor %s: not a state_dict of the official Saliency-Sampler model", officialFilter)
	}
	k := 2*padding + 1
	if len(t.Shape) != 4 || t.Shape[0] != 1 || t.Shape[1] != 1 || t.Shape[2] != k || t.Shape[3] != k || t.Data == nil {
		return fmt.Errorf("%s has shape %v, want [1 1 %d %d] for padding %d (--padding)", officialFilter, t.Shape, k, k, padding)
	}
	worst := 0.0
	for i := range k {
		for j := range k {
			d2 := float64((i-padding)*(i-padding) + (j-padding)*(j-padding))
			want := math.Exp(-4 * math.Ln2 * d2 / (fwhm * fwhm))
			worst = max(worst, math.Abs(float64(t.Data[i*k+j])-want))
		}
	}
	// float32 rounding of values <= 1 is below 1e-7; another fwhm differs by far more.
	if !(worst < 1e-5) {
		return fmt.Errorf("%s is not the Gaussian of fwhm %g (differs by up to %.3g): pass the model's --fwhm", officialFilter, fwhm, worst)
	}
	return nil
}

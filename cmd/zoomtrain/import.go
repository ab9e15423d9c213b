package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"zoomtrain/internal/checkpoint"
	"zoomtrain/internal/train"
)

func newImportCmd(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Make a zoomtrain checkpoint of a model trained elsewhere",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("import needs a subcommand: official")
		},
	}
	cmd.AddCommand(newImportOfficialCmd(s))
	return cmd
}

type importOfficialOptions struct {
	Weights       string
	TaskNet       string
	Classes       string
	Resolution    int
	TaskInput     int
	SaliencyInput int
	Grid          int
	Padding       int
	FWHM          float64
	Out           string
}

func newImportOfficialCmd(s streams) *cobra.Command {
	o := &importOfficialOptions{}
	cmd := &cobra.Command{
		Use:   "official --weights FILE.pth --task-net NET --classes N|a,b,c --resolution R --task-input T --saliency-input S --out MODEL.ckpt",
		Short: "Import a state_dict of the official Saliency-Sampler model (recasens/Saliency-Sampler)",
		Long: `Read the state_dict of the official Saliency-Sampler model (torch.save of its
Saliency_Sampler module, or the "state_dict" of a checkpoint main.py saved, with or
without DataParallel's "module." prefix) and write a checkpoint that eval, predict
and visualize run and 'train --init' fine-tunes.

The file holds hi_res.* (the task network, a torchvision ResNet), localization.*
(the saliency network, a ResNet-18 whose layer4 and fc are unused), conv_last.* and
filter.weight (the grid generator's Gaussian, which must be that of --padding and
--fwhm). What it does not record comes from the flags: the task network's depth,
the class names (--classes 5 names them 0 .. 4), the source resolution and the two
networks' input sides. The checkpoint computes the official forward pass as it ran
on PyTorch 0.4.0: ImageNet normalisation of the [0, 1] input, the low-resolution
copy by adaptive average pooling, the saliency logits and the grid resized
bilinearly with align_corners false, a softmax at temperature 1, replicate padding.`,
		Example: `  zoomtrain import official --weights checkpoint_imagenet.pth --task-net resnet101 --classes 1000 --resolution 800 --task-input 224 --saliency-input 224 --out official.ckpt`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImportOfficial(o, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Weights, "weights", "", "the official model's state_dict (.pth or .safetensors)")
	f.StringVar(&o.TaskNet, "task-net", "", "the task network hi_res: resnet18, resnet34, resnet50 or resnet101")
	f.StringVar(&o.Classes, "classes", "", "number of classes (named 0 .. N-1) or the class names, comma-separated, in the classifier's order")
	f.IntVar(&o.Resolution, "resolution", 0, "side of the source images")
	f.IntVar(&o.TaskInput, "task-input", 0, "side of the task network's input")
	f.IntVar(&o.SaliencyInput, "saliency-input", 0, "side of the saliency network's input")
	f.IntVar(&o.Grid, "grid", 31, "side of the saliency map and grid (grid_size)")
	f.IntVar(&o.Padding, "padding", 30, "padding of the saliency map (padding_size)")
	f.Float64Var(&o.FWHM, "fwhm", 13, "full width at half maximum of the Gaussian")
	f.StringVar(&o.Out, "out", "", "checkpoint to write")
	return cmd
}

func runImportOfficial(o *importOfficialOptions, s streams) error {
	for _, req := range []struct{ flag, v string }{{"weights", o.Weights}, {"task-net", o.TaskNet}, {"classes", o.Classes}, {"out", o.Out}} {
		if req.v == "" {
			return usageErrorf("--%s is required", req.flag)
		}
	}
	for _, req := range []struct {
		flag string
		v    int
	}{{"resolution", o.Resolution}, {"task-input", o.TaskInput}, {"saliency-input", o.SaliencyInput}} {
		if req.v <= 0 {
			return usageErrorf("--%s is required and must be positive", req.flag)
		}
	}
	classes, err := parseClasses(o.Classes)
	if err != nil {
		return usageErrorf("--classes: %v", err)
	}
	c, notes, err := train.ImportOfficial(o.Weights, train.OfficialOptions{
		TaskNet: o.TaskNet, Classes: classes, Resolution: o.Resolution, TaskInput: o.TaskInput,
		SaliencyInput: o.SaliencyInput, Grid: o.Grid, Padding: o.Padding, FWHM: o.FWHM,
	})
	if err != nil {
		return fmt.Errorf("import official: %w", err)
	}
	if err := checkpoint.Save(o.Out, c); err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(s.Err, n)
	}
	fmt.Fprintf(s.Out, "wrote %s: %d classes, %s task network, %d x %d sources\n", o.Out, len(classes), o.TaskNet, o.Resolution, o.Resolution)
	return nil
}

// parseClasses reads --classes: a count (names 0 .. N-1) or comma-separated names.
func parseClasses(v string) ([]string, error) {
	if n, err := strconv.Atoi(v); err == nil {
		if n < 2 {
			return nil, fmt.Errorf("need at least 2 classes, got %d", n)
		}
		out := make([]string, n)
		for i := range out {
			out[i] = strconv.Itoa(i)
		}
		return out, nil
	}
	names := strings.Split(v, ",")
	seen := map[string]bool{}
	for i, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			return nil, fmt.Errorf("class %d has an empty name", i)
		}
		if seen[n] {
			return nil, fmt.Errorf("class %q is named twice", n)
		}
		seen[n] = true
		names[i] = n
	}
	if len(names) < 2 {
		return nil, fmt.Errorf("need at least 2 classes, got %d", len(names))
	}
	return names, nil
}

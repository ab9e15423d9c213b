package config

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
)

// checker keeps the first problem found; later checks are no-ops, so Validate reads
// as a flat list of rules.
type checker struct{ err error }

func (ch *checker) fail(key, format string, args ...any) {
	if ch.err == nil {
		ch.err = fmt.Errorf("invalid config: %s %s", key, fmt.Sprintf(format, args...))
	}
}

func (ch *checker) positive(key string, v int) {
	if v <= 0 {
		ch.fail(key, "must be positive, got %d", v)
	}
}

func (ch *checker) nonNegative(key string, v int) {
	if v < 0 {
		ch.fail(key, "must not be negative, got %d", v)
	}
}

// Float rules are written so that NaN fails them too.
func (ch *checker) positiveFloat(key string, v float64) {
	if !(v > 0) || math.IsInf(v, 0) {
		ch.fail(key, "must be a positive finite number, got %v", v)
	}
}

func (ch *checker) nonNegativeFloat(key string, v float64) {
	if !(v >= 0) || math.IsInf(v, 0) {
		ch.fail(key, "must be a finite number >= 0, got %v", v)
	}
}

// interval checks v against [lo, hi], each end open if its flag says so.
func (ch *checker) interval(key string, v, lo, hi float64, loOpen, hiOpen bool) {
	okLo := v > lo || (!loOpen && v == lo)
	okHi := v < hi || (!hiOpen && v == hi)
	if !okLo || !okHi {
		l, r := "[", "]"
		if loOpen {
			l = "("
		}
		if hiOpen {
			r = ")"
		}
		ch.fail(key, "must be in %s%v, %v%s, got %v", l, lo, hi, r, v)
	}
}

func (ch *checker) oneOf(key, v string, allowed ...string) {
	if !slices.Contains(allowed, v) {
		ch.fail(key, "must be one of %s, got %q", strings.Join(allowed, ", "), v)
	}
}

// Validate reports the first problem with c as one error naming the field.
func (c Config) Validate() error {
	var ch checker

	if strings.TrimSpace(c.Out) == "" {
		ch.fail("out", "must not be empty")
	}
	if c.Name != "" && (strings.ContainsAny(c.Name, `/\`) || c.Name == "." || c.Name == ".." ||
		strings.TrimSpace(c.Name) != c.Name || strings.ContainsFunc(c.Name, unicode.IsControl)) {
		ch.fail("name", "must be a plain folder name (no slashes, control characters, or leading or trailing space), got %q", c.Name)
	}

	d := c.Data
	ch.oneOf("data.source", d.Source, SourceNeedle, SourceNeedleGaze, SourceFolder)
	if d.Source == SourceFolder && strings.TrimSpace(d.Path) == "" {
		ch.fail("data.path", "is required when data.source is folder")
	}
	if d.Resolution != ResolutionAuto {
		ch.positive("data.resolution", d.Resolution)
	}
	ch.oneOf("data.policy", d.Policy, PolicyResize, PolicyLetterbox)
	ch.interval("data.val_fraction", d.ValFraction, 0, 1, true, true)
	ch.oneOf("data.on_error", d.OnError, OnErrorFail, OnErrorSkip)
	ch.oneOf("data.normalize", d.Normalize, NormalizeNone, NormalizeImageNet)
	if d.MaxPixels < 1 || d.MaxPixels > MaxImagePixels {
		ch.fail("data.max_pixels", "must be in [1, %d], got %d", int64(MaxImagePixels), d.MaxPixels)
	}
	ch.nonNegative("data.cache_mb", d.CacheMB)
	ch.positive("data.workers", d.Workers)
	ch.interval("data.augment.crop_scale_min", d.Augment.CropScaleMin, 0, 1, true, false)

	n := d.Needle
	if n.Canvas < 32 || n.Canvas > 1024 {
		ch.fail("data.needle.canvas", "must be in [32, 1024], got %d", n.Canvas)
	}
	ch.positive("data.needle.digit_min", n.DigitMin)
	if n.DigitMax < n.DigitMin {
		ch.fail("data.needle.digit_max", "%d is smaller than data.needle.digit_min %d", n.DigitMax, n.DigitMin)
	}
	if n.DigitMax > n.Canvas {
		ch.fail("data.needle.digit_max", "%d is larger than data.needle.canvas %d", n.DigitMax, n.Canvas)
	}
	ch.nonNegative("data.needle.clutter", n.Clutter)
	ch.positive("data.needle.train", n.Train)
	ch.positive("data.needle.val", n.Val)
	ch.nonNegativeFloat("data.needle.noise", n.Noise)
	if d.Source == SourceNeedle && d.Resolution != n.Canvas {
		ch.fail("data.resolution", "%d must equal data.needle.canvas %d when data.source is needle", d.Resolution, n.Canvas)
	}

	gz := d.Gaze
	if gz.Canvas < 32 || gz.Canvas > 1024 {
		ch.fail("data.gaze.canvas", "must be in [32, 1024], got %d", gz.Canvas)
	}
	ch.interval("data.gaze.eye_min", gz.EyeMin, 2, float64(gz.Canvas)/2, false, false)
	ch.interval("data.gaze.eye_max", gz.EyeMax, gz.EyeMin, float64(gz.Canvas)/2, false, false)
	ch.nonNegative("data.gaze.clutter", gz.Clutter)
	ch.positive("data.gaze.train", gz.Train)
	ch.positive("data.gaze.val", gz.Val)
	ch.interval("data.gaze.noise", gz.Noise, 0, 1, false, false)
	if d.Source == SourceNeedleGaze && d.Resolution != gz.Canvas {
		ch.fail("data.resolution", "%d must equal data.gaze.canvas %d when data.source is needle-gaze", d.Resolution, gz.Canvas)
	}

	m := c.Model
	ch.oneOf("model.sampler", m.Sampler, SamplerSaliency, SamplerUniform)
	ch.positive("model.task_input", m.TaskInput)
	if m.TaskInput > d.Resolution && d.Resolution != ResolutionAuto {
		ch.fail("model.task_input", "%d is larger than data.resolution %d (task input larger than the source)", m.TaskInput, d.Resolution)
	}
	ch.positive("model.saliency_input", m.SaliencyInput)
	if m.SaliencyInput > d.Resolution && d.Resolution != ResolutionAuto {
		ch.fail("model.saliency_input", "%d is larger than data.resolution %d (saliency input larger than the source)", m.SaliencyInput, d.Resolution)
	}
	// The grid coordinates divide by grid-1.
	if m.Grid < 2 {
		ch.fail("model.grid", "must be at least 2, got %d", m.Grid)
	}
	ch.positiveFloat("model.fwhm", m.FWHM)
	ch.nonNegative("model.padding", m.Padding)
	ch.oneOf("model.padding_mode", m.PaddingMode, PaddingReplicate, PaddingReflect)
	// Reflecting P cells needs P cells beside the edge one.
	if m.PaddingMode == PaddingReflect && m.Padding >= m.Grid {
		ch.fail("model.padding", "%d must be smaller than model.grid %d with padding_mode reflect", m.Padding, m.Grid)
	}
	ch.positiveFloat("model.temperature", m.Temperature)
	ch.oneOf("model.saliency_net", m.SaliencyNet, NetReference, NetResNet18Layer3)
	ch.oneOf("model.task_net", m.TaskNet, NetReference, NetResNet, NetResNet18, NetResNet34, NetResNet50, NetResNet101)
	ch.positive("model.resnet_width", m.ResNetWidth)
	ch.positive("model.resnet_blocks", m.ResNetBlocks)
	ch.positive("model.task_width", m.TaskWidth)
	ch.positive("model.saliency_width", m.SaliencyWidth)
	ch.oneOf("model.lowres", m.LowRes, LowResAntialias, LowResAvgPool)
	torchvision := slices.Contains([]string{NetResNet18, NetResNet34, NetResNet50, NetResNet101}, m.TaskNet)
	if torchvision && m.TaskInput < 32 {
		ch.fail("model.task_input", "%d is smaller than the %s's stride of 32", m.TaskInput, m.TaskNet)
	}
	if m.SaliencyNet == NetResNet18Layer3 && m.SaliencyInput < 16 {
		ch.fail("model.saliency_input", "%d is smaller than the resnet18-layer3's stride of 16", m.SaliencyInput)
	}
	if m.TaskWeights != "" && !torchvision {
		ch.fail("model.task_weights", "needs a torchvision task network (resnet18, resnet34, resnet50, resnet101), not %q", m.TaskNet)
	}
	if m.SaliencyWeights != "" && m.SaliencyNet != NetResNet18Layer3 {
		ch.fail("model.saliency_weights", "needs model.saliency_net resnet18-layer3, not %q", m.SaliencyNet)
	}

	t := c.Train
	ch.positive("train.epochs", t.Epochs)
	ch.oneOf("train.loss", t.Loss, LossL2, LossL1, LossSmoothL1)
	ch.positive("train.batch_size", t.BatchSize)
	ch.oneOf("train.optimizer", t.Optimizer, OptimizerAdam, OptimizerSGD)
	ch.positiveFloat("train.lr", t.LR)
	ch.interval("train.momentum", t.Momentum, 0, 1, false, true)
	ch.interval("train.beta1", t.Beta1, 0, 1, false, true)
	ch.interval("train.beta2", t.Beta2, 0, 1, false, true)
	ch.nonNegativeFloat("train.weight_decay", t.WeightDecay)
	ch.oneOf("train.schedule", t.Schedule, ScheduleConstant, ScheduleStep, ScheduleCosine)
	ch.nonNegative("train.warmup_epochs", t.WarmupEpochs)
	if t.WarmupEpochs > t.Epochs {
		ch.fail("train.warmup_epochs", "%d is more than train.epochs %d", t.WarmupEpochs, t.Epochs)
	}
	// Milestones matter only to the step schedule; the defaults would otherwise
	// forbid short runs with the constant schedule.
	if t.Schedule == ScheduleStep {
		if len(t.StepEpochs) == 0 {
			ch.fail("train.step_epochs", "must list at least one epoch with schedule step")
		}
		for i, e := range t.StepEpochs {
			if e < 1 || e > t.Epochs {
				ch.fail("train.step_epochs", "epoch %d must be in [1, train.epochs %d]", e, t.Epochs)
			}
			if i > 0 && e <= t.StepEpochs[i-1] {
				ch.fail("train.step_epochs", "must be increasing, got %v", t.StepEpochs)
			}
		}
	}
	ch.interval("train.step_gamma", t.StepGamma, 0, 1, true, false)
	ch.nonNegativeFloat("train.saliency_lr_mult", t.SaliencyLRMult)
	ch.nonNegativeFloat("train.lr_mult.task", t.LRMult.Task)
	ch.nonNegativeFloat("train.lr_mult.saliency", t.LRMult.Saliency)
	ch.nonNegativeFloat("train.lr_mult.saliency_head", t.LRMult.SaliencyHead)
	if t.SaliencyLRMult != 1 && (t.LRMult.Saliency != 1 || t.LRMult.SaliencyHead != 1) {
		ch.fail("train.saliency_lr_mult", "is the older form of train.lr_mult.saliency and saliency_head: set one or the other")
	}
	for i, p := range t.Freeze {
		if strings.TrimSpace(p) == "" {
			ch.fail("train.freeze", "entry %d is empty (it would freeze everything)", i)
		}
	}
	ch.oneOf("train.blur.kind", t.Blur.Kind, BlurGaussian, BlurResolutionDrop)
	if t.Blur.Kind == BlurResolutionDrop {
		if t.Blur.DropMin < 0 || t.Blur.DropMin > m.TaskInput {
			ch.fail("train.blur.drop_min", "must be in [0 (automatic), model.task_input %d], got %d", m.TaskInput, t.Blur.DropMin)
		}
		if t.Blur.Sigma > 0 {
			ch.fail("train.blur.sigma", "is the Gaussian blur's; it must be 0 with kind resolution_drop")
		}
		if t.Blur.Epochs > t.Epochs {
			ch.fail("train.blur.epochs", "%d is more than train.epochs %d", t.Blur.Epochs, t.Epochs)
		}
	}
	ch.nonNegativeFloat("train.blur.sigma", t.Blur.Sigma)
	ch.nonNegative("train.blur.epochs", t.Blur.Epochs)
	if t.Blur.Epochs > t.Epochs {
		ch.fail("train.blur.epochs", "%d is more than train.epochs %d", t.Blur.Epochs, t.Epochs)
	}
	if t.Blur.Sigma > 0 && t.Blur.Epochs == 0 {
		ch.fail("train.blur.epochs", "must be positive when train.blur.sigma is set (the blur decays over them)")
	}
	ch.oneOf("train.blur.shape", t.Blur.Shape, BlurLinear, BlurCosine, BlurStep)
	ch.positive("train.eval_batch_size", t.EvalBatchSize)
	ch.nonNegative("train.log_every", t.LogEvery)
	ch.nonNegative("train.max_steps", t.MaxSteps)

	return ch.err
}

// Package config holds zoomtrain's one typed configuration: its defaults, its
// validation, and its loading from YAML, environment and command-line overrides.
//
// Precedence, highest first: overrides (command-line flags) > environment
// (ZOOMTRAIN_TRAIN_EPOCHS for train.epochs) > config file > Default(). Config files
// list only what differs from the defaults; unknown keys and values of the wrong
// type are errors that name the key.
//
// With data.source needle, data.resolution follows data.needle.canvas unless it is
// set explicitly (then the two must agree): the needle images are generated at the
// canvas size, so that is the source resolution. With data.source folder it is "auto"
// unless set (see ResolveAuto).
package config

import (
	"zoomtrain/internal/imageio"
	"zoomtrain/internal/sampler"
)

// Enumerated values of the string settings.
const (
	SourceNeedle     = "needle"
	SourceNeedleGaze = "needle-gaze"
	SourceFolder     = "folder"

	PolicyResize    = "resize"
	PolicyLetterbox = "letterbox"

	OnErrorFail = "fail"
	OnErrorSkip = "skip"

	SamplerSaliency = "saliency"
	SamplerUniform  = "uniform"

	PaddingReplicate = "replicate"
	PaddingReflect   = "reflect"

	NetReference = "reference"
	NetResNet    = "resnet"
	NetResNet18  = "resnet18"
	NetResNet34  = "resnet34"
	NetResNet50  = "resnet50"
	NetResNet101 = "resnet101"
	// NetResNet18Layer3 is the official Saliency-Sampler's saliency network.
	NetResNet18Layer3 = "resnet18-layer3"

	NormalizeNone     = "none"
	NormalizeImageNet = "imagenet"

	LowResAntialias = "antialias"
	LowResAvgPool   = "avgpool"

	BlurGaussian       = "gaussian"
	BlurResolutionDrop = "resolution_drop"

	OptimizerAdam = "adam"
	OptimizerSGD  = "sgd"

	ScheduleConstant = "constant"
	ScheduleStep     = "step"
	ScheduleCosine   = "cosine"

	LossL2       = "l2"
	LossL1       = "l1"
	LossSmoothL1 = "smooth_l1"

	BlurLinear = "linear"
	BlurCosine = "cosine"
	BlurStep   = "step"
)

// Config is the whole configuration of a run. The mapstructure tags are the YAML
// keys; the dotted path of a field (train.blur.sigma) is its name in errors,
// environment variables and overrides.
type Config struct {
	Seed  int64  `mapstructure:"seed"`
	Out   string `mapstructure:"out"`  // parent folder of run directories
	Name  string `mapstructure:"name"` // run name; "" lets the trainer derive one
	Data  Data   `mapstructure:"data"`
	Model Model  `mapstructure:"model"`
	Train Train  `mapstructure:"train"`
}

// MaxImagePixels bounds data.max_pixels: 256 Mi pixels, 1 GiB decoded as RGBA.
const MaxImagePixels = 1 << 28

// Data says where images come from and how they are brought to one size.
type Data struct {
	Source      string  `mapstructure:"source"`       // needle | folder
	Path        string  `mapstructure:"path"`         // folder root, required for source folder
	Resolution  int     `mapstructure:"resolution"`   // source images become Resolution x Resolution; ResolutionAuto: see ResolveAuto
	Policy      string  `mapstructure:"policy"`       // resize | letterbox
	ValFraction float64 `mapstructure:"val_fraction"` // held out of a single-level ROOT/<class>/* folder
	OnError     string  `mapstructure:"on_error"`     // fail | skip unreadable images
	Normalize   string  `mapstructure:"normalize"`    // none | imagenet: the networks' input normalisation
	MaxPixels   int64   `mapstructure:"max_pixels"`   // an image whose header claims more is refused (or skipped) undecoded
	CacheMB     int     `mapstructure:"cache_mb"`
	Workers     int     `mapstructure:"workers"`
	Augment     Augment `mapstructure:"augment"`
	Needle      Needle  `mapstructure:"needle"`
	Gaze        Gaze    `mapstructure:"gaze"`
}

// Augment is the training-time augmentation.
type Augment struct {
	HFlip        bool    `mapstructure:"hflip"`
	CropScaleMin float64 `mapstructure:"crop_scale_min"` // random resized crop; 1 = off
}

// Needle configures the built-in needle-in-a-haystack data set.
type Needle struct {
	Canvas         int     `mapstructure:"canvas"`
	DigitMin       int     `mapstructure:"digit_min"`
	DigitMax       int     `mapstructure:"digit_max"`
	Clutter        int     `mapstructure:"clutter"`
	Train          int     `mapstructure:"train"`
	Val            int     `mapstructure:"val"`
	Noise          float64 `mapstructure:"noise"`
	FreshEachEpoch bool    `mapstructure:"fresh_each_epoch"`
	// Seed of the canvases, apart from the training seed: runs with different seeds
	// train on the same data.
	Seed int64 `mapstructure:"seed"`
}

// Gaze configures the built-in needle-gaze regression set: one small synthetic eye on
// the needle set's cluttered canvas, its gaze (gx, gy) the targets.
type Gaze struct {
	Canvas         int     `mapstructure:"canvas"`
	EyeMin         float64 `mapstructure:"eye_min"` // eye radius range, pixels
	EyeMax         float64 `mapstructure:"eye_max"`
	Clutter        int     `mapstructure:"clutter"`
	Train          int     `mapstructure:"train"`
	Val            int     `mapstructure:"val"`
	Noise          float64 `mapstructure:"noise"`
	FreshEachEpoch bool    `mapstructure:"fresh_each_epoch"`
	Seed           int64   `mapstructure:"seed"` // of the canvases, apart from the training seed
}

// Model configures the saliency sampler and the two networks.
type Model struct {
	Sampler       string  `mapstructure:"sampler"`        // saliency | uniform
	TaskInput     int     `mapstructure:"task_input"`     // task network input, square
	SaliencyInput int     `mapstructure:"saliency_input"` // low-resolution copy for the saliency network
	Grid          int     `mapstructure:"grid"`           // saliency map and grid size h = w
	FWHM          float64 `mapstructure:"fwhm"`
	Padding       int     `mapstructure:"padding"`
	PaddingMode   string  `mapstructure:"padding_mode"` // replicate | reflect
	Temperature   float64 `mapstructure:"temperature"`  // saliency softmax temperature
	SaliencyNet   string  `mapstructure:"saliency_net"` // reference | resnet18-layer3
	TaskNet       string  `mapstructure:"task_net"`     // reference | resnet | resnet18 | resnet34 | resnet50 | resnet101
	ResNetWidth   int     `mapstructure:"resnet_width"`
	ResNetBlocks  int     `mapstructure:"resnet_blocks"`
	// Stem widths of the torchvision ResNets (torchvision's own is 64).
	TaskWidth     int `mapstructure:"task_width"`
	SaliencyWidth int `mapstructure:"saliency_width"`
	// Pretrained weights (.pth or .safetensors state_dicts, torchvision's key names)
	// loaded into the networks before training; "" = random initialisation.
	TaskWeights     string `mapstructure:"task_weights"`
	SaliencyWeights string `mapstructure:"saliency_weights"`
	// The official forward pass: the low-resolution copy by adaptive average pooling
	// (avgpool) instead of the antialiased resize, and the bilinear resizes' corners.
	LowRes                       string `mapstructure:"lowres"` // antialias | avgpool
	SaliencyUpsampleAlignCorners bool   `mapstructure:"saliency_upsample_align_corners"`
	GridUpsampleAlignCorners     bool   `mapstructure:"grid_upsample_align_corners"`
}

// Train configures the optimiser, the schedules and the loop.
type Train struct {
	Epochs int `mapstructure:"epochs"`
	// Loss of a regression set (l2 | l1 | smooth_l1), on standardised targets; a
	// classification set always uses cross-entropy.
	Loss         string  `mapstructure:"loss"`
	BatchSize    int     `mapstructure:"batch_size"`
	Optimizer    string  `mapstructure:"optimizer"` // adam | sgd
	LR           float64 `mapstructure:"lr"`
	Momentum     float64 `mapstructure:"momentum"` // sgd
	Beta1        float64 `mapstructure:"beta1"`
	Beta2        float64 `mapstructure:"beta2"`
	WeightDecay  float64 `mapstructure:"weight_decay"`
	Schedule     string  `mapstructure:"schedule"` // constant | step | cosine
	WarmupEpochs int     `mapstructure:"warmup_epochs"`
	StepEpochs   []int   `mapstructure:"step_epochs"` // step schedule milestones
	StepGamma    float64 `mapstructure:"step_gamma"`
	// SaliencyLRMult is the older form of LRMult.Saliency (and .SaliencyHead): a
	// value other than 1 sets both, and may not be combined with them.
	SaliencyLRMult float64 `mapstructure:"saliency_lr_mult"`
	LRMult         LRMult  `mapstructure:"lr_mult"`
	// Freeze lists parameter-name prefixes (task.layer1, saliency.) left untrained:
	// the training graph computes no gradient for them.
	Freeze []string `mapstructure:"freeze"`
	// BNEval keeps batch normalisation in evaluation mode while training: the
	// running statistics normalise and stay as loaded.
	BNEval        bool `mapstructure:"bn_eval"`
	Blur          Blur `mapstructure:"blur"`
	EvalBatchSize int  `mapstructure:"eval_batch_size"`
	LogEvery      int  `mapstructure:"log_every"` // 0 = only per-epoch lines
	MaxSteps      int  `mapstructure:"max_steps"` // 0 = no limit
}

// LRMult multiplies the learning rate of each part of the model.
type LRMult struct {
	Task         float64 `mapstructure:"task"`
	Saliency     float64 `mapstructure:"saliency"`      // the saliency network but its last layer
	SaliencyHead float64 `mapstructure:"saliency_head"` // its last layer (conv_last)
}

// Blur is the schedule of the warm-up that hides fine detail from the task network:
// a Gaussian blur of the task input decaying over Epochs, or (kind resolution_drop)
// for the first Epochs epochs the official code's average pool of the sampled image
// to a random side in [DropMin, task input] and bilinear upsample back.
type Blur struct {
	Kind string `mapstructure:"kind"` // gaussian | resolution_drop
	// DropMin is the smallest side of the resolution drop; 0 takes the official
	// code's 64 of 224, scaled to the task input.
	DropMin int     `mapstructure:"drop_min"`
	Sigma   float64 `mapstructure:"sigma"`  // initial sigma in task-input pixels; 0 = off
	Epochs  int     `mapstructure:"epochs"` // epochs over which it decays to 0
	Shape   string  `mapstructure:"shape"`  // linear | cosine | step
}

// Default returns the default configuration: the needle run of the paper's setting.
func Default() Config {
	// The grid generator's settings are the paper's, as the sampler states them.
	paper := sampler.DefaultParams()
	return Config{
		Seed: 0,
		Out:  "runs",
		Data: Data{
			Source:      SourceNeedle,
			Resolution:  128,
			Policy:      PolicyResize,
			ValFraction: 0.1,
			OnError:     OnErrorFail,
			Normalize:   NormalizeNone,
			MaxPixels:   imageio.MaxPixels,
			CacheMB:     2048,
			Workers:     2,
			Augment:     Augment{CropScaleMin: 1},
			Needle: Needle{
				Canvas:   128,
				DigitMin: 24,
				DigitMax: 32,
				Clutter:  4,
				Train:    9000,
				Val:      1000,
				Noise:    0.1,
			},
			// DefaultGazeOptions of package data.
			Gaze: Gaze{
				Canvas: 128, EyeMin: 6, EyeMax: 8, Clutter: 4,
				Train: 9000, Val: 1000, Noise: 0.1, FreshEachEpoch: true,
			},
		},
		Model: Model{
			Sampler:       SamplerSaliency,
			TaskInput:     32,
			SaliencyInput: 64,
			Grid:          paper.H,
			FWHM:          paper.FWHM,
			Padding:       paper.Padding,
			PaddingMode:   string(paper.Mode),
			// 0.25 rather than the plain softmax's 1: on the needle data it widened the
			// sampler's lead over uniform downsampling (README, Results).
			Temperature:   0.25,
			SaliencyNet:   NetReference,
			TaskNet:       NetReference,
			ResNetWidth:   32,
			ResNetBlocks:  2,
			TaskWidth:     64,
			SaliencyWidth: 64,
			LowRes:        LowResAntialias,
			// Today's grid upsample; the official code's is false.
			GridUpsampleAlignCorners: true,
		},
		Train: Train{
			Epochs:         12,
			Loss:           LossL2,
			BatchSize:      32,
			Optimizer:      OptimizerAdam,
			LR:             0.001,
			Momentum:       0.9,
			Beta1:          0.9,
			Beta2:          0.999,
			Schedule:       ScheduleConstant,
			StepEpochs:     []int{8, 11},
			StepGamma:      0.1,
			SaliencyLRMult: 1,
			LRMult:         LRMult{Task: 1, Saliency: 1, SaliencyHead: 1},
			Freeze:         []string{},
			Blur:           Blur{Kind: BlurGaussian, Shape: BlurLinear},
			EvalBatchSize:  100,
		},
	}
}

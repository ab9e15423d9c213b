package config

import (
	"bytes"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v, want nil", err)
	}
	got, err := Load("", nil, nil)
	if err != nil {
		t.Fatalf("Load(\"\", nil, nil): %v", err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("Load with nothing = %+v, want Default() %+v", got, c)
	}
}

// TestSchemaCoversConfig guards the reflection walk: every leaf field of Config must
// be a key, and every key must have its own environment variable.
func TestSchemaCoversConfig(t *testing.T) {
	s := newSchema()
	var count func(reflect.Type) int
	count = func(t reflect.Type) int {
		n := 0
		for i := range t.NumField() {
			if f := t.Field(i); f.Type.Kind() == reflect.Struct {
				n += count(f.Type)
			} else {
				n++
			}
		}
		return n
	}
	if got, want := len(s.leaves), count(reflect.TypeFor[Config]()); got != want {
		t.Errorf("schema has %d keys, Config has %d leaf fields", got, want)
	}
	seen := map[string]string{}
	for _, key := range s.leaves {
		name := envName(key)
		if other, dup := seen[name]; dup {
			t.Errorf("keys %q and %q share the variable %s", other, key, name)
		}
		seen[name] = key
	}
	if got, want := envName("train.blur.sigma"), "ZOOMTRAIN_TRAIN_BLUR_SIGMA"; got != want {
		t.Errorf("envName(train.blur.sigma) = %s, want %s", got, want)
	}
}

func TestPrecedence(t *testing.T) {
	const file = "train:\n  epochs: 5\n  lr: 0.01\n"
	tests := []struct {
		name      string
		file      string
		env       []string
		overrides map[string]any
		epochs    int
		lr        float64
	}{
		{"default", "", nil, nil, 12, 0.001},
		{"file over default", file, nil, nil, 5, 0.01},
		{"env over file", file, []string{"ZOOMTRAIN_TRAIN_EPOCHS=7"}, nil, 7, 0.01},
		{"env over default", "", []string{"ZOOMTRAIN_TRAIN_LR=0.5"}, nil, 12, 0.5},
		{"flag over env", file, []string{"ZOOMTRAIN_TRAIN_EPOCHS=7"}, map[string]any{"train.epochs": 9}, 9, 0.01},
		{"flag over file", file, nil, map[string]any{"train.lr": 0.2}, 5, 0.2},
		{"flag as text", "", nil, map[string]any{"train.epochs": "3"}, 3, 0.001},
		{"unrelated env ignored", file, []string{"PATH=/bin", "ZOOMTRAIN_DEBUG=1", "ZOOMTRAIN_TRAIN_EPOCHS"}, nil, 5, 0.01},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeFile(t, tt.file)
			}
			c, err := Load(path, tt.env, tt.overrides)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.Train.Epochs != tt.epochs || c.Train.LR != tt.lr {
				t.Errorf("epochs, lr = %d, %v; want %d, %v", c.Train.Epochs, c.Train.LR, tt.epochs, tt.lr)
			}
		})
	}
}

func TestLoadValues(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		env       []string
		overrides map[string]any
		check     func(Config) bool
	}{
		{"file list", "train:\n  schedule: step\n  step_epochs: [2, 4]\n", nil, nil,
			func(c Config) bool { return reflect.DeepEqual(c.Train.StepEpochs, []int{2, 4}) }},
		{"env list without brackets", "", []string{"ZOOMTRAIN_TRAIN_STEP_EPOCHS=3,6"}, nil,
			func(c Config) bool { return reflect.DeepEqual(c.Train.StepEpochs, []int{3, 6}) }},
		{"env list with brackets", "", []string{"ZOOMTRAIN_TRAIN_STEP_EPOCHS=[3, 6]"}, nil,
			func(c Config) bool { return reflect.DeepEqual(c.Train.StepEpochs, []int{3, 6}) }},
		{"flag list", "", nil, map[string]any{"train.step_epochs": []int{1}},
			func(c Config) bool { return reflect.DeepEqual(c.Train.StepEpochs, []int{1}) }},
		{"env bool", "", []string{"ZOOMTRAIN_DATA_AUGMENT_HFLIP=true"}, nil,
			func(c Config) bool { return c.Data.Augment.HFlip }},
		{"env string verbatim", "", []string{"ZOOMTRAIN_NAME=0012"}, nil,
			func(c Config) bool { return c.Name == "0012" }},
		{"env empty string", "name: x\n", []string{"ZOOMTRAIN_NAME="}, nil,
			func(c Config) bool { return c.Name == "" }},
		{"integer for a float", "model:\n  fwhm: 9\n", nil, nil,
			func(c Config) bool { return c.Model.FWHM == 9 }},
		{"integral float for an int", "train:\n  max_steps: 1e3\n", nil, nil,
			func(c Config) bool { return c.Train.MaxSteps == 1000 }},
		{"int64 seed", "seed: 9007199254740993\n", nil, nil,
			func(c Config) bool { return c.Seed == 9007199254740993 }},
		{"empty section", "train:\n  # epochs: 3\n", nil, nil,
			func(c Config) bool { return c.Train.Epochs == 12 }},
		{"comments only", "# nothing\n", nil, nil,
			func(c Config) bool { return reflect.DeepEqual(c, Default()) }},
		{"resolution follows canvas", "", nil, map[string]any{"data.needle.canvas": 256},
			func(c Config) bool { return c.Data.Resolution == 256 }},
		{"explicit equal resolution", "data:\n  resolution: 64\n  needle:\n    canvas: 64\n", nil, nil,
			func(c Config) bool { return c.Data.Resolution == 64 }},
		{"folder keeps resolution", "data:\n  source: folder\n  path: /x\n  resolution: 300\n", nil, nil,
			func(c Config) bool { return c.Data.Resolution == 300 && c.Data.Needle.Canvas == 128 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeFile(t, tt.file)
			}
			c, err := Load(path, tt.env, tt.overrides)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !tt.check(c) {
				t.Errorf("got %+v, which fails the check", c)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		env       []string
		overrides map[string]any
		want      string
	}{
		{"unknown key", "train:\n  lrate: 0.1\n", nil, nil, `unknown config key "train.lrate"`},
		{"unknown top key", "epochs: 3\n", nil, nil, `unknown config key "epochs"`},
		{"wrong case", "Train:\n  epochs: 3\n", nil, nil, `unknown config key "Train"`},
		{"suggestion", "model:\n  padding_mod: reflect\n", nil, nil, `did you mean "model.padding_mode"`},
		{"string for int", "train:\n  epochs: '3'\n", nil, nil, `"train.epochs": expected an integer, got string "3"`},
		{"fraction for int", "train:\n  epochs: 2.5\n", nil, nil, `"train.epochs": expected an integer, got number 2.5`},
		{"bool for float", "train:\n  lr: true\n", nil, nil, `"train.lr": expected a number, got boolean true`},
		{"number for string", "name: 12\n", nil, nil, `"name": expected a string, got integer 12`},
		{"number for bool", "data:\n  augment:\n    hflip: 1\n", nil, nil, `"data.augment.hflip": expected a boolean`},
		{"null for int", "train:\n  epochs:\n", nil, nil, `"train.epochs": expected an integer, got nothing`},
		{"bad list element", "train:\n  step_epochs: [1, x]\n", nil, nil, `"train.step_epochs": element 1: expected an integer`},
		{"scalar for list", "train:\n  step_epochs: 3\n", nil, nil, `"train.step_epochs": expected a list of integers`},
		{"scalar for section", "train: 3\n", nil, nil, `"train": expected a mapping, got integer 3`},
		{"mapping for leaf", "train:\n  epochs: {a: 1}\n", nil, nil, `"train.epochs": expected an integer, got a mapping`},
		{"list document", "- 1\n", nil, nil, "expected a mapping of config keys"},
		{"two documents", "seed: 1\n---\nseed: 2\n", nil, nil, "more than one YAML document"},
		{"bad yaml", "train: [\n", nil, nil, "yaml:"},
		{"duplicate key", "seed: 1\nseed: 2\n", nil, nil, "already defined"},
		{"huge int", "train:\n  epochs: 99999999999999999999\n", nil, nil, `"train.epochs": expected an integer`},
		{"unknown env key", "", []string{"ZOOMTRAIN_TRAIN_LRATE=1"}, nil, "unknown config key ZOOMTRAIN_TRAIN_LRATE"},
		{"unknown nested env key", "", []string{"ZOOMTRAIN_DATA_NEEDLE_SIZE=1"}, nil, "unknown config key ZOOMTRAIN_DATA_NEEDLE_SIZE"},
		{"bad env value", "", []string{"ZOOMTRAIN_TRAIN_EPOCHS=many"}, nil, `ZOOMTRAIN_TRAIN_EPOCHS: config key "train.epochs": expected an integer, got "many"`},
		{"empty env number", "", []string{"ZOOMTRAIN_TRAIN_LR="}, nil, `"train.lr": expected a number`},
		{"unknown flag key", "", nil, map[string]any{"train.lrate": 1.0}, `unknown config key "train.lrate"`},
		{"section as flag key", "", nil, map[string]any{"train": 1}, `unknown config key "train"`},
		{"bad flag type", "", nil, map[string]any{"train.epochs": 1.5}, `"train.epochs": expected an integer`},
		{"invalid after merge", "", nil, map[string]any{"train.lr": 0}, "train.lr must be a positive finite number"},
		{"resolution against canvas", "data:\n  resolution: 256\n", nil, nil, "data.resolution 256 must equal data.needle.canvas 128"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeFile(t, tt.file)
			}
			_, err := Load(path, tt.env, tt.overrides)
			if err == nil {
				t.Fatalf("Load = nil error, want one containing %q", tt.want)
			}
			if got := err.Error(); !strings.Contains(got, tt.want) || strings.Contains(got, "\n") {
				t.Errorf("Load error = %q, want one line containing %q", got, tt.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "absent.yaml"), nil, nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(absent) = %v, want a wrapped not-exist error", err)
	}
}

func inf() float64 { return math.Inf(1) }
func nan() float64 { return math.NaN() }

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // field and problem
	}{
		{"empty out", func(c *Config) { c.Out = " " }, "out must not be empty"},
		{"name with slash", func(c *Config) { c.Name = "a/b" }, "name must be a plain folder name"},
		{"name dotdot", func(c *Config) { c.Name = ".." }, "name must be a plain folder name"},
		{"name of a space", func(c *Config) { c.Name = " " }, "name must be a plain folder name"},
		{"max_pixels zero", func(c *Config) { c.Data.MaxPixels = 0 }, "data.max_pixels must be in [1, 268435456], got 0"},
		{"max_pixels beyond the bound", func(c *Config) { c.Data.MaxPixels = 1 << 40 }, "data.max_pixels must be in"},
		{"name with trailing space", func(c *Config) { c.Name = "run " }, "name must be a plain folder name"},
		{"name with a newline", func(c *Config) { c.Name = "a\nb" }, "name must be a plain folder name"},
		{"source", func(c *Config) { c.Data.Source = "web" }, `data.source must be one of needle, needle-gaze, folder, got "web"`},
		{"folder path", func(c *Config) { c.Data.Source = SourceFolder }, "data.path is required"},
		{"resolution", func(c *Config) { c.Data.Source, c.Data.Path, c.Data.Resolution = SourceFolder, "x", -1 }, "data.resolution must be positive"},
		{"policy", func(c *Config) { c.Data.Policy = "crop" }, "data.policy must be one of resize, letterbox"},
		{"val fraction 0", func(c *Config) { c.Data.ValFraction = 0 }, "data.val_fraction must be in (0, 1)"},
		{"val fraction 1", func(c *Config) { c.Data.ValFraction = 1 }, "data.val_fraction must be in (0, 1)"},
		{"on error", func(c *Config) { c.Data.OnError = "ignore" }, "data.on_error must be one of fail, skip"},
		{"cache", func(c *Config) { c.Data.CacheMB = -1 }, "data.cache_mb must not be negative"},
		{"workers", func(c *Config) { c.Data.Workers = 0 }, "data.workers must be positive"},
		{"crop scale 0", func(c *Config) { c.Data.Augment.CropScaleMin = 0 }, "data.augment.crop_scale_min must be in (0, 1]"},
		{"crop scale big", func(c *Config) { c.Data.Augment.CropScaleMin = 1.5 }, "data.augment.crop_scale_min must be in (0, 1]"},
		{"canvas small", func(c *Config) { c.Data.Needle.Canvas = 16 }, "data.needle.canvas must be in [32, 1024]"},
		{"canvas big", func(c *Config) { c.Data.Needle.Canvas = 2048 }, "data.needle.canvas must be in [32, 1024]"},
		{"digit min", func(c *Config) { c.Data.Needle.DigitMin = 0 }, "data.needle.digit_min must be positive"},
		{"digit order", func(c *Config) { c.Data.Needle.DigitMax = 20 }, "data.needle.digit_max 20 is smaller than data.needle.digit_min 24"},
		{"digit canvas", func(c *Config) { c.Data.Needle.DigitMax = 200 }, "data.needle.digit_max 200 is larger than data.needle.canvas 128"},
		{"clutter", func(c *Config) { c.Data.Needle.Clutter = -1 }, "data.needle.clutter must not be negative"},
		{"needle train", func(c *Config) { c.Data.Needle.Train = 0 }, "data.needle.train must be positive"},
		{"needle val", func(c *Config) { c.Data.Needle.Val = 0 }, "data.needle.val must be positive"},
		{"noise", func(c *Config) { c.Data.Needle.Noise = -0.1 }, "data.needle.noise must be a finite number >= 0"},
		{"needle resolution", func(c *Config) { c.Data.Resolution = 64 }, "data.resolution 64 must equal data.needle.canvas 128"},
		{"sampler", func(c *Config) { c.Model.Sampler = "stn" }, "model.sampler must be one of saliency, uniform"},
		{"task input", func(c *Config) { c.Model.TaskInput = 0 }, "model.task_input must be positive"},
		{"task input large", func(c *Config) { c.Model.TaskInput = 256 }, "model.task_input 256 is larger than data.resolution 128 (task input larger than the source)"},
		{"saliency input", func(c *Config) { c.Model.SaliencyInput = -1 }, "model.saliency_input must be positive"},
		{"saliency input large", func(c *Config) { c.Model.SaliencyInput = 129 }, "model.saliency_input 129 is larger than data.resolution 128"},
		{"grid", func(c *Config) { c.Model.Grid = 1 }, "model.grid must be at least 2"},
		{"fwhm", func(c *Config) { c.Model.FWHM = 0 }, "model.fwhm must be a positive finite number"},
		{"padding", func(c *Config) { c.Model.Padding = -1 }, "model.padding must not be negative"},
		{"padding mode", func(c *Config) { c.Model.PaddingMode = "zero" }, "model.padding_mode must be one of replicate, reflect"},
		{"reflect padding", func(c *Config) { c.Model.PaddingMode, c.Model.Padding = PaddingReflect, 31 }, "model.padding 31 must be smaller than model.grid 31 with padding_mode reflect"},
		{"temperature", func(c *Config) { c.Model.Temperature = 0 }, "model.temperature must be a positive finite number"},
		{"task net", func(c *Config) { c.Model.TaskNet = "vgg" }, "model.task_net must be one of reference, resnet, resnet18, resnet34, resnet50, resnet101"},
		{"saliency net", func(c *Config) { c.Model.SaliencyNet = "resnet" }, "model.saliency_net must be one of reference, resnet18-layer3"},
		{"torchvision stride", func(c *Config) { c.Model.TaskNet, c.Model.TaskInput = NetResNet50, 24 }, "model.task_input 24 is smaller than the resnet50's stride of 32"},
		{"saliency stride", func(c *Config) { c.Model.SaliencyNet, c.Model.SaliencyInput = NetResNet18Layer3, 8 }, "model.saliency_input 8 is smaller than the resnet18-layer3's stride of 16"},
		{"task width", func(c *Config) { c.Model.TaskWidth = 0 }, "model.task_width must be positive"},
		{"lowres", func(c *Config) { c.Model.LowRes = "nearest" }, "model.lowres must be one of antialias, avgpool"},
		{"normalize", func(c *Config) { c.Data.Normalize = "cifar" }, "data.normalize must be one of none, imagenet"},
		{"task weights without torchvision", func(c *Config) { c.Model.TaskWeights = "r.pth" }, `model.task_weights needs a torchvision task network`},
		{"saliency weights without resnet", func(c *Config) { c.Model.SaliencyWeights = "r.pth" }, `model.saliency_weights needs model.saliency_net resnet18-layer3`},
		{"lr mult", func(c *Config) { c.Train.LRMult.SaliencyHead = -1 }, "train.lr_mult.saliency_head must be a finite number >= 0"},
		{"old and new saliency multipliers", func(c *Config) { c.Train.SaliencyLRMult, c.Train.LRMult.Saliency = 0.1, 0.01 }, "train.saliency_lr_mult is the older form"},
		{"empty freeze prefix", func(c *Config) { c.Train.Freeze = []string{"task.", " "} }, "train.freeze entry 1 is empty"},
		{"blur kind", func(c *Config) { c.Train.Blur.Kind = "box" }, "train.blur.kind must be one of gaussian, resolution_drop"},
		{"drop min", func(c *Config) { c.Train.Blur.Kind, c.Train.Blur.DropMin = BlurResolutionDrop, 33 }, "train.blur.drop_min must be in [0 (automatic), model.task_input 32], got 33"},
		{"drop with sigma", func(c *Config) { c.Train.Blur.Kind, c.Train.Blur.Sigma, c.Train.Blur.Epochs = BlurResolutionDrop, 1, 2 }, "train.blur.sigma is the Gaussian blur's"},
		{"resnet width", func(c *Config) { c.Model.ResNetWidth = 0 }, "model.resnet_width must be positive"},
		{"resnet blocks", func(c *Config) { c.Model.ResNetBlocks = 0 }, "model.resnet_blocks must be positive"},
		{"epochs", func(c *Config) { c.Train.Epochs = 0 }, "train.epochs must be positive"},
		{"batch", func(c *Config) { c.Train.BatchSize = 0 }, "train.batch_size must be positive"},
		{"optimizer", func(c *Config) { c.Train.Optimizer = "lbfgs" }, "train.optimizer must be one of adam, sgd"},
		{"lr zero", func(c *Config) { c.Train.LR = 0 }, "train.lr must be a positive finite number"},
		{"lr infinite", func(c *Config) { c.Train.LR = inf() }, "train.lr must be a positive finite number"},
		{"lr nan", func(c *Config) { c.Train.LR = nan() }, "train.lr must be a positive finite number"},
		{"momentum", func(c *Config) { c.Train.Momentum = 1 }, "train.momentum must be in [0, 1)"},
		{"beta1", func(c *Config) { c.Train.Beta1 = -0.1 }, "train.beta1 must be in [0, 1)"},
		{"beta2", func(c *Config) { c.Train.Beta2 = nan() }, "train.beta2 must be in [0, 1)"},
		{"weight decay", func(c *Config) { c.Train.WeightDecay = -1 }, "train.weight_decay must be a finite number >= 0"},
		{"schedule", func(c *Config) { c.Train.Schedule = "linear" }, "train.schedule must be one of constant, step, cosine"},
		{"warmup negative", func(c *Config) { c.Train.WarmupEpochs = -1 }, "train.warmup_epochs must not be negative"},
		{"warmup long", func(c *Config) { c.Train.WarmupEpochs = 13 }, "train.warmup_epochs 13 is more than train.epochs 12"},
		{"step empty", func(c *Config) { c.Train.Schedule, c.Train.StepEpochs = ScheduleStep, nil }, "train.step_epochs must list at least one epoch"},
		{"step beyond", func(c *Config) { c.Train.Schedule, c.Train.StepEpochs = ScheduleStep, []int{8, 13} }, "train.step_epochs epoch 13 must be in [1, train.epochs 12]"},
		{"step order", func(c *Config) { c.Train.Schedule, c.Train.StepEpochs = ScheduleStep, []int{8, 8} }, "train.step_epochs must be increasing"},
		{"step gamma", func(c *Config) { c.Train.StepGamma = 0 }, "train.step_gamma must be in (0, 1]"},
		{"saliency lr mult", func(c *Config) { c.Train.SaliencyLRMult = -1 }, "train.saliency_lr_mult must be a finite number >= 0"},
		{"blur sigma", func(c *Config) { c.Train.Blur.Sigma = -1 }, "train.blur.sigma must be a finite number >= 0"},
		{"blur epochs negative", func(c *Config) { c.Train.Blur.Epochs = -1 }, "train.blur.epochs must not be negative"},
		{"blur epochs long", func(c *Config) { c.Train.Blur.Epochs = 13 }, "train.blur.epochs 13 is more than train.epochs 12"},
		{"blur without epochs", func(c *Config) { c.Train.Blur.Sigma = 2 }, "train.blur.epochs must be positive when train.blur.sigma is set"},
		{"blur shape", func(c *Config) { c.Train.Blur.Shape = "exp" }, "train.blur.shape must be one of linear, cosine, step"},
		{"eval batch", func(c *Config) { c.Train.EvalBatchSize = 0 }, "train.eval_batch_size must be positive"},
		{"log every", func(c *Config) { c.Train.LogEvery = -1 }, "train.log_every must not be negative"},
		{"max steps", func(c *Config) { c.Train.MaxSteps = -1 }, "train.max_steps must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want an error containing %q", tt.want)
			}
			if got := err.Error(); !strings.Contains(got, tt.want) {
				t.Errorf("Validate() = %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

// TestValidateAccepts checks the edges that the rules must let through.
func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"reflect padding just fits", func(c *Config) { c.Model.PaddingMode, c.Model.Padding = PaddingReflect, 30 }},
		{"task input equals resolution", func(c *Config) { c.Model.TaskInput = 128 }},
		{"step milestones at the end", func(c *Config) { c.Train.Schedule, c.Train.StepEpochs = ScheduleStep, []int{1, 12} }},
		{"constant schedule ignores milestones", func(c *Config) { c.Train.Epochs, c.Train.StepEpochs = 2, []int{8, 11} }},
		{"blur over all epochs", func(c *Config) { c.Train.Blur.Sigma, c.Train.Blur.Epochs = 3, 12 }},
		{"canvas bounds", func(c *Config) {
			c.Data.Needle.Canvas, c.Data.Resolution, c.Data.Needle.DigitMin, c.Data.Needle.DigitMax = 32, 32, 32, 32
			c.Model.SaliencyInput = 32
		}},
		{"sgd with zero momentum", func(c *Config) { c.Train.Optimizer, c.Train.Momentum = OptimizerSGD, 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
		})
	}
}

func TestConfigFiles(t *testing.T) {
	tests := []struct {
		file  string
		check func(Config) bool
	}{
		{"needle.yaml", func(c Config) bool { return reflect.DeepEqual(c, Default()) }},
		{"needle-uniform.yaml", func(c Config) bool {
			return c.Model.Sampler == SamplerUniform && c.Data == Default().Data
		}},
		{"tiny.yaml", func(c Config) bool {
			return c.Data.Resolution == 64 && c.Data.Needle.Canvas == 64 && c.Model.TaskInput == 16 &&
				c.Model.Grid == 15 && c.Train.Epochs == 2 && c.Data.Needle.Train <= 100
		}},
		{"official.yaml", func(c Config) bool {
			t := c.Train
			return c.Model.TaskNet == NetResNet18 && c.Model.SaliencyNet == NetResNet18Layer3 && c.Data.Normalize == NormalizeImageNet &&
				c.Model.LowRes == LowResAvgPool && !c.Model.GridUpsampleAlignCorners && !c.Model.SaliencyUpsampleAlignCorners &&
				t.Optimizer == OptimizerSGD && t.Momentum == 0.9 && t.WeightDecay == 1e-4 &&
				t.LRMult == LRMult{Task: 1, Saliency: 0.001, SaliencyHead: 0.01} && t.Blur.Kind == BlurResolutionDrop
		}},
		{"folder-512.yaml", func(c Config) bool {
			return c.Data.Source == SourceFolder && c.Data.Resolution == 512 && c.Model.TaskInput == 64 &&
				c.Model.SaliencyInput == 64 && c.Model.TaskNet == NetResNet
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c, err := Load(filepath.Join("..", "..", "configs", tt.file), nil, nil)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !tt.check(c) {
				t.Errorf("%s resolved to %+v, which fails the check", tt.file, c)
			}
		})
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	tiny, err := Load(filepath.Join("..", "..", "configs", "tiny.yaml"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	odd := Default()
	odd.Name = "true" // a string that YAML would read as a boolean unless quoted
	odd.Seed = -1 << 60
	odd.Train.LR = 1e-7
	odd.Train.StepEpochs = []int{}
	for _, c := range []Config{Default(), tiny, odd} {
		b, err := c.YAML()
		if err != nil {
			t.Fatalf("YAML: %v", err)
		}
		again, err := c.YAML()
		if err != nil || !bytes.Equal(b, again) {
			t.Errorf("YAML is not stable: %q then %q (%v)", b, again, err)
		}
		got, err := Parse(b)
		if err != nil {
			t.Fatalf("Parse(YAML()): %v\n%s", err, b)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("Parse(YAML()) = %+v, want %+v", got, c)
		}
	}
	b, err := Default().YAML()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("seed: 0\nout: runs\n")) || !bytes.Contains(b, []byte("\n  step_epochs: [8, 11]\n")) {
		t.Errorf("YAML() does not list keys in struct order:\n%s", b)
	}
}

func TestParseStrict(t *testing.T) {
	if _, err := Parse([]byte("train:\n  lrate: 1\n")); err == nil || !strings.Contains(err.Error(), `unknown config key "train.lrate"`) {
		t.Errorf("Parse(unknown key) = %v, want an unknown key error", err)
	}
	if _, err := Parse([]byte("train:\n  epochs: 0\n")); err == nil || !strings.Contains(err.Error(), "train.epochs must be positive") {
		t.Errorf("Parse(epochs 0) = %v, want a validation error", err)
	}
}

// TestParseSaliencyNet: model.saliency_net as every older checkpoint's config holds it
// (reference, the one value it had) reads as the default; an unknown network does not.
func TestParseSaliencyNet(t *testing.T) {
	tests := []struct {
		name, yaml, wantErr string
	}{
		{"the older checkpoints' value", "model:\n  saliency_net: reference\n", ""},
		{"another value", "model:\n  saliency_net: resnet\n", `model.saliency_net must be one of reference, resnet18-layer3, got "resnet"`},
	}
	for _, tt := range tests {
		c, err := Parse([]byte(tt.yaml))
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.wantErr == "" && !reflect.DeepEqual(c, Default()):
			t.Errorf("%s: got %+v, want the defaults", tt.name, c)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

// TestExperimentConfigs: every experiment variant loads, validates and differs from the
// default in what its file names.
func TestExperimentConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "configs", "experiments", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no experiment configs found (%v)", err)
	}
	for _, f := range files {
		c, err := Load(f, nil, nil)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if reflect.DeepEqual(c, Default()) {
			t.Errorf("%s resolves to the defaults: it is no variant", f)
		}
	}
}

// TestStringList: train.freeze reads from YAML, the environment and a text override,
// survives the YAML round trip, and refuses a list of numbers.
func TestStringList(t *testing.T) {
	c, err := Parse([]byte("train:\n  freeze: [task.conv1, task.bn1]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Train.Freeze, []string{"task.conv1", "task.bn1"}) {
		t.Errorf("from YAML: %q", c.Train.Freeze)
	}
	y, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(y)
	if err != nil || !reflect.DeepEqual(back, c) {
		t.Errorf("round trip: %v, %+v", err, back.Train.Freeze)
	}
	c, err = Load("", []string{"ZOOMTRAIN_TRAIN_FREEZE=task.layer1,saliency."}, nil)
	if err != nil || !reflect.DeepEqual(c.Train.Freeze, []string{"task.layer1", "saliency."}) {
		t.Errorf("from the environment: %v, %q", err, c.Train.Freeze)
	}
	c, err = Load("", nil, map[string]any{"train.freeze": "task."})
	if err != nil || !reflect.DeepEqual(c.Train.Freeze, []string{"task."}) {
		t.Errorf("from an override: %v, %q", err, c.Train.Freeze)
	}
	if _, err := Parse([]byte("train:\n  freeze: [1, 2]\n")); err == nil || !strings.Contains(err.Error(), `config key "train.freeze": element 0: expected a string`) {
		t.Errorf("numbers: err = %v", err)
	}
}

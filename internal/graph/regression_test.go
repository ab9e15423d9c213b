package graph

import (
	"testing"

	"gorgonia.org/tensor"

	"zoomtrain/internal/kernels"
)

// TestRegressionHeadShapes: a regression spec builds on both task networks with one
// output per target and a targets input of (Batch, Targets); specs with both heads or an
// unknown loss are refused.
func TestRegressionHeadShapes(t *testing.T) {
	base := Spec{Resolution: 32, Sampler: SamplerUniform, TaskInput: 16, TaskNet: TaskReference, ResNetWidth: 4, ResNetBlocks: 1, Targets: 3, Loss: kernels.LossSmoothL1}
	for _, net := range []string{TaskReference, TaskResNet} {
		s := base
		s.TaskNet = net
		m, err := Build(s, Options{Batch: 2, Dtype: tensor.Float64, WithLoss: true})
		if err != nil {
			t.Fatalf("%s: %v", net, err)
		}
		if got := m.Logits.Shape(); !got.Eq(tensor.Shape{2, 3}) {
			t.Errorf("%s: outputs %v, want (2, 3)", net, got)
		}
		if m.Targets == nil || !m.Targets.Shape().Eq(tensor.Shape{2, 3}) || m.OneHot != nil || m.Loss == nil {
			t.Errorf("%s: targets input %v, one-hot %v, loss %v", net, m.Targets, m.OneHot, m.Loss)
		}
	}
	for _, tt := range []struct {
		name   string
		change func(*Spec)
	}{
		{"both heads", func(s *Spec) { s.Classes = 10 }},
		{"unknown loss", func(s *Spec) { s.Loss = "l3" }},
		{"negative targets", func(s *Spec) { s.Targets = -1 }},
	} {
		s := base
		tt.change(&s)
		if err := s.Validate(); err == nil {
			t.Errorf("%s: spec accepted", tt.name)
		}
	}
}

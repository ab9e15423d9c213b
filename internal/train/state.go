package train

// Keys of Checkpoint.Extra written by training (infer.ExtraBatchNorm is the third).
const (
	extraPosition = "position"
	extraBest     = "best_top1"
)

// position says where in training a checkpoint was taken, with the partial sums of
// the epoch in progress, so a resumed run reports the same metrics.
type position struct {
	Epoch       int     `json:"epoch"` // epoch in progress (0-based)
	Batch       int     `json:"batch"` // batches of it already done
	Step        int     `json:"step"`  // optimiser steps in total
	LossSum     float64 `json:"loss_sum"`
	Correct     int     `json:"correct"`
	Seen        int     `json:"seen"`
	Seconds     float64 `json:"seconds"` // time spent in the epoch so far
	BestTop1    float64 `json:"best_top1"`
	HasBest     bool    `json:"has_best"`
	OptStepSeen int     `json:"opt_step"`
}

package kernels

import "zoomtrain/internal/opkit"

// The ops below read their inputs only while Do runs and return their kept
// buffer, so their outputs may share memory (opkit.ShareOutputs). The others
// (the sampler's, the resizes, blur, normalisation, softmax and the losses)
// keep their buffers apart.

func (op *convOp) Output() *opkit.Buffer        { return &op.st.out }
func (op *convGradOp) Output() *opkit.Buffer    { return &op.out }
func (op *channelSumOp) Output() *opkit.Buffer  { return &op.out }
func (op *bnOp) Output() *opkit.Buffer          { return &op.out }
func (op *bnSumsOp) Output() *opkit.Buffer      { return &op.out }
func (op *bnDxOp) Output() *opkit.Buffer        { return &op.out }
func (op *bnPickOp) Output() *opkit.Buffer      { return &op.out }
func (op *reluOp) Output() *opkit.Buffer        { return &op.out }
func (op *reluGradOp) Output() *opkit.Buffer    { return &op.out }
func (op *addOp) Output() *opkit.Buffer         { return &op.out }
func (op *linearOp) Output() *opkit.Buffer      { return &op.out }
func (op *linearGradOp) Output() *opkit.Buffer  { return &op.out }
func (op *maxPoolOp) Output() *opkit.Buffer     { return &op.st.out }
func (op *maxPoolGradOp) Output() *opkit.Buffer { return &op.out }
func (op *avgPoolOp) Output() *opkit.Buffer     { return &op.out }
func (op *avgPoolGradOp) Output() *opkit.Buffer { return &op.out }

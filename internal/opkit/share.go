package opkit

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// SharedOutput is an op that may keep its output in memory shared with other
// ops' outputs. Implementing it promises that the op's value is the tensor its
// Output buffer's Get returns, written only while Do runs, and that the op reads
// its inputs only while Do runs: it keeps no reference to them, and nothing it
// keeps keyed by an input's address outlives the input's value in the same run.
type SharedOutput interface {
	gorgonia.Op
	Output() *Buffer
}

// slot is memory that the outputs of several ops take turns in.
type slot struct {
	dt   tensor.Dtype
	size int // elements: the largest of its outputs
	data any // []float32 or []float64, allocated at first use
}

// Arena is the memory that the kept outputs of one or more graphs share. Graphs
// planned into one arena (a training graph and its evaluation graph) must be run
// one at a time, and planned before any of them first runs: a slot grown by a
// later plan is allocated again, and the outputs already in it keep the old
// memory.
type Arena struct {
	slots []*slot
}

// backing returns the first size elements of the slot's memory, or nil when s is
// nil or holds another dtype or fewer elements (the caller allocates its own).
func (s *slot) backing(dt tensor.Dtype, size int) any {
	if s == nil || dt != s.dt || size > s.size {
		return nil
	}
	switch dt {
	case tensor.Float32:
		d, _ := s.data.([]float32)
		if len(d) < s.size {
			d = make([]float32, s.size)
			s.data = d
		}
		return d[:size]
	case tensor.Float64:
		d, _ := s.data.([]float64)
		if len(d) < s.size {
			d = make([]float64, s.size)
			s.data = d
		}
		return d[:size]
	}
	return nil
}

// Sharing is what ShareOutputs arranged.
type Sharing struct {
	Outputs int   // op outputs given a share of memory
	Slots   int   // the pieces of memory they share
	Bytes   int64 // the bytes of those pieces
	Apart   int64 // the bytes the same outputs take kept apart
}

// ShareOutputs lets the kept outputs of g's SharedOutput ops share the memory of
// arena a where their values are not needed at the same time, as a TapeMachine
// runs g: each value lives from the op that writes it to the last op that reads
// it, in the order the machine runs them (Gorgonia's topological sort,
// reversed). regs is the register of each node from gorgonia.Compile, whose
// program the machine must then run (gorgonia.WithPrecompiled); NewMachine does
// both. A nil arena is g's own.
//
// An output is shared only when every op reading it is a SharedOutput (so none
// keeps it past its own run, aliases it, or writes into it), when it is read at
// all (an unread output is the graph's result or a weight's gradient, read after
// the run), and when no Gorgonia op writes the register it is handed to the
// machine in: Gorgonia's own ops write their results into the value a register
// held before, which would be another op's live value in shared memory. The
// values that outlive a run are never shared, so every slot of the arena is
// free when a run starts. Call it before the graph first runs; the ops' outputs
// are allocated afresh.
func ShareOutputs[R comparable](g *gorgonia.ExprGraph, regs map[*gorgonia.Node]R, a *Arena) (Sharing, error) {
	if a == nil {
		a = new(Arena)
	}
	order, err := gorgonia.Sort(g)
	if err != nil {
		return Sharing{}, fmt.Errorf("share outputs: %w", err)
	}
	for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
		order[i], order[j] = order[j], order[i]
	}
	at := make(map[*gorgonia.Node]int, len(order))
	for i, n := range order {
		at[n] = i
	}
	lastUse := map[*gorgonia.Node]int{}
	readByOther := map[*gorgonia.Node]bool{}
	foreignReg := map[R]bool{}
	// Compile runs one of the nodes of equal hash (value numbering) and hands its
	// value to the readers of the others, which this plan does not follow: such
	// nodes keep their own memory.
	hashes := map[uint32]int{}
	for _, n := range order {
		hashes[n.Hashcode()]++
	}
	for i, n := range order {
		if n.Op() == nil {
			continue
		}
		_, ours := n.Op().(SharedOutput)
		if !ours {
			if r, ok := regs[n]; ok {
				foreignReg[r] = true
			}
		}
		for it := g.From(n.ID()); it != nil && it.Next(); {
			c, ok := it.Node().(*gorgonia.Node)
			if !ok {
				return Sharing{}, fmt.Errorf("share outputs: node %v has a child of type %T", n, it.Node())
			}
			if _, ok := at[c]; !ok {
				return Sharing{}, fmt.Errorf("share outputs: node %v reads %v, which the sort left out", n, c)
			}
			lastUse[c] = max(lastUse[c], i)
			if !ours {
				readByOther[c] = true
			}
		}
	}
	type live struct {
		s   *slot
		end int
	}
	var (
		sum    Sharing
		active []live
		free   = append([]*slot(nil), a.slots...)
		used   = map[*slot]bool{}
	)
	for i, n := range order {
		op, ok := n.Op().(SharedOutput)
		if !ok {
			continue
		}
		buf := op.Output()
		buf.t, buf.slot = nil, nil
		end, read := lastUse[n]
		r, hasReg := regs[n]
		dt := n.Dtype()
		if !read || readByOther[n] || !hasReg || foreignReg[r] || hashes[n.Hashcode()] > 1 || (dt != tensor.Float32 && dt != tensor.Float64) {
			continue
		}
		// Values whose last reader ran before this op are dead: their memory is free.
		kept := active[:0]
		for _, l := range active {
			if l.end < i {
				free = append(free, l.s)
			} else {
				kept = append(kept, l)
			}
		}
		active = kept
		size := max(n.Shape().TotalSize(), 1)
		s := takeSlot(&free, dt, size)
		if s == nil {
			s = &slot{dt: dt}
			a.slots = append(a.slots, s)
		}
		used[s] = true
		s.size = max(s.size, size)
		buf.slot = s
		active = append(active, live{s, end})
		sum.Outputs++
		sum.Apart += int64(size) * int64(dt.Size())
	}
	for s := range used {
		sum.Slots++
		sum.Bytes += int64(s.size) * int64(s.dt.Size())
	}
	return sum, nil
}

// takeSlot removes from free and returns the slot of dtype dt that fits size
// elements most tightly, else the largest one of dt (to be grown), else nil.
func takeSlot(free *[]*slot, dt tensor.Dtype, size int) *slot {
	fit, big := -1, -1
	for j, s := range *free {
		switch {
		case s.dt != dt:
		case s.size >= size:
			if fit < 0 || s.size < (*free)[fit].size {
				fit = j
			}
		case big < 0 || s.size > (*free)[big].size:
			big = j
		}
	}
	best := fit
	if best < 0 {
		best = big
	}
	if best < 0 {
		return nil
	}
	s := (*free)[best]
	*free = append((*free)[:best], (*free)[best+1:]...)
	return s
}

// NewMachine compiles g, lets its ops' outputs share the memory of arena a
// (ShareOutputs) and returns a TapeMachine that runs the compiled program, with
// opts.
func NewMachine(g *gorgonia.ExprGraph, a *Arena, opts ...gorgonia.VMOpt) (gorgonia.VM, Sharing, error) {
	prog, regs, err := gorgonia.Compile(g)
	if err != nil {
		return nil, Sharing{}, fmt.Errorf("compile graph: %w", err)
	}
	sum, err := ShareOutputs(g, regs, a)
	if err != nil {
		return nil, Sharing{}, err
	}
	return gorgonia.NewTapeMachine(g, append(opts, gorgonia.WithPrecompiled(prog, regs))...), sum, nil
}

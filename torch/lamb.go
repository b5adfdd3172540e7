package torch

import (
	"bytes"
	bin "encoding/binary"
	"errors"
	"fmt"
	"math"
)

// LAMBOptions are LAMB's hyperparameters. Zero values take Paddle's LambOptimizer defaults (β1 0.9, β2 0.999,
// ε 1e-6). The weight decay is per group (ParamGroup.WeightDecay; Paddle's lamb_weight_decay, 0.01 in the official
// runs, 0 for the parameters its exclude_from_weight_decay picks).
type LAMBOptions struct {
	Beta1, Beta2, Eps float64
	// NoBiasCorrection drops the moments' bias corrections (1−β1^t), (1−β2^t), as Paddle 1.x's lamb op did.
	NoBiasCorrection bool
}

// LAMB is the layer-wise adaptive optimizer of You et al., "Large Batch Optimization for Deep Learning: Training
// BERT in 76 Minutes" (2019), with the update of Paddle's lamb op (PaddlePaddle 2.x), which the official RocketQA
// MS MARCO runs use. For each parameter w with gradient g at step t (1-based), with weight decay λ:
//
//	m = β1·m + (1−β1)·g            v = β2·v + (1−β2)·g²
//	r = (m/(1−β1^t)) / (sqrt(v/(1−β2^t)) + ε) + λ·w
//	w = w − lr · (‖w‖/‖r‖) · r     (the ratio is 1 when either norm is 0)
//
// Moments live on the parameters' device; a parameter without a gradient is skipped (its step count stays).
// It is written in Go over this package's tensor operations.
type LAMB struct {
	groups []ParamGroup
	lrs    []float64 // current LR of each group
	o      LAMBOptions
	st     [][]lambState // per group, per param
	closed bool
}

type lambState struct {
	step int64
	m, v *Tensor
}

// NewLAMB builds the optimizer. Parameters must be valid leaf tensors requiring grad.
func NewLAMB(groups []ParamGroup, o LAMBOptions) (*LAMB, error) {
	if o.Beta1 == 0 {
		o.Beta1 = 0.9
	}
	if o.Beta2 == 0 {
		o.Beta2 = 0.999
	}
	if o.Eps == 0 {
		o.Eps = 1e-6
	}
	for _, v := range []float64{o.Beta1, o.Beta2} {
		if !(v > 0 && v < 1) {
			return nil, fmt.Errorf("torch: NewLAMB: beta %v must be in (0, 1)", v)
		}
	}
	if !(o.Eps > 0) || math.IsInf(o.Eps, 0) {
		return nil, fmt.Errorf("torch: NewLAMB: eps %v must be positive", o.Eps)
	}
	if len(groups) == 0 {
		return nil, errors.New("torch: NewLAMB: no parameter groups")
	}
	l := &LAMB{groups: groups, o: o}
	n := 0
	for g, grp := range groups {
		if math.IsNaN(grp.LR) || math.IsInf(grp.LR, 0) || grp.LR < 0 ||
			math.IsNaN(grp.WeightDecay) || math.IsInf(grp.WeightDecay, 0) || grp.WeightDecay < 0 {
			return nil, fmt.Errorf("torch: NewLAMB: group %d: lr %v / weight decay %v must be finite and not negative", g, grp.LR, grp.WeightDecay)
		}
		for i, p := range grp.Params {
			if err := operandErr("NewLAMB", p); err != nil {
				return nil, fmt.Errorf("torch: NewLAMB: group %d param %d: %w", g, i, err)
			}
		}
		n += len(grp.Params)
		l.lrs = append(l.lrs, grp.LR)
		l.st = append(l.st, make([]lambState, len(grp.Params)))
	}
	if n == 0 {
		return nil, errors.New("torch: NewLAMB: no parameters")
	}
	return l, nil
}

func (l *LAMB) ok(op string) error {
	if l == nil || l.closed {
		return fmt.Errorf("torch: LAMB.%s: optimizer is closed", op)
	}
	return nil
}

// Step applies one update from the parameters' current gradients.
func (l *LAMB) Step() error {
	if err := l.ok("Step"); err != nil {
		return err
	}
	var err error
	NoGrad(func() {
		for g, grp := range l.groups {
			for i, p := range grp.Params {
				if err = l.stepParam(&l.st[g][i], p, l.lrs[g], grp.WeightDecay); err != nil {
					err = fmt.Errorf("torch: LAMB.Step: group %d param %d: %w", g, i, err)
					return
				}
			}
		}
	})
	return err
}

func (l *LAMB) stepParam(st *lambState, p *Tensor, lr, wd float64) error {
	return With(func(s *Scope) error {
		w := s.Use(p)
		grad := w.Grad()
		if grad == nil {
			return nil
		}
		if err := grad.Err(); err != nil {
			return err
		}
		if st.m == nil {
			st.m = Zeros(p.Shape(), p.DType(), p.Device())
			st.v = Zeros(p.Shape(), p.DType(), p.Device())
			if err := errors.Join(st.m.Err(), st.v.Err()); err != nil {
				st.m.Close()
				st.v.Close()
				st.m, st.v = nil, nil
				return err
			}
		}
		b1, b2 := l.o.Beta1, l.o.Beta2
		if err := st.m.MulInPlace(b1); err != nil {
			return err
		}
		if err := st.m.AddInPlace(grad, 1-b1); err != nil {
			return err
		}
		if err := st.v.MulInPlace(b2); err != nil {
			return err
		}
		if err := st.v.AddInPlace(grad.Mul(grad), 1-b2); err != nil {
			return err
		}
		st.step++
		t := float64(st.step)
		m, v := s.Use(st.m), s.Use(st.v)
		if !l.o.NoBiasCorrection {
			m, v = m.DivScalar(1-math.Pow(b1, t)), v.DivScalar(1-math.Pow(b2, t))
		}
		r := m.Div(v.Sqrt().AddScalar(l.o.Eps))
		if wd != 0 {
			r = r.Add(w.MulScalar(wd))
		}
		pn, err := w.Norm().Item()
		if err != nil {
			return err
		}
		rn, err := r.Norm().Item()
		if err != nil {
			return err
		}
		ratio := 1.0
		if pn > 0 && rn > 0 {
			ratio = pn / rn
		}
		return p.AddInPlace(r, -lr*ratio)
	})
}

// ZeroGrad clears every parameter's gradient (set to none).
func (l *LAMB) ZeroGrad() error {
	if err := l.ok("ZeroGrad"); err != nil {
		return err
	}
	for _, grp := range l.groups {
		for _, p := range grp.Params {
			if err := p.ZeroGrad(); err != nil {
				return err
			}
		}
	}
	return nil
}

// SetLRFactor sets every group's learning rate to its initial LR times f (what a schedule does).
func (l *LAMB) SetLRFactor(f float64) error {
	if err := l.ok("SetLRFactor"); err != nil {
		return err
	}
	for g, grp := range l.groups {
		l.lrs[g] = grp.LR * f
	}
	return nil
}

// Groups returns the groups the optimizer was built with (initial learning rates).
func (l *LAMB) Groups() []ParamGroup { return l.groups }

const lambMagic = "RQLAMB1\n"

// StateDict serialises the optimizer state exactly: per parameter its step count and both moments (raw elements
// in the parameter's dtype).
func (l *LAMB) StateDict() ([]byte, error) {
	if err := l.ok("StateDict"); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(lambMagic)
	le := bin.LittleEndian
	bin.Write(&b, le, uint32(len(l.groups)))
	for g, grp := range l.groups {
		bin.Write(&b, le, uint32(len(grp.Params)))
		for i, p := range grp.Params {
			st := l.st[g][i]
			bin.Write(&b, le, st.step)
			bin.Write(&b, le, uint64(p.Numel()))
			if st.m == nil {
				b.WriteByte(0)
				continue
			}
			b.WriteByte(1)
			for _, t := range []*Tensor{st.m, st.v} {
				raw, err := t.Bytes()
				if err != nil {
					return nil, fmt.Errorf("torch: LAMB.StateDict: %w", err)
				}
				b.Write(raw)
			}
		}
	}
	return b.Bytes(), nil
}

// LoadStateDict restores a state written by StateDict for an optimizer over parameters of the same groups and
// shapes.
func (l *LAMB) LoadStateDict(data []byte) error {
	if err := l.ok("LoadStateDict"); err != nil {
		return err
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("torch: LAMB.LoadStateDict: "+format, args...)
	}
	if !bytes.HasPrefix(data, []byte(lambMagic)) {
		return bad("not a LAMB state (no header)")
	}
	r := bytes.NewReader(data[len(lambMagic):])
	le := bin.LittleEndian
	var ng uint32
	if err := bin.Read(r, le, &ng); err != nil {
		return bad("truncated")
	}
	if int(ng) != len(l.groups) {
		return bad("state has %d parameter groups, the optimizer %d", ng, len(l.groups))
	}
	fresh := make([][]lambState, len(l.groups))
	cleanup := func() {
		for _, g := range fresh {
			for _, st := range g {
				st.m.Close()
				st.v.Close()
			}
		}
	}
	for g, grp := range l.groups {
		var np uint32
		if err := bin.Read(r, le, &np); err != nil {
			cleanup()
			return bad("truncated")
		}
		if int(np) != len(grp.Params) {
			cleanup()
			return bad("group %d has %d parameters in the state, %d in the optimizer", g, np, len(grp.Params))
		}
		fresh[g] = make([]lambState, len(grp.Params))
		for i, p := range grp.Params {
			var step int64
			var n uint64
			var has byte
			if bin.Read(r, le, &step) != nil || bin.Read(r, le, &n) != nil || bin.Read(r, le, &has) != nil {
				cleanup()
				return bad("truncated")
			}
			if n != uint64(p.Numel()) || step < 0 {
				cleanup()
				return bad("group %d param %d has %d elements in the state, %d in the model (shape %v)", g, i, n, p.Numel(), p.Shape())
			}
			fresh[g][i].step = step
			if has == 0 {
				continue
			}
			sz := int(n) * p.DType().Size()
			for k := 0; k < 2; k++ {
				if r.Len() < sz {
					cleanup()
					return bad("truncated")
				}
				raw := make([]byte, sz)
				r.Read(raw)
				t := FromBytes(raw, p.DType(), p.Device(), p.Shape()...)
				if err := t.Err(); err != nil {
					t.Close()
					cleanup()
					return bad("%v", err)
				}
				if k == 0 {
					fresh[g][i].m = t
				} else {
					fresh[g][i].v = t
				}
			}
		}
	}
	if r.Len() != 0 {
		cleanup()
		return bad("%d trailing bytes", r.Len())
	}
	l.free()
	l.st = fresh
	return nil
}

func (l *LAMB) free() {
	for _, g := range l.st {
		for _, st := range g {
			st.m.Close()
			st.v.Close()
		}
	}
}

// Close frees the moments; safe to call twice.
func (l *LAMB) Close() {
	if l == nil || l.closed {
		return
	}
	l.free()
	l.closed = true
}

package torch

// #include <stdlib.h>
// #include "shim.h"
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// ParamGroup is a set of parameters sharing a learning rate and weight decay (e.g. no decay for biases and
// LayerNorm weights).
type ParamGroup struct {
	Params      []*Tensor
	LR          float64
	WeightDecay float64
}

// AdamWOptions are the hyperparameters shared by all groups. Zero values take PyTorch's defaults
// (β1 0.9, β2 0.999, ε 1e-8).
type AdamWOptions struct {
	Beta1, Beta2, Eps float64
}

// AdamW is libtorch's torch::optim::AdamW (decoupled weight decay), the same update as torch.optim.AdamW.
type AdamW struct {
	h      C.TOpt
	groups []ParamGroup
}

// NewAdamW builds the optimizer. Parameters must be valid leaf tensors requiring grad.
func NewAdamW(groups []ParamGroup, o AdamWOptions) (*AdamW, error) {
	if o.Beta1 == 0 {
		o.Beta1 = 0.9
	}
	if o.Beta2 == 0 {
		o.Beta2 = 0.999
	}
	if o.Eps == 0 {
		o.Eps = 1e-8
	}
	if len(groups) == 0 {
		return nil, errors.New("torch: NewAdamW: no parameter groups")
	}
	var hs []C.TT
	sizes := make([]C.int, len(groups))
	lrs := make([]C.double, len(groups))
	wds := make([]C.double, len(groups))
	for g, grp := range groups {
		for i, p := range grp.Params {
			if err := operandErr("NewAdamW", p); err != nil {
				return nil, fmt.Errorf("torch: NewAdamW: group %d param %d: %w", g, i, err)
			}
			hs = append(hs, p.h)
		}
		sizes[g] = C.int(len(grp.Params))
		lrs[g] = C.double(grp.LR)
		wds[g] = C.double(grp.WeightDecay)
	}
	if len(hs) == 0 {
		return nil, errors.New("torch: NewAdamW: no parameters")
	}
	var h C.TOpt
	e := C.tt_adamw_new((*C.TT)(unsafe.Pointer(&hs[0])), &sizes[0], C.int(len(groups)), &lrs[0], &wds[0],
		C.double(o.Beta1), C.double(o.Beta2), C.double(o.Eps), &h)
	if err := cerr("NewAdamW", e); err != nil {
		return nil, err
	}
	return &AdamW{h: h, groups: groups}, nil
}

func (o *AdamW) ok(op string) error {
	if o == nil || o.h == nil {
		return fmt.Errorf("torch: AdamW.%s: optimizer is closed", op)
	}
	return nil
}

// Step applies one update from the parameters' current gradients.
func (o *AdamW) Step() error {
	if err := o.ok("Step"); err != nil {
		return err
	}
	return cerr("AdamW.Step", C.tt_adamw_step(o.h))
}

// ZeroGrad clears every parameter's gradient (set to none).
func (o *AdamW) ZeroGrad() error {
	if err := o.ok("ZeroGrad"); err != nil {
		return err
	}
	return cerr("AdamW.ZeroGrad", C.tt_adamw_zero_grad(o.h, true))
}

// SetLR sets the learning rate of group g.
func (o *AdamW) SetLR(g int, lr float64) error {
	if err := o.ok("SetLR"); err != nil {
		return err
	}
	return cerr("AdamW.SetLR", C.tt_adamw_set_lr(o.h, C.int(g), C.double(lr)))
}

// SetLRFactor sets every group's learning rate to its initial LR times f (what a schedule does).
func (o *AdamW) SetLRFactor(f float64) error {
	for g, grp := range o.groups {
		if err := o.SetLR(g, grp.LR*f); err != nil {
			return err
		}
	}
	return nil
}

// Groups returns the groups the optimizer was built with (initial learning rates).
func (o *AdamW) Groups() []ParamGroup { return o.groups }

// StateDict serialises the optimizer state (step counts, moments) exactly, in libtorch's archive format.
func (o *AdamW) StateDict() ([]byte, error) {
	if err := o.ok("StateDict"); err != nil {
		return nil, err
	}
	var p *C.char
	var n C.int64_t
	if err := cerr("AdamW.StateDict", C.tt_adamw_save(o.h, &p, &n)); err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(p))
	return C.GoBytes(unsafe.Pointer(p), C.int(n)), nil
}

// LoadStateDict restores a state written by StateDict for an optimizer over the same parameters.
func (o *AdamW) LoadStateDict(b []byte) error {
	if err := o.ok("LoadStateDict"); err != nil {
		return err
	}
	if len(b) == 0 {
		return errors.New("torch: AdamW.LoadStateDict: empty state")
	}
	return cerr("AdamW.LoadStateDict", C.tt_adamw_load(o.h, (*C.char)(unsafe.Pointer(&b[0])), C.int64_t(len(b))))
}

// Close frees the optimizer; safe to call twice.
func (o *AdamW) Close() {
	if o != nil && o.h != nil {
		C.tt_adamw_free(o.h)
		o.h = nil
	}
}

// ClipGradNorm scales the gradients of params so their global L2 norm is at most maxNorm, as
// torch.nn.utils.clip_grad_norm_; it returns the norm before clipping.
func ClipGradNorm(params []*Tensor, maxNorm float64) (float64, error) {
	hs := make([]C.TT, 0, len(params))
	for i, p := range params {
		if err := operandErr("ClipGradNorm", p); err != nil {
			return 0, fmt.Errorf("param %d: %w", i, err)
		}
		hs = append(hs, p.h)
	}
	if len(hs) == 0 {
		return 0, nil
	}
	var total C.double
	err := cerr("ClipGradNorm", C.tt_clip_grad_norm((*C.TT)(unsafe.Pointer(&hs[0])), C.int(len(hs)), C.double(maxNorm), &total))
	return float64(total), err
}

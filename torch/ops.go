package torch

// #include <stdlib.h>
// #include "shim.h"
import "C"

import (
	"fmt"
	"unsafe"
)

// op codes of the generic C entry points (must match shim.cc)
const (
	uNeg = iota
	uExp
	uLog
	uSqrt
	uRelu
	uGelu
	uTanh
	uSigmoid
	uAbs
	uContiguous
	uClone
	uDetach
	uRsqrt
	uLogicalNot
	uErf
	uSquare
)

const (
	bAdd = iota
	bSub
	bMul
	bDiv
	bEq
	bNe
	bLt
	bLe
	bGt
	bGe
	bPow
	bMaximum
	bMinimum
	bLogicalAnd
	bLogicalOr
)

const (
	sAdd = iota
	sSub
	sMul
	sDiv
	sEq
	sNe
	sLt
	sLe
	sGt
	sGe
	sPow
	sRSub
)

func unary(op string, code int, a *Tensor) *Tensor {
	if r := bad1(op, a); r != nil {
		return r
	}
	var out C.TT
	return res1(op, C.tt_unary(C.int(code), a.h, &out), out, a)
}

func binary(op string, code int, a, b *Tensor) *Tensor {
	if r := bad2(op, a, b); r != nil {
		return r
	}
	var out C.TT
	return res2(op, C.tt_binary(C.int(code), a.h, b.h, &out), out, a, b)
}

func scalar(op string, code int, a *Tensor, v float64) *Tensor {
	if r := bad1(op, a); r != nil {
		return r
	}
	var out C.TT
	return res1(op, C.tt_scalar(C.int(code), a.h, C.double(v), &out), out, a)
}

// Element-wise unary operations.

// Neg returns -t.
func (t *Tensor) Neg() *Tensor { return unary("Neg", uNeg, t) }

// Exp returns e^t.
func (t *Tensor) Exp() *Tensor { return unary("Exp", uExp, t) }

// Log returns the natural logarithm.
func (t *Tensor) Log() *Tensor { return unary("Log", uLog, t) }

// Sqrt returns the square root.
func (t *Tensor) Sqrt() *Tensor { return unary("Sqrt", uSqrt, t) }

// Rsqrt returns 1/sqrt(t).
func (t *Tensor) Rsqrt() *Tensor { return unary("Rsqrt", uRsqrt, t) }

// Square returns t*t.
func (t *Tensor) Square() *Tensor { return unary("Square", uSquare, t) }

// Relu returns max(t, 0).
func (t *Tensor) Relu() *Tensor { return unary("Relu", uRelu, t) }

// Gelu returns the exact (erf) GELU, as torch.nn.functional.gelu's default.
func (t *Tensor) Gelu() *Tensor { return unary("Gelu", uGelu, t) }

// Tanh returns tanh(t).
func (t *Tensor) Tanh() *Tensor { return unary("Tanh", uTanh, t) }

// Sigmoid returns 1/(1+e^-t).
func (t *Tensor) Sigmoid() *Tensor { return unary("Sigmoid", uSigmoid, t) }

// Abs returns |t|.
func (t *Tensor) Abs() *Tensor { return unary("Abs", uAbs, t) }

// Erf returns the error function.
func (t *Tensor) Erf() *Tensor { return unary("Erf", uErf, t) }

// LogicalNot returns !t as bool.
func (t *Tensor) LogicalNot() *Tensor { return unary("LogicalNot", uLogicalNot, t) }

// Contiguous returns t laid out contiguously (t's data when already contiguous).
func (t *Tensor) Contiguous() *Tensor { return unary("Contiguous", uContiguous, t) }

// Clone returns a copy with its own storage (differentiable).
func (t *Tensor) Clone() *Tensor { return unary("Clone", uClone, t) }

// Detach returns a view of t cut from the autograd graph.
func (t *Tensor) Detach() *Tensor { return unary("Detach", uDetach, t) }

// Element-wise binary operations with broadcasting.

// Add returns t + o.
func (t *Tensor) Add(o *Tensor) *Tensor { return binary("Add", bAdd, t, o) }

// Sub returns t - o.
func (t *Tensor) Sub(o *Tensor) *Tensor { return binary("Sub", bSub, t, o) }

// Mul returns t * o.
func (t *Tensor) Mul(o *Tensor) *Tensor { return binary("Mul", bMul, t, o) }

// Div returns t / o.
func (t *Tensor) Div(o *Tensor) *Tensor { return binary("Div", bDiv, t, o) }

// Pow returns t ** o.
func (t *Tensor) Pow(o *Tensor) *Tensor { return binary("Pow", bPow, t, o) }

// Maximum returns the element-wise maximum.
func (t *Tensor) Maximum(o *Tensor) *Tensor { return binary("Maximum", bMaximum, t, o) }

// Minimum returns the element-wise minimum.
func (t *Tensor) Minimum(o *Tensor) *Tensor { return binary("Minimum", bMinimum, t, o) }

// Eq returns t == o (bool).
func (t *Tensor) Eq(o *Tensor) *Tensor { return binary("Eq", bEq, t, o) }

// Ne returns t != o (bool).
func (t *Tensor) Ne(o *Tensor) *Tensor { return binary("Ne", bNe, t, o) }

// Lt returns t < o (bool).
func (t *Tensor) Lt(o *Tensor) *Tensor { return binary("Lt", bLt, t, o) }

// Le returns t <= o (bool).
func (t *Tensor) Le(o *Tensor) *Tensor { return binary("Le", bLe, t, o) }

// Gt returns t > o (bool).
func (t *Tensor) Gt(o *Tensor) *Tensor { return binary("Gt", bGt, t, o) }

// Ge returns t >= o (bool).
func (t *Tensor) Ge(o *Tensor) *Tensor { return binary("Ge", bGe, t, o) }

// LogicalAnd returns t && o (bool).
func (t *Tensor) LogicalAnd(o *Tensor) *Tensor { return binary("LogicalAnd", bLogicalAnd, t, o) }

// LogicalOr returns t || o (bool).
func (t *Tensor) LogicalOr(o *Tensor) *Tensor { return binary("LogicalOr", bLogicalOr, t, o) }

// Scalar operations.

// AddScalar returns t + v.
func (t *Tensor) AddScalar(v float64) *Tensor { return scalar("AddScalar", sAdd, t, v) }

// SubScalar returns t - v.
func (t *Tensor) SubScalar(v float64) *Tensor { return scalar("SubScalar", sSub, t, v) }

// MulScalar returns t * v.
func (t *Tensor) MulScalar(v float64) *Tensor { return scalar("MulScalar", sMul, t, v) }

// DivScalar returns t / v.
func (t *Tensor) DivScalar(v float64) *Tensor { return scalar("DivScalar", sDiv, t, v) }

// PowScalar returns t ** v.
func (t *Tensor) PowScalar(v float64) *Tensor { return scalar("PowScalar", sPow, t, v) }

// RSubScalar returns v - t.
func (t *Tensor) RSubScalar(v float64) *Tensor { return scalar("RSubScalar", sRSub, t, v) }

// EqScalar returns t == v (bool).
func (t *Tensor) EqScalar(v float64) *Tensor { return scalar("EqScalar", sEq, t, v) }

// NeScalar returns t != v (bool).
func (t *Tensor) NeScalar(v float64) *Tensor { return scalar("NeScalar", sNe, t, v) }

// LtScalar returns t < v (bool).
func (t *Tensor) LtScalar(v float64) *Tensor { return scalar("LtScalar", sLt, t, v) }

// GtScalar returns t > v (bool).
func (t *Tensor) GtScalar(v float64) *Tensor { return scalar("GtScalar", sGt, t, v) }

// Reductions.

const (
	rSum = iota
	rMean
	rAmax
	rAmin
	rNorm
)

func reduce(op string, code int, t *Tensor, keepdim bool, dims []int64) *Tensor {
	if r := bad1(op, t); r != nil {
		return r
	}
	var out C.TT
	return res1(op, C.tt_reduce(C.int(code), t.h, shapePtr(dims), C.int(len(dims)), C.bool(keepdim), &out), out, t)
}

// Sum sums over dims (all elements when none are given), dropping the reduced dimensions.
func (t *Tensor) Sum(dims ...int64) *Tensor { return reduce("Sum", rSum, t, false, dims) }

// SumKeep sums over dims keeping them with size 1.
func (t *Tensor) SumKeep(dims ...int64) *Tensor { return reduce("SumKeep", rSum, t, true, dims) }

// Mean averages over dims (all elements when none are given).
func (t *Tensor) Mean(dims ...int64) *Tensor { return reduce("Mean", rMean, t, false, dims) }

// MeanKeep averages over dims keeping them with size 1.
func (t *Tensor) MeanKeep(dims ...int64) *Tensor { return reduce("MeanKeep", rMean, t, true, dims) }

// Amax is the maximum over dims (all when none are given).
func (t *Tensor) Amax(dims ...int64) *Tensor { return reduce("Amax", rAmax, t, false, dims) }

// Amin is the minimum over dims (all when none are given).
func (t *Tensor) Amin(dims ...int64) *Tensor { return reduce("Amin", rAmin, t, false, dims) }

// Norm is the Euclidean norm over dims (all when none are given).
func (t *Tensor) Norm(dims ...int64) *Tensor { return reduce("Norm", rNorm, t, false, dims) }

// MaxDim returns the maximum values along dim and their indices.
func (t *Tensor) MaxDim(dim int64, keepdim bool) (values, indices *Tensor) {
	if r := bad1("MaxDim", t); r != nil {
		return r, r
	}
	var v, i C.TT
	if err := cerr("MaxDim", C.tt_max_dim(t.h, C.int64_t(dim), C.bool(keepdim), &v, &i)); err != nil {
		e := errTensor(err, t.scope)
		return e, e
	}
	return newTensor(v, t.scope), newTensor(i, t.scope)
}

// In-place operations (not recorded by autograd; they run under no_grad).

func inplace(op string, code int, t, o *Tensor, v float64) error {
	if err := operandErr(op, t); err != nil {
		return err
	}
	var oh C.TT
	if o != nil {
		if err := operandErr(op, o); err != nil {
			return err
		}
		oh = o.h
	}
	return cerr(op, C.tt_inplace(C.int(code), t.h, oh, C.double(v)))
}

// CopyFrom copies src (broadcast, converted) into t in place.
func (t *Tensor) CopyFrom(src *Tensor) error {
	if src == nil {
		return fmt.Errorf("torch: CopyFrom: nil source")
	}
	return inplace("CopyFrom", 0, t, src, 0)
}

// Fill sets every element to v in place.
func (t *Tensor) Fill(v float64) error { return inplace("Fill", 1, t, nil, v) }

// Zero sets every element to 0 in place.
func (t *Tensor) Zero() error { return inplace("Zero", 2, t, nil, 0) }

// AddInPlace adds alpha*o to t in place.
func (t *Tensor) AddInPlace(o *Tensor, alpha float64) error {
	if o == nil {
		return fmt.Errorf("torch: AddInPlace: nil operand")
	}
	return inplace("AddInPlace", 3, t, o, alpha)
}

// MulInPlace multiplies t by v in place.
func (t *Tensor) MulInPlace(v float64) error { return inplace("MulInPlace", 4, t, nil, v) }

// TruncNormal fills t in place with samples of N(mean, std²) truncated to [a, b], as torch.nn.init.trunc_normal_.
func (t *Tensor) TruncNormal(mean, std, a, b float64) error {
	if err := operandErr("TruncNormal", t); err != nil {
		return err
	}
	return cerr("TruncNormal", C.tt_trunc_normal_(t.h, C.double(mean), C.double(std), C.double(a), C.double(b)))
}

// Neural-network operations.

// MatMul is torch.matmul (batched and broadcast).
func (t *Tensor) MatMul(o *Tensor) *Tensor {
	if r := bad2("MatMul", t, o); r != nil {
		return r
	}
	var out C.TT
	return res2("MatMul", C.tt_matmul(t.h, o.h, &out), out, t, o)
}

// BMM is the batched matrix product of [b,n,m] and [b,m,p].
func (t *Tensor) BMM(o *Tensor) *Tensor {
	if r := bad2("BMM", t, o); r != nil {
		return r
	}
	var out C.TT
	return res2("BMM", C.tt_bmm(t.h, o.h, &out), out, t, o)
}

// Linear returns x·wᵀ + b (b may be nil), w of shape [out, in].
func Linear(x, w, b *Tensor) *Tensor {
	if r := bad2("Linear", x, w); r != nil {
		return r
	}
	var bh C.TT
	if b != nil {
		if r := bad2("Linear", x, b); r != nil {
			return r
		}
		bh = b.h
	}
	var out C.TT
	return res2("Linear", C.tt_linear(x.h, w.h, bh, &out), out, x, w)
}

// Embedding looks up rows of weight [V, H] for integer ids; paddingIdx < 0 means none (its row gets no gradient).
func Embedding(weight, ids *Tensor, paddingIdx int64) *Tensor {
	if r := bad2("Embedding", ids, weight); r != nil {
		return r
	}
	var out C.TT
	return res2("Embedding", C.tt_embedding(weight.h, ids.h, C.int64_t(paddingIdx), &out), out, ids, weight)
}

// LayerNorm normalises over the trailing dims given by shape, with optional affine weight and bias.
func LayerNorm(x *Tensor, shape []int64, w, b *Tensor, eps float64) *Tensor {
	if r := bad1("LayerNorm", x); r != nil {
		return r
	}
	var wh, bh C.TT
	if w != nil {
		if r := bad2("LayerNorm", x, w); r != nil {
			return r
		}
		wh = w.h
	}
	if b != nil {
		if r := bad2("LayerNorm", x, b); r != nil {
			return r
		}
		bh = b.h
	}
	var out C.TT
	e := C.tt_layer_norm(x.h, shapePtr(shape), C.int(len(shape)), wh, bh, C.double(eps), &out)
	return res1("LayerNorm", e, out, x)
}

// Softmax along dim.
func (t *Tensor) Softmax(dim int64) *Tensor {
	if r := bad1("Softmax", t); r != nil {
		return r
	}
	var out C.TT
	return res1("Softmax", C.tt_softmax(t.h, C.int64_t(dim), false, &out), out, t)
}

// LogSoftmax along dim.
func (t *Tensor) LogSoftmax(dim int64) *Tensor {
	if r := bad1("LogSoftmax", t); r != nil {
		return r
	}
	var out C.TT
	return res1("LogSoftmax", C.tt_softmax(t.h, C.int64_t(dim), true, &out), out, t)
}

// Dropout zeroes elements with probability p and scales the rest by 1/(1-p) when train is true; identity otherwise.
func (t *Tensor) Dropout(p float64, train bool) *Tensor {
	if r := bad1("Dropout", t); r != nil {
		return r
	}
	if !train || p == 0 {
		return t.alias()
	}
	var out C.TT
	return res1("Dropout", C.tt_dropout(t.h, C.double(p), C.bool(train), &out), out, t)
}

// alias returns a new handle to the same tensor (same autograd identity), in t's scope.
func (t *Tensor) alias() *Tensor {
	var out C.TT
	return res1("alias", C.tt_to(t.h, C.int(t.DType()), C.int(t.Device().Type), C.int(t.Device().Index), &out), out, t)
}

// MaskedFill sets elements where mask (bool, broadcast) is true to v.
func (t *Tensor) MaskedFill(mask *Tensor, v float64) *Tensor {
	if r := bad2("MaskedFill", t, mask); r != nil {
		return r
	}
	var out C.TT
	return res2("MaskedFill", C.tt_masked_fill(t.h, mask.h, C.double(v), &out), out, t, mask)
}

// Where picks a where cond is true and b elsewhere.
func Where(cond, a, b *Tensor) *Tensor {
	if r := bad2("Where", a, b); r != nil {
		return r
	}
	if r := bad2("Where", a, cond); r != nil {
		return r
	}
	var out C.TT
	return res2("Where", C.tt_where(cond.h, a.h, b.h, &out), out, a, b)
}

// Clamp limits values to [lo, hi].
func (t *Tensor) Clamp(lo, hi float64) *Tensor {
	if r := bad1("Clamp", t); r != nil {
		return r
	}
	var out C.TT
	return res1("Clamp", C.tt_clamp(t.h, C.double(lo), C.double(hi), true, true, &out), out, t)
}

// ClampMin limits values to [lo, ∞).
func (t *Tensor) ClampMin(lo float64) *Tensor {
	if r := bad1("ClampMin", t); r != nil {
		return r
	}
	var out C.TT
	return res1("ClampMin", C.tt_clamp(t.h, C.double(lo), 0, true, false, &out), out, t)
}

// Reduction says how a loss combines per-element values.
type Reduction int

// Reductions. BatchMean (sum divided by the size of dim 0) is valid for KLDiv only, as in PyTorch.
const (
	ReduceNone Reduction = iota
	ReduceMean
	ReduceSum
	ReduceBatchMean
)

// CrossEntropy is the mean cross-entropy of logits [N, C] against class indices [N] (int64).
func CrossEntropy(logits, target *Tensor) *Tensor {
	return CrossEntropyLoss(logits, target, ReduceMean, -100, 0)
}

// CrossEntropyLoss is torch.nn.functional.cross_entropy with index targets.
func CrossEntropyLoss(logits, target *Tensor, r Reduction, ignoreIndex int64, labelSmoothing float64) *Tensor {
	if r := bad2("CrossEntropy", logits, target); r != nil {
		return r
	}
	if r == ReduceBatchMean {
		return errTensor(fmt.Errorf("torch: CrossEntropy: batchmean reduction is only for KLDiv"), scopeOf(logits, target))
	}
	var out C.TT
	e := C.tt_cross_entropy(logits.h, target.h, C.int(r), C.int64_t(ignoreIndex), C.double(labelSmoothing), &out)
	return res2("CrossEntropy", e, out, logits, target)
}

// KLDiv is torch.nn.functional.kl_div(input, target): input holds log-probabilities; target probabilities (or
// log-probabilities when logTarget). Pointwise target·(log target − input), reduced by r.
func KLDiv(input, target *Tensor, r Reduction, logTarget bool) *Tensor {
	if r := bad2("KLDiv", input, target); r != nil {
		return r
	}
	var out C.TT
	return res2("KLDiv", C.tt_kl_div(input.h, target.h, C.int(r), C.bool(logTarget), &out), out, input, target)
}

// Shape operations.

// Reshape returns t with a new shape (a view when possible); one dimension may be -1.
func (t *Tensor) Reshape(shape ...int64) *Tensor {
	if r := bad1("Reshape", t); r != nil {
		return r
	}
	var out C.TT
	return res1("Reshape", C.tt_reshape(t.h, shapePtr(shape), C.int(len(shape)), false, &out), out, t)
}

// View returns a view with a new shape; it fails when the strides do not allow one.
func (t *Tensor) View(shape ...int64) *Tensor {
	if r := bad1("View", t); r != nil {
		return r
	}
	var out C.TT
	return res1("View", C.tt_reshape(t.h, shapePtr(shape), C.int(len(shape)), true, &out), out, t)
}

// Expand broadcasts size-1 dimensions to shape (-1 keeps a size).
func (t *Tensor) Expand(shape ...int64) *Tensor {
	if r := bad1("Expand", t); r != nil {
		return r
	}
	var out C.TT
	return res1("Expand", C.tt_expand(t.h, shapePtr(shape), C.int(len(shape)), &out), out, t)
}

// Permute reorders dimensions.
func (t *Tensor) Permute(dims ...int64) *Tensor {
	if r := bad1("Permute", t); r != nil {
		return r
	}
	var out C.TT
	return res1("Permute", C.tt_permute(t.h, shapePtr(dims), C.int(len(dims)), &out), out, t)
}

// Transpose swaps two dimensions.
func (t *Tensor) Transpose(d0, d1 int64) *Tensor {
	if r := bad1("Transpose", t); r != nil {
		return r
	}
	var out C.TT
	return res1("Transpose", C.tt_transpose(t.h, C.int64_t(d0), C.int64_t(d1), &out), out, t)
}

// T transposes the last two dimensions.
func (t *Tensor) T() *Tensor { return t.Transpose(-2, -1) }

// Squeeze removes dimension dim if its size is 1.
func (t *Tensor) Squeeze(dim int64) *Tensor {
	if r := bad1("Squeeze", t); r != nil {
		return r
	}
	var out C.TT
	return res1("Squeeze", C.tt_squeeze(t.h, C.int64_t(dim), &out), out, t)
}

// Unsqueeze inserts a dimension of size 1 at dim.
func (t *Tensor) Unsqueeze(dim int64) *Tensor {
	if r := bad1("Unsqueeze", t); r != nil {
		return r
	}
	var out C.TT
	return res1("Unsqueeze", C.tt_unsqueeze(t.h, C.int64_t(dim), &out), out, t)
}

func catStack(op string, ts []*Tensor, dim int64, stack bool) *Tensor {
	if len(ts) == 0 {
		return errTensor(fmt.Errorf("torch: %s: no tensors", op), nil)
	}
	hs := make([]C.TT, len(ts))
	for i, t := range ts {
		if err := operandErr(op, t); err != nil {
			return errTensor(err, scopeOf(ts...))
		}
		hs[i] = t.h
	}
	var out C.TT
	e := C.tt_cat((*C.TT)(unsafe.Pointer(&hs[0])), C.int(len(hs)), C.int64_t(dim), C.bool(stack), &out)
	s := scopeOf(ts...)
	if err := cerr(op, e); err != nil {
		return errTensor(err, s)
	}
	return newTensor(out, s)
}

// Cat concatenates tensors along dim.
func Cat(ts []*Tensor, dim int64) *Tensor { return catStack("Cat", ts, dim, false) }

// Stack stacks tensors along a new dimension dim.
func Stack(ts []*Tensor, dim int64) *Tensor { return catStack("Stack", ts, dim, true) }

// Narrow returns the view t[..., start:start+length, ...] along dim.
func (t *Tensor) Narrow(dim, start, length int64) *Tensor {
	if r := bad1("Narrow", t); r != nil {
		return r
	}
	var out C.TT
	return res1("Narrow", C.tt_narrow(t.h, C.int64_t(dim), C.int64_t(start), C.int64_t(length), &out), out, t)
}

// Split cuts t along dim into pieces of size (the last may be smaller), as torch.split.
func (t *Tensor) Split(size, dim int64) []*Tensor {
	if r := bad1("Split", t); r != nil {
		return []*Tensor{r}
	}
	if size <= 0 {
		return []*Tensor{errTensor(fmt.Errorf("torch: Split: size %d must be positive", size), t.scope)}
	}
	n := t.Size(int(dim))
	if n < 0 {
		return []*Tensor{errTensor(fmt.Errorf("torch: Split: dim %d out of range for shape %v", dim, t.Shape()), t.scope)}
	}
	var out []*Tensor
	for start := int64(0); start < n; start += size {
		out = append(out, t.Narrow(dim, start, min(size, n-start)))
	}
	return out
}

// Chunk cuts t along dim into n pieces as torch.chunk (pieces of ceil(size/n); fewer when size is small).
func (t *Tensor) Chunk(n, dim int64) []*Tensor {
	if n <= 0 {
		return []*Tensor{errTensor(fmt.Errorf("torch: Chunk: n %d must be positive", n), scopeOf(t))}
	}
	sz := t.Size(int(dim))
	if sz < 0 {
		return t.Split(1, dim)
	}
	return t.Split(max((sz+n-1)/n, 1), dim)
}

// Select returns t indexed at index along dim (that dimension removed).
func (t *Tensor) Select(dim, index int64) *Tensor {
	if r := bad1("Select", t); r != nil {
		return r
	}
	var out C.TT
	return res1("Select", C.tt_select(t.h, C.int64_t(dim), C.int64_t(index), &out), out, t)
}

// IndexSelect picks entries of dim given by the int64 index vector idx.
func (t *Tensor) IndexSelect(dim int64, idx *Tensor) *Tensor {
	if r := bad2("IndexSelect", t, idx); r != nil {
		return r
	}
	var out C.TT
	return res2("IndexSelect", C.tt_index_select(t.h, C.int64_t(dim), idx.h, &out), out, t, idx)
}

// Gather is torch.gather(t, dim, idx).
func (t *Tensor) Gather(dim int64, idx *Tensor) *Tensor {
	if r := bad2("Gather", t, idx); r != nil {
		return r
	}
	var out C.TT
	return res2("Gather", C.tt_gather(t.h, C.int64_t(dim), idx.h, &out), out, t, idx)
}

// Argsort returns the indices that sort t along dim.
func (t *Tensor) Argsort(dim int64, descending bool) *Tensor {
	if r := bad1("Argsort", t); r != nil {
		return r
	}
	var out C.TT
	return res1("Argsort", C.tt_argsort(t.h, C.int64_t(dim), C.bool(descending), &out), out, t)
}

// TopK returns the k largest (or smallest) values along dim, sorted, and their indices.
func (t *Tensor) TopK(k, dim int64, largest bool) (values, indices *Tensor) {
	if r := bad1("TopK", t); r != nil {
		return r, r
	}
	var v, i C.TT
	if err := cerr("TopK", C.tt_topk(t.h, C.int64_t(k), C.int64_t(dim), C.bool(largest), &v, &i)); err != nil {
		e := errTensor(err, t.scope)
		return e, e
	}
	return newTensor(v, t.scope), newTensor(i, t.scope)
}

// To converts to dtype dt (same device).
func (t *Tensor) To(dt DType) *Tensor {
	if r := bad1("To", t); r != nil {
		return r
	}
	d := t.Device()
	var out C.TT
	return res1("To", C.tt_to(t.h, C.int(dt), C.int(d.Type), C.int(d.Index), &out), out, t)
}

// ToDevice moves t to dev (same dtype).
func (t *Tensor) ToDevice(dev Device) *Tensor {
	if r := bad1("ToDevice", t); r != nil {
		return r
	}
	var out C.TT
	return res1("ToDevice", C.tt_to(t.h, C.int(t.DType()), C.int(dev.Type), C.int(dev.Index), &out), out, t)
}

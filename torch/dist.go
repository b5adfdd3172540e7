package torch

// #include <stdlib.h>
// #include "shim.h"
import "C"

import (
	"fmt"
	"os"
	"strconv"
	"time"
	"unsafe"
)

// DistOptions describe one process of a c10d process group. The rendezvous is a TCPStore served by rank 0 at
// Addr:Port.
type DistOptions struct {
	Backend   string // "gloo" (CPU) or "nccl" (CUDA); empty picks nccl when CUDA is available, else gloo
	Addr      string // MASTER_ADDR
	Port      int    // MASTER_PORT
	Rank      int    // RANK
	WorldSize int    // WORLD_SIZE
	LocalRank int    // LOCAL_RANK (which GPU this process uses)
	// Timeout bounds the rendezvous and every collective: a peer that dies makes the others fail within it.
	// Zero means 5 minutes.
	Timeout time.Duration
}

// DistOptionsFromEnv reads torchrun's environment: RANK, WORLD_SIZE, LOCAL_RANK (default 0), MASTER_ADDR (default
// 127.0.0.1), MASTER_PORT (default 29500).
func DistOptionsFromEnv() (DistOptions, error) {
	o := DistOptions{Addr: "127.0.0.1", Port: 29500}
	geti := func(name string, dst *int, required bool) error {
		v, ok := os.LookupEnv(name)
		if !ok || v == "" {
			if required {
				return fmt.Errorf("torch: %s is not set (launch with torchrun-style environment: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)", name)
			}
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("torch: %s=%q is not a non-negative integer", name, v)
		}
		*dst = n
		return nil
	}
	if err := geti("RANK", &o.Rank, true); err != nil {
		return o, err
	}
	if err := geti("WORLD_SIZE", &o.WorldSize, true); err != nil {
		return o, err
	}
	if err := geti("LOCAL_RANK", &o.LocalRank, false); err != nil {
		return o, err
	}
	if err := geti("MASTER_PORT", &o.Port, false); err != nil {
		return o, err
	}
	if a := os.Getenv("MASTER_ADDR"); a != "" {
		o.Addr = a
	}
	return o, nil
}

// ProcessGroup is a c10d process group (ProcessGroupGloo or ProcessGroupNCCL) with its TCPStore.
type ProcessGroup struct {
	h           C.TPG
	rank, world int
	backend     string
}

// NewProcessGroup joins (rank 0: creates) the group described by o. It blocks until every rank has joined or the
// timeout passes.
func NewProcessGroup(o DistOptions) (*ProcessGroup, error) {
	if o.WorldSize < 1 || o.Rank < 0 || o.Rank >= o.WorldSize {
		return nil, fmt.Errorf("torch: NewProcessGroup: rank %d is not in [0, world size %d)", o.Rank, o.WorldSize)
	}
	if o.Port <= 0 || o.Port > 65535 {
		return nil, fmt.Errorf("torch: NewProcessGroup: bad port %d", o.Port)
	}
	if o.Backend == "" {
		o.Backend = "gloo"
		if CUDAAvailable() {
			o.Backend = "nccl"
		}
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Minute
	}
	cb, ca := C.CString(o.Backend), C.CString(o.Addr)
	defer C.free(unsafe.Pointer(cb))
	defer C.free(unsafe.Pointer(ca))
	var h C.TPG
	e := C.tt_pg_new(cb, ca, C.int(o.Port), C.int(o.Rank), C.int(o.WorldSize), C.int64_t(o.Timeout.Milliseconds()), &h)
	if err := cerr("NewProcessGroup", e); err != nil {
		return nil, fmt.Errorf("%w (rank %d of %d, %s at %s:%d)", err, o.Rank, o.WorldSize, o.Backend, o.Addr, o.Port)
	}
	return &ProcessGroup{h: h, rank: o.Rank, world: o.WorldSize, backend: o.Backend}, nil
}

// InitFromEnv is NewProcessGroup(DistOptionsFromEnv()) with the given backend ("" = automatic) and timeout.
func InitFromEnv(backend string, timeout time.Duration) (*ProcessGroup, error) {
	o, err := DistOptionsFromEnv()
	if err != nil {
		return nil, err
	}
	o.Backend, o.Timeout = backend, timeout
	return NewProcessGroup(o)
}

// Rank of this process.
func (pg *ProcessGroup) Rank() int { return pg.rank }

// WorldSize is the number of processes.
func (pg *ProcessGroup) WorldSize() int { return pg.world }

// Backend is "gloo" or "nccl".
func (pg *ProcessGroup) Backend() string { return pg.backend }

func (pg *ProcessGroup) ok(op string) error {
	if pg == nil || pg.h == nil {
		return fmt.Errorf("torch: %s: process group is closed", op)
	}
	return nil
}

// ReduceOp combines values in AllReduce.
type ReduceOp int

// Reduce operations.
const (
	ReduceOpSum ReduceOp = iota
	ReduceOpMax
	ReduceOpMin
)

// AllReduce combines t across ranks in place.
func (pg *ProcessGroup) AllReduce(t *Tensor, op ReduceOp) error {
	if err := pg.ok("AllReduce"); err != nil {
		return err
	}
	if err := operandErr("AllReduce", t); err != nil {
		return err
	}
	return cerr("AllReduce", C.tt_pg_allreduce(pg.h, t.h, C.int(op)))
}

// Broadcast copies root's t into every rank's t in place.
func (pg *ProcessGroup) Broadcast(t *Tensor, root int) error {
	if err := pg.ok("Broadcast"); err != nil {
		return err
	}
	if err := operandErr("Broadcast", t); err != nil {
		return err
	}
	return cerr("Broadcast", C.tt_pg_broadcast(pg.h, t.h, C.int(root)))
}

// Barrier waits for every rank.
func (pg *ProcessGroup) Barrier() error {
	if err := pg.ok("Barrier"); err != nil {
		return err
	}
	return cerr("Barrier", C.tt_pg_barrier(pg.h))
}

// AllGather concatenates every rank's t (same shape on all ranks) along dim 0 in rank order. It is differentiable:
// the backward hands each rank the sum over ranks of the gradient of its own slice (torch.distributed.nn's
// all_gather semantics), which is what cross-batch negatives need. With the gloo backend a CUDA tensor is gathered
// through a host copy (Gloo gathers host tensors only) and the result is on t's device; nccl gathers on the GPU.
func (pg *ProcessGroup) AllGather(t *Tensor) *Tensor { return pg.allGather("AllGather", t, true) }

// AllGatherNoGrad is AllGather without autograd.
func (pg *ProcessGroup) AllGatherNoGrad(t *Tensor) *Tensor {
	return pg.allGather("AllGatherNoGrad", t, false)
}

func (pg *ProcessGroup) allGather(op string, t *Tensor, diff bool) *Tensor {
	if r := bad1(op, t); r != nil {
		return r
	}
	if err := pg.ok(op); err != nil {
		return errTensor(err, t.scope)
	}
	if dev := t.Device(); pg.backend == "gloo" && dev.Type == CUDADevice {
		// Gloo's allgather takes host tensors only: gather a host copy and bring the result back. The copies are
		// differentiable, so the backward (an all-reduce of the gradient) runs on the host too.
		host := t.ToDevice(CPU)
		g := pg.allGather(op, host, diff)
		out := g.ToDevice(dev)
		if t.scope == nil { // untracked operands give untracked results: free the intermediates here
			host.Close()
			g.Close()
		}
		return out
	}
	var out C.TT
	return res1(op, C.tt_pg_allgather(pg.h, t.h, C.bool(diff), &out), out, t)
}

// Close leaves the group; safe to call twice. Tensors from AllGather whose graph is still alive must not be
// backpropagated after Close.
func (pg *ProcessGroup) Close() error {
	if pg == nil || pg.h == nil {
		return nil
	}
	C.tt_pg_free(pg.h)
	pg.h = nil
	return nil
}

package torch

// #include <malloc.h>
// #include <stdlib.h>
// static void rq_tune_malloc(void) {
//   if (getenv("ROCKETQA_NO_MALLOPT") != NULL) return;
//   if (getenv("MALLOC_MMAP_THRESHOLD_") == NULL) mallopt(M_MMAP_THRESHOLD, 256 << 20);
//   if (getenv("MALLOC_TRIM_THRESHOLD_") == NULL) mallopt(M_TRIM_THRESHOLD, 1 << 30);
// }
import "C"

// glibc serves allocations above its mmap threshold with fresh mappings that the kernel zeroes page by page, and
// returns freed heap memory above the trim threshold to the kernel. A training step frees and reallocates
// activations of several MB every time, so with the defaults each step paid for the page faults again: a
// dual-encoder step (64 passages x 128 tokens, 2 layers of 128) spent a third of its forward pass there and ran at
// 0.65x PyTorch eager; with the thresholds raised it runs at parity (scripts/bench-train.sh). The package raises
// them once at start-up (mmap threshold 256 MiB, trim threshold 1 GiB) unless the process set them through glibc's
// own variables (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_) or ROCKETQA_NO_MALLOPT is set.
func init() { C.rq_tune_malloc() }

// C interface of the libtorch shim (shim.cc). Every function that can fail returns NULL on success or a
// malloc'd error message that the caller frees. Tensors are opaque handles to heap-allocated at::Tensor.
#ifndef ROCKETQA_TORCH_SHIM_H
#define ROCKETQA_TORCH_SHIM_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void *TT;  // at::Tensor*
typedef void *TOpt; // optimizer
typedef void *TPG;  // process group

// dtype codes (must match dtype.go)
enum { TT_F32 = 0, TT_F16 = 1, TT_BF16 = 2, TT_I64 = 3, TT_BOOL = 4, TT_I32 = 5, TT_F64 = 6, TT_U8 = 7 };

// device codes: type 0 = CPU, 1 = CUDA
void tt_free(TT t);
char *tt_from_data(const void *data, const int64_t *shape, int ndim, int dtype, int dev_type, int dev_index, TT *out);
char *tt_copy_out(TT t, void *dst, int64_t nbytes);
int tt_ndim(TT t);
void tt_shape(TT t, int64_t *out);
int tt_dtype(TT t);
void tt_device(TT t, int *type, int *index);
bool tt_defined(TT t);

char *tt_to(TT t, int dtype, int dev_type, int dev_index, TT *out);
char *tt_requires_grad_(TT t, bool r);
bool tt_requires_grad(TT t);
char *tt_grad(TT t, TT *out);  // *out NULL when undefined
char *tt_set_grad(TT t, TT g); // g NULL clears
char *tt_backward(TT t, TT grad, bool retain_graph);
bool tt_set_grad_enabled(bool on); // returns previous
bool tt_is_grad_enabled(void);

// creation
char *tt_full(const int64_t *shape, int ndim, double value, int dtype, int dev_type, int dev_index, TT *out);
char *tt_arange(double start, double end, double step, int dtype, int dev_type, int dev_index, TT *out);
char *tt_randn(const int64_t *shape, int ndim, int dtype, int dev_type, int dev_index, TT *out);
char *tt_rand(const int64_t *shape, int ndim, int dtype, int dev_type, int dev_index, TT *out);
char *tt_trunc_normal_(TT t, double mean, double std, double a, double b);
void tt_manual_seed(uint64_t seed);
char *tt_rng_state(int dev_type, int dev_index, TT *out);
char *tt_set_rng_state(int dev_type, int dev_index, TT state);

// generic element-wise ops
char *tt_unary(int op, TT a, TT *out);
char *tt_binary(int op, TT a, TT b, TT *out);
char *tt_scalar(int op, TT a, double s, TT *out);
char *tt_reduce(int op, TT a, const int64_t *dims, int ndims, bool keepdim, TT *out);
char *tt_max_dim(TT a, int64_t dim, bool keepdim, TT *values, TT *indices);
char *tt_inplace(int op, TT a, TT b, double s); // copy_, fill_, zero_, add_(alpha), mul_

// nn ops
char *tt_matmul(TT a, TT b, TT *out);
char *tt_bmm(TT a, TT b, TT *out);
char *tt_linear(TT x, TT w, TT b, TT *out);
char *tt_embedding(TT w, TT ids, int64_t padding_idx, TT *out);
char *tt_layer_norm(TT x, const int64_t *shape, int ndim, TT w, TT b, double eps, TT *out);
char *tt_softmax(TT x, int64_t dim, bool log, TT *out);
char *tt_dropout(TT x, double p, bool train, TT *out);
char *tt_masked_fill(TT x, TT mask, double value, TT *out);
char *tt_where(TT cond, TT a, TT b, TT *out);
char *tt_clamp(TT x, double lo, double hi, bool has_lo, bool has_hi, TT *out);
char *tt_cross_entropy(TT logits, TT target, int reduction, int64_t ignore_index, double label_smoothing, TT *out);
char *tt_kl_div(TT input, TT target, int reduction, bool log_target, TT *out);

// shape ops
char *tt_reshape(TT x, const int64_t *shape, int ndim, bool view, TT *out);
char *tt_expand(TT x, const int64_t *shape, int ndim, TT *out);
char *tt_permute(TT x, const int64_t *dims, int ndim, TT *out);
char *tt_transpose(TT x, int64_t d0, int64_t d1, TT *out);
char *tt_squeeze(TT x, int64_t dim, TT *out);
char *tt_unsqueeze(TT x, int64_t dim, TT *out);
char *tt_cat(TT *ts, int n, int64_t dim, bool stack, TT *out);
char *tt_narrow(TT x, int64_t dim, int64_t start, int64_t len, TT *out);
char *tt_select(TT x, int64_t dim, int64_t index, TT *out);
char *tt_index_select(TT x, int64_t dim, TT idx, TT *out);
char *tt_gather(TT x, int64_t dim, TT idx, TT *out);
char *tt_argsort(TT x, int64_t dim, bool descending, TT *out);
char *tt_topk(TT x, int64_t k, int64_t dim, bool largest, TT *values, TT *indices);

// runtime
void tt_set_num_threads(int n);
int tt_get_num_threads(void);
bool tt_cuda_available(void);
int tt_cuda_device_count(void);
char *tt_config(void); // malloc'd at::show_config()
bool tt_set_autocast(int dev_type, bool on, int dtype); // returns previous enabled state
void tt_autocast_clear_cache(void);
void tt_set_allow_tf32(bool on); // TF32 in cuBLAS and cuDNN matmuls/convolutions
char *tt_cuda_synchronize(int dev_index);
// caching allocator statistics of one device, in bytes (needs the shim built with ROCKETQA_CUDA)
char *tt_cuda_memory(int dev_index, bool reset_peak, int64_t *allocated, int64_t *peak, int64_t *reserved);
char *tt_build_info(void); // malloc'd "libtorch X.Y.Z cxx11abi=N [cuda] [gloo] [nccl]"

// optimizer: AdamW with parameter groups
char *tt_adamw_new(TT *params, const int *group_sizes, int ngroups, const double *lrs, const double *wds, double beta1,
                   double beta2, double eps, TOpt *out);
char *tt_adamw_step(TOpt o);
char *tt_adamw_zero_grad(TOpt o, bool set_to_none);
char *tt_adamw_set_lr(TOpt o, int group, double lr);
char *tt_adamw_save(TOpt o, char **data, int64_t *len);
char *tt_adamw_load(TOpt o, const char *data, int64_t len);
void tt_adamw_free(TOpt o);
char *tt_clip_grad_norm(TT *params, int n, double max_norm, double *total);

// distributed (c10d)
char *tt_pg_new(const char *backend, const char *host, int port, int rank, int world, int64_t timeout_ms, TPG *out);
void tt_pg_free(TPG pg);
char *tt_pg_allreduce(TPG pg, TT t, int op);
char *tt_pg_broadcast(TPG pg, TT t, int root);
char *tt_pg_barrier(TPG pg);
char *tt_pg_allgather(TPG pg, TT t, bool differentiable, TT *out);

#ifdef __cplusplus
}
#endif
#endif

// The only C++ that includes <torch/torch.h>. Keep it small and stable: every edit costs ~20 s of compile.
#include "shim.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp> // c10d::ProcessGroup (1.13) / c10d::Backend (2.x)
#ifdef USE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#ifdef ROCKETQA_CUDA // set by build.sh for a CUDA libtorch when the CUDA headers are found
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>
#include <string>

// libtorch 2.x: ProcessGroupGloo/NCCL derive from c10d::Backend (1.13: from c10d::ProcessGroup).
// 2.4 generalised the autocast API to at::autocast::{is,set}_autocast_enabled(device)/set_autocast_dtype and
// deprecated the per-device functions (they print a warning).
#define TT_TORCH_AT_LEAST(maj, min)                                                                                    \
  (TORCH_VERSION_MAJOR > (maj) || (TORCH_VERSION_MAJOR == (maj) && TORCH_VERSION_MINOR >= (min)))
#if TT_TORCH_AT_LEAST(2, 0)
typedef c10d::Backend PGBase;
#else
typedef c10d::ProcessGroup PGBase;
#endif

namespace {

char *dup(const std::string &s) { return strdup(s.c_str()); }

#define TRY try {
#define CATCH                                                                                                          \
  }                                                                                                                    \
  catch (const c10::Error &e) { return dup(e.what_without_backtrace()); }                                              \
  catch (const std::exception &e) { return dup(e.what()); }                                                            \
  catch (...) { return dup("unknown C++ exception"); }                                                                 \
  return nullptr;

at::Tensor &T(TT t) { return *static_cast<at::Tensor *>(t); }
TT wrap(at::Tensor t) { return new at::Tensor(std::move(t)); }

at::ScalarType st(int d) {
  switch (d) {
  case TT_F32: return at::kFloat;
  case TT_F16: return at::kHalf;
  case TT_BF16: return at::kBFloat16;
  case TT_I64: return at::kLong;
  case TT_BOOL: return at::kBool;
  case TT_I32: return at::kInt;
  case TT_F64: return at::kDouble;
  case TT_U8: return at::kByte;
  }
  throw std::invalid_argument("unknown dtype code " + std::to_string(d));
}

int code(at::ScalarType s) {
  switch (s) {
  case at::kFloat: return TT_F32;
  case at::kHalf: return TT_F16;
  case at::kBFloat16: return TT_BF16;
  case at::kLong: return TT_I64;
  case at::kBool: return TT_BOOL;
  case at::kInt: return TT_I32;
  case at::kDouble: return TT_F64;
  case at::kByte: return TT_U8;
  default: return -1;
  }
}

torch::Device dev(int type, int index) {
  if (type == 1) return torch::Device(torch::kCUDA, (c10::DeviceIndex)index);
  return torch::Device(torch::kCPU);
}

at::TensorOptions opts(int dtype, int dev_type, int dev_index) {
  return at::TensorOptions().dtype(st(dtype)).device(dev(dev_type, dev_index));
}

std::vector<int64_t> vec(const int64_t *p, int n) { return std::vector<int64_t>(p, p + n); }

int64_t reduction(int r) {
  switch (r) {
  case 0: return at::Reduction::None;
  case 1: return at::Reduction::Mean;
  case 2: return at::Reduction::Sum;
  }
  throw std::invalid_argument("unknown reduction code " + std::to_string(r));
}

} // namespace

extern "C" {

void tt_free(TT t) { delete static_cast<at::Tensor *>(t); }

char *tt_from_data(const void *data, const int64_t *shape, int ndim, int dtype, int dev_type, int dev_index, TT *out) {
  TRY auto t = torch::from_blob(const_cast<void *>(data), vec(shape, ndim), at::TensorOptions().dtype(st(dtype)));
  if (dev_type == 0)
    *out = wrap(t.clone());
  else
    *out = wrap(t.to(dev(dev_type, dev_index)));
  CATCH
}

char *tt_copy_out(TT t, void *dst, int64_t nbytes) {
  TRY auto c = T(t).detach().to(torch::kCPU).contiguous();
  int64_t n = c.numel() * (int64_t)c.element_size();
  if (n != nbytes) throw std::invalid_argument("copy_out: tensor has " + std::to_string(n) + " bytes, buffer " + std::to_string(nbytes));
  if (n > 0) memcpy(dst, c.data_ptr(), n);
  CATCH
}

int tt_ndim(TT t) { return (int)T(t).dim(); }
void tt_shape(TT t, int64_t *out) {
  auto s = T(t).sizes();
  for (size_t i = 0; i < s.size(); i++) out[i] = s[i];
}
int tt_dtype(TT t) { return code(T(t).scalar_type()); }
void tt_device(TT t, int *type, int *index) {
  auto d = T(t).device();
  *type = d.is_cuda() ? 1 : 0;
  *index = d.has_index() ? d.index() : 0;
}
bool tt_defined(TT t) { return T(t).defined(); }

char *tt_to(TT t, int dtype, int dev_type, int dev_index, TT *out) {
  TRY *out = wrap(T(t).to(dev(dev_type, dev_index), st(dtype)));
  CATCH
}

char *tt_requires_grad_(TT t, bool r) {
  TRY T(t).requires_grad_(r);
  CATCH
}
bool tt_requires_grad(TT t) { return T(t).requires_grad(); }

char *tt_grad(TT t, TT *out) {
  TRY auto g = T(t).grad();
  *out = g.defined() ? wrap(g) : nullptr;
  CATCH
}

char *tt_set_grad(TT t, TT g) {
  TRY if (g == nullptr) T(t).mutable_grad() = at::Tensor();
  else T(t).mutable_grad() = T(g);
  CATCH
}

char *tt_backward(TT t, TT grad, bool retain_graph) {
  TRY if (grad == nullptr) T(t).backward({}, retain_graph);
  else T(t).backward(T(grad), retain_graph);
  CATCH
}

bool tt_set_grad_enabled(bool on) {
  bool prev = at::GradMode::is_enabled();
  at::GradMode::set_enabled(on);
  return prev;
}
bool tt_is_grad_enabled(void) { return at::GradMode::is_enabled(); }

char *tt_full(const int64_t *shape, int ndim, double value, int dtype, int dev_type, int dev_index, TT *out) {
  TRY *out = wrap(torch::full(vec(shape, ndim), value, opts(dtype, dev_type, dev_index)));
  CATCH
}

char *tt_arange(double start, double end, double step, int dtype, int dev_type, int dev_index, TT *out) {
  TRY *out = wrap(torch::arange(start, end, step, opts(dtype, dev_type, dev_index)));
  CATCH
}

char *tt_randn(const int64_t *shape, int ndim, int dtype, int dev_type, int dev_index, TT *out) {
  TRY *out = wrap(torch::randn(vec(shape, ndim), opts(dtype, dev_type, dev_index)));
  CATCH
}

char *tt_rand(const int64_t *shape, int ndim, int dtype, int dev_type, int dev_index, TT *out) {
  TRY *out = wrap(torch::rand(vec(shape, ndim), opts(dtype, dev_type, dev_index)));
  CATCH
}

// Same algorithm as torch.nn.init.trunc_normal_: inverse-CDF sampling of a normal truncated to [a, b].
char *tt_trunc_normal_(TT t, double mean, double std, double a, double b) {
  TRY torch::NoGradGuard g;
  auto norm_cdf = [](double x) { return (1. + std::erf(x / std::sqrt(2.))) / 2.; };
  double l = norm_cdf((a - mean) / std), u = norm_cdf((b - mean) / std);
  auto &x = T(t);
  x.uniform_(2 * l - 1, 2 * u - 1);
  x.erfinv_();
  x.mul_(std * std::sqrt(2.));
  x.add_(mean);
  x.clamp_(a, b);
  CATCH
}

void tt_manual_seed(uint64_t seed) { torch::manual_seed(seed); }

char *tt_rng_state(int dev_type, int dev_index, TT *out) {
  TRY if (dev_type == 0) {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    *out = wrap(gen.get_state());
  }
  else {
    auto gen = at::globalContext().defaultGenerator(dev(dev_type, dev_index));
    std::lock_guard<std::mutex> lock(gen.mutex());
    *out = wrap(gen.get_state());
  }
  CATCH
}

char *tt_set_rng_state(int dev_type, int dev_index, TT state) {
  TRY if (dev_type == 0) {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(T(state));
  }
  else {
    auto gen = at::globalContext().defaultGenerator(dev(dev_type, dev_index));
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(T(state));
  }
  CATCH
}

char *tt_unary(int op, TT a, TT *out) {
  TRY auto &x = T(a);
  at::Tensor r;
  switch (op) {
  case 0: r = x.neg(); break;
  case 1: r = x.exp(); break;
  case 2: r = x.log(); break;
  case 3: r = x.sqrt(); break;
  case 4: r = torch::relu(x); break;
  case 5: r = torch::gelu(x); break;
  case 6: r = x.tanh(); break;
  case 7: r = x.sigmoid(); break;
  case 8: r = x.abs(); break;
  case 9: r = x.contiguous(); break;
  case 10: r = x.clone(); break;
  case 11: r = x.detach(); break;
  case 12: r = x.rsqrt(); break;
  case 13: r = x.logical_not(); break;
  case 14: r = x.erf(); break;
  case 15: r = x.square(); break;
  default: throw std::invalid_argument("unknown unary op " + std::to_string(op));
  }
  *out = wrap(r);
  CATCH
}

char *tt_binary(int op, TT a, TT b, TT *out) {
  TRY auto &x = T(a);
  auto &y = T(b);
  at::Tensor r;
  switch (op) {
  case 0: r = x.add(y); break;
  case 1: r = x.sub(y); break;
  case 2: r = x.mul(y); break;
  case 3: r = x.div(y); break;
  case 4: r = x.eq(y); break;
  case 5: r = x.ne(y); break;
  case 6: r = x.lt(y); break;
  case 7: r = x.le(y); break;
  case 8: r = x.gt(y); break;
  case 9: r = x.ge(y); break;
  case 10: r = x.pow(y); break;
  case 11: r = torch::maximum(x, y); break;
  case 12: r = torch::minimum(x, y); break;
  case 13: r = x.logical_and(y); break;
  case 14: r = x.logical_or(y); break;
  default: throw std::invalid_argument("unknown binary op " + std::to_string(op));
  }
  *out = wrap(r);
  CATCH
}

char *tt_scalar(int op, TT a, double s, TT *out) {
  TRY auto &x = T(a);
  at::Tensor r;
  switch (op) {
  case 0: r = x.add(s); break;
  case 1: r = x.sub(s); break;
  case 2: r = x.mul(s); break;
  case 3: r = x.div(s); break;
  case 4: r = x.eq(s); break;
  case 5: r = x.ne(s); break;
  case 6: r = x.lt(s); break;
  case 7: r = x.le(s); break;
  case 8: r = x.gt(s); break;
  case 9: r = x.ge(s); break;
  case 10: r = x.pow(s); break;
  case 11: r = torch::rsub(x, s); break;
  default: throw std::invalid_argument("unknown scalar op " + std::to_string(op));
  }
  *out = wrap(r);
  CATCH
}

char *tt_reduce(int op, TT a, const int64_t *dims, int ndims, bool keepdim, TT *out) {
  TRY auto &x = T(a);
  auto d = vec(dims, ndims);
  at::Tensor r;
  switch (op) {
  case 0: r = ndims ? x.sum(d, keepdim) : x.sum(); break;
  case 1: r = ndims ? x.mean(d, keepdim) : x.mean(); break;
  case 2: r = x.amax(d, keepdim); break;
  case 3: r = x.amin(d, keepdim); break;
  case 4: r = ndims ? at::linalg_vector_norm(x, 2, d, keepdim) : at::linalg_vector_norm(x, 2); break;
  default: throw std::invalid_argument("unknown reduction " + std::to_string(op));
  }
  *out = wrap(r);
  CATCH
}

char *tt_max_dim(TT a, int64_t dim, bool keepdim, TT *values, TT *indices) {
  TRY auto r = T(a).max(dim, keepdim);
  *values = wrap(std::get<0>(r));
  *indices = wrap(std::get<1>(r));
  CATCH
}

char *tt_inplace(int op, TT a, TT b, double s) {
  TRY torch::NoGradGuard ng;
  auto &x = T(a);
  switch (op) {
  case 0: x.copy_(T(b)); break;
  case 1: x.fill_(s); break;
  case 2: x.zero_(); break;
  case 3: x.add_(T(b), s); break;
  case 4: x.mul_(s); break;
  default: throw std::invalid_argument("unknown in-place op " + std::to_string(op));
  }
  CATCH
}

char *tt_matmul(TT a, TT b, TT *out) {
  TRY *out = wrap(T(a).matmul(T(b)));
  CATCH
}
char *tt_bmm(TT a, TT b, TT *out) {
  TRY *out = wrap(T(a).bmm(T(b)));
  CATCH
}
char *tt_linear(TT x, TT w, TT b, TT *out) {
  TRY *out = wrap(b ? torch::linear(T(x), T(w), T(b)) : torch::linear(T(x), T(w)));
  CATCH
}
char *tt_embedding(TT w, TT ids, int64_t padding_idx, TT *out) {
  TRY *out = wrap(torch::embedding(T(w), T(ids), padding_idx));
  CATCH
}
char *tt_layer_norm(TT x, const int64_t *shape, int ndim, TT w, TT b, double eps, TT *out) {
  TRY c10::optional<at::Tensor> ww, bb;
  if (w) ww = T(w);
  if (b) bb = T(b);
  *out = wrap(at::layer_norm(T(x), vec(shape, ndim), ww, bb, eps));
  CATCH
}
char *tt_softmax(TT x, int64_t dim, bool log, TT *out) {
  TRY *out = wrap(log ? T(x).log_softmax(dim) : T(x).softmax(dim));
  CATCH
}
char *tt_dropout(TT x, double p, bool train, TT *out) {
  TRY *out = wrap(torch::dropout(T(x), p, train));
  CATCH
}
char *tt_masked_fill(TT x, TT mask, double value, TT *out) {
  TRY *out = wrap(T(x).masked_fill(T(mask), value));
  CATCH
}
char *tt_where(TT cond, TT a, TT b, TT *out) {
  TRY *out = wrap(torch::where(T(cond), T(a), T(b)));
  CATCH
}
char *tt_clamp(TT x, double lo, double hi, bool has_lo, bool has_hi, TT *out) {
  TRY c10::optional<at::Scalar> l, h;
  if (has_lo) l = lo;
  if (has_hi) h = hi;
  *out = wrap(T(x).clamp(l, h));
  CATCH
}
char *tt_cross_entropy(TT logits, TT target, int red, int64_t ignore_index, double label_smoothing, TT *out) {
  TRY *out = wrap(at::cross_entropy_loss(T(logits), T(target), {}, reduction(red), ignore_index, label_smoothing));
  CATCH
}
// reduction 3 = batchmean (sum / input.size(0)), as torch.nn.functional.kl_div.
char *tt_kl_div(TT input, TT target, int red, bool log_target, TT *out) {
  TRY if (red == 3) {
    auto s = at::kl_div(T(input), T(target), at::Reduction::Sum, log_target);
    *out = wrap(T(input).dim() > 0 ? s / T(input).size(0) : s);
  }
  else *out = wrap(at::kl_div(T(input), T(target), reduction(red), log_target));
  CATCH
}

char *tt_reshape(TT x, const int64_t *shape, int ndim, bool view, TT *out) {
  TRY *out = wrap(view ? T(x).view(vec(shape, ndim)) : T(x).reshape(vec(shape, ndim)));
  CATCH
}
char *tt_expand(TT x, const int64_t *shape, int ndim, TT *out) {
  TRY *out = wrap(T(x).expand(vec(shape, ndim)));
  CATCH
}
char *tt_permute(TT x, const int64_t *dims, int ndim, TT *out) {
  TRY *out = wrap(T(x).permute(vec(dims, ndim)));
  CATCH
}
char *tt_transpose(TT x, int64_t d0, int64_t d1, TT *out) {
  TRY *out = wrap(T(x).transpose(d0, d1));
  CATCH
}
char *tt_squeeze(TT x, int64_t dim, TT *out) {
  TRY *out = wrap(T(x).squeeze(dim));
  CATCH
}
char *tt_unsqueeze(TT x, int64_t dim, TT *out) {
  TRY *out = wrap(T(x).unsqueeze(dim));
  CATCH
}
char *tt_cat(TT *ts, int n, int64_t dim, bool stack, TT *out) {
  TRY std::vector<at::Tensor> v;
  v.reserve(n);
  for (int i = 0; i < n; i++) v.push_back(T(ts[i]));
  *out = wrap(stack ? torch::stack(v, dim) : torch::cat(v, dim));
  CATCH
}
char *tt_narrow(TT x, int64_t dim, int64_t start, int64_t len, TT *out) {
  TRY *out = wrap(T(x).narrow(dim, start, len));
  CATCH
}
char *tt_select(TT x, int64_t dim, int64_t index, TT *out) {
  TRY *out = wrap(T(x).select(dim, index));
  CATCH
}
char *tt_index_select(TT x, int64_t dim, TT idx, TT *out) {
  TRY *out = wrap(T(x).index_select(dim, T(idx)));
  CATCH
}
char *tt_gather(TT x, int64_t dim, TT idx, TT *out) {
  TRY *out = wrap(T(x).gather(dim, T(idx)));
  CATCH
}
char *tt_argsort(TT x, int64_t dim, bool descending, TT *out) {
  TRY *out = wrap(T(x).argsort(dim, descending));
  CATCH
}
char *tt_topk(TT x, int64_t k, int64_t dim, bool largest, TT *values, TT *indices) {
  TRY auto r = T(x).topk(k, dim, largest, true);
  *values = wrap(std::get<0>(r));
  *indices = wrap(std::get<1>(r));
  CATCH
}

void tt_set_num_threads(int n) { at::set_num_threads(n); }
int tt_get_num_threads(void) { return at::get_num_threads(); }
bool tt_cuda_available(void) { return torch::cuda::is_available(); }
int tt_cuda_device_count(void) { return (int)torch::cuda::device_count(); }
char *tt_config(void) { return dup(at::show_config()); }

bool tt_set_autocast(int dev_type, bool on, int dtype) {
  bool prev;
#if TT_TORCH_AT_LEAST(2, 4)
  auto dt = dev_type == 1 ? at::kCUDA : at::kCPU;
  prev = at::autocast::is_autocast_enabled(dt);
  if (on) at::autocast::set_autocast_dtype(dt, st(dtype));
  at::autocast::set_autocast_enabled(dt, on);
#else
  if (dev_type == 1) {
    prev = at::autocast::is_enabled();
    if (on) at::autocast::set_autocast_gpu_dtype(st(dtype));
    at::autocast::set_enabled(on);
  } else {
    prev = at::autocast::is_cpu_enabled();
    if (on) at::autocast::set_autocast_cpu_dtype(st(dtype));
    at::autocast::set_cpu_enabled(on);
  }
#endif
  return prev;
}
void tt_autocast_clear_cache(void) { at::autocast::clear_cache(); }

void tt_set_allow_tf32(bool on) {
  at::globalContext().setAllowTF32CuBLAS(on);
  at::globalContext().setAllowTF32CuDNN(on);
}
char *tt_cuda_synchronize(int dev_index) {
  TRY torch::cuda::synchronize(dev_index);
  CATCH
}
char *tt_cuda_memory(int dev_index, bool reset_peak, int64_t *allocated, int64_t *peak, int64_t *reserved) {
  TRY
#ifdef ROCKETQA_CUDA
  // index 0 of each stat array is StatType::AGGREGATE (all pools), in 1.13 and 2.x alike
  auto s = c10::cuda::CUDACachingAllocator::getDeviceStats((c10::DeviceIndex)dev_index);
  *allocated = s.allocated_bytes[0].current;
  *peak = s.allocated_bytes[0].peak;
  *reserved = s.reserved_bytes[0].current;
  if (reset_peak) c10::cuda::CUDACachingAllocator::resetPeakStats((c10::DeviceIndex)dev_index);
#else
  (void)dev_index, (void)reset_peak, (void)allocated, (void)peak, (void)reserved;
  throw std::runtime_error("CUDA memory statistics need the shim built with -DROCKETQA_CUDA (torch/internal/shim/build.sh with CUDA_HOME)");
#endif
  CATCH
}
char *tt_build_info(void) {
  std::ostringstream o;
  o << "libtorch " << TORCH_VERSION_MAJOR << "." << TORCH_VERSION_MINOR << "." << TORCH_VERSION_PATCH;
  o << " cxx11abi=" << _GLIBCXX_USE_CXX11_ABI;
#ifdef ROCKETQA_CUDA
  o << " cuda";
#endif
#ifdef USE_C10D_GLOO
  o << " gloo";
#endif
#ifdef USE_C10D_NCCL
  o << " nccl";
#endif
  return dup(o.str());
}

// ---- AdamW ----

char *tt_adamw_new(TT *params, const int *group_sizes, int ngroups, const double *lrs, const double *wds, double beta1,
                   double beta2, double eps, TOpt *out) {
  TRY std::vector<torch::optim::OptimizerParamGroup> groups;
  int k = 0;
  for (int g = 0; g < ngroups; g++) {
    std::vector<at::Tensor> ps;
    for (int i = 0; i < group_sizes[g]; i++) ps.push_back(T(params[k++]));
    auto o = std::make_unique<torch::optim::AdamWOptions>(lrs[g]);
    o->betas(std::make_tuple(beta1, beta2)).eps(eps).weight_decay(wds[g]);
    groups.emplace_back(ps, std::move(o));
  }
  torch::optim::AdamWOptions defaults(lrs[0]);
  defaults.betas(std::make_tuple(beta1, beta2)).eps(eps).weight_decay(wds[0]);
  *out = new torch::optim::AdamW(groups, defaults);
  CATCH
}

static torch::optim::AdamW &OPT(TOpt o) { return *static_cast<torch::optim::AdamW *>(o); }

char *tt_adamw_step(TOpt o) {
  TRY OPT(o).step();
  CATCH
}
char *tt_adamw_zero_grad(TOpt o, bool set_to_none) {
  TRY for (auto &g : OPT(o).param_groups()) for (auto &p : g.params()) {
    if (!p.grad().defined()) continue;
    if (set_to_none)
      p.mutable_grad() = at::Tensor();
    else {
      p.mutable_grad().detach_();
      p.mutable_grad().zero_();
    }
  }
  CATCH
}
char *tt_adamw_set_lr(TOpt o, int group, double lr) {
  TRY auto &gs = OPT(o).param_groups();
  if (group < 0 || group >= (int)gs.size()) throw std::out_of_range("no parameter group " + std::to_string(group));
  static_cast<torch::optim::AdamWOptions &>(gs[group].options()).lr(lr);
  CATCH
}
char *tt_adamw_save(TOpt o, char **data, int64_t *len) {
  TRY torch::serialize::OutputArchive ar;
  OPT(o).save(ar);
  std::ostringstream os;
  ar.save_to(os);
  auto s = os.str();
  *data = static_cast<char *>(malloc(s.size() ? s.size() : 1));
  memcpy(*data, s.data(), s.size());
  *len = (int64_t)s.size();
  CATCH
}
char *tt_adamw_load(TOpt o, const char *data, int64_t len) {
  TRY torch::serialize::InputArchive ar;
  ar.load_from(data, (size_t)len);
  OPT(o).load(ar);
  CATCH
}
void tt_adamw_free(TOpt o) { delete static_cast<torch::optim::AdamW *>(o); }

char *tt_clip_grad_norm(TT *params, int n, double max_norm, double *total) {
  TRY std::vector<at::Tensor> ps;
  for (int i = 0; i < n; i++) ps.push_back(T(params[i]));
  *total = torch::nn::utils::clip_grad_norm_(ps, max_norm);
  CATCH
}

// ---- c10d ----

struct PG {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<PGBase> pg;
  int rank, world;
  int64_t gathers = 0; // differentiable all_gathers so far: the id of each, the same on every rank
};
static PG &P(TPG p) { return *static_cast<PG *>(p); }

char *tt_pg_new(const char *backend, const char *host, int port, int rank, int world, int64_t timeout_ms, TPG *out) {
  TRY std::string b(backend), h(host);
  auto timeout = std::chrono::milliseconds(timeout_ms);
  c10d::TCPStoreOptions so;
  so.port = (uint16_t)port;
  so.isServer = rank == 0;
  so.numWorkers = (size_t)world;
  so.waitWorkers = true;
  so.timeout = timeout;
  c10::intrusive_ptr<c10d::TCPStore> store;
#if TT_TORCH_AT_LEAST(2, 4)
  // 2.4 made the libuv TCPStore backend the default, and a libtorch built without libuv (Debian's 2.6) refuses it:
  // fall back to the classic backend then. USE_LIBUV=0 picks the classic one, as in PyTorch's Python frontend.
  const char *uv = getenv("USE_LIBUV");
  so.useLibUV = !(uv && std::string(uv) == "0");
  try {
    store = c10::make_intrusive<c10d::TCPStore>(h, so);
  } catch (const c10::Error &e) {
    if (!so.useLibUV || std::string(e.what_without_backtrace()).find("without libuv") == std::string::npos) throw;
    so.useLibUV = false;
    store = c10::make_intrusive<c10d::TCPStore>(h, so);
  }
#else
  store = c10::make_intrusive<c10d::TCPStore>(h, so);
#endif
  auto pg = new PG{store, {}, rank, world};
  try {
    if (b == "gloo") {
#ifndef USE_C10D_GLOO
      throw std::invalid_argument("this shim was built without the Gloo process group (no gloo headers)");
#else
      auto o = c10d::ProcessGroupGloo::Options::create(timeout);
      const char *ifname = getenv("GLOO_SOCKET_IFNAME");
      if (ifname && *ifname)
        o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      else if (h == "127.0.0.1" || h == "localhost")
        o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      else
        o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      pg->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, o);
#endif
    } else if (b == "nccl") {
#ifdef USE_C10D_NCCL
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = timeout;
      pg->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, o);
#else
      throw std::invalid_argument("this libtorch build has no NCCL process group (build the shim with -DUSE_C10D_NCCL "
                                  "against a CUDA libtorch)");
#endif
    } else {
      throw std::invalid_argument("unknown backend \"" + b + "\" (want gloo or nccl)");
    }
  } catch (...) {
    delete pg;
    throw;
  }
  *out = pg;
  CATCH
}

void tt_pg_free(TPG p) { delete static_cast<PG *>(p); }

char *tt_pg_allreduce(TPG p, TT t, int op) {
  TRY std::vector<at::Tensor> v{T(t)};
  c10d::AllreduceOptions o;
  switch (op) {
  case 0: o.reduceOp = c10d::ReduceOp::SUM; break;
  case 1: o.reduceOp = c10d::ReduceOp::MAX; break;
  case 2: o.reduceOp = c10d::ReduceOp::MIN; break;
  default: throw std::invalid_argument("unknown reduce op " + std::to_string(op));
  }
  P(p).pg->allreduce(v, o)->wait();
  CATCH
}

char *tt_pg_broadcast(TPG p, TT t, int root) {
  TRY std::vector<at::Tensor> v{T(t)};
  c10d::BroadcastOptions o;
  o.rootRank = root;
  P(p).pg->broadcast(v, o)->wait();
  CATCH
}

char *tt_pg_barrier(TPG p) {
  TRY P(p).pg->barrier()->wait();
  CATCH
}

namespace {
at::Tensor gather_cat(PG &p, const at::Tensor &x) {
  auto in = x.detach().contiguous();
  std::vector<at::Tensor> inputs{in};
  std::vector<std::vector<at::Tensor>> outs(1);
  for (int i = 0; i < p.world; i++) outs[0].push_back(torch::empty_like(in));
  p.pg->allgather(outs, inputs)->wait();
  return torch::cat(outs[0], 0);
}

// all_gather along dim 0 whose backward hands each rank the sum over ranks of the gradient of its own slice.
// Autograd runs ready nodes by sequence number, which libtorch counts per OS thread: a graph built on several
// threads (Go moves goroutines between threads) can run two gathers' backward all-reduces in different orders on
// different ranks, and Gloo/NCCL would then silently sum one gather's gradient with another's. Each backward first
// all-reduces (id, id^2) of its gather; unequal ids on any rank make both sums differ from world*(id, id^2), and
// every rank fails with an error instead.
struct AllGather : public torch::autograd::Function<AllGather> {
  static at::Tensor forward(torch::autograd::AutogradContext *ctx, at::Tensor x, int64_t handle) {
    auto &p = *reinterpret_cast<PG *>(handle);
    ctx->saved_data["h"] = handle;
    ctx->saved_data["n"] = x.size(0);
    ctx->saved_data["id"] = p.gathers++ % (1 << 20) + 1;
    return gather_cat(p, x);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                 torch::autograd::variable_list grads) {
    auto &p = *reinterpret_cast<PG *>(ctx->saved_data["h"].toInt());
    int64_t n = ctx->saved_data["n"].toInt();
    double id = (double)ctx->saved_data["id"].toInt();
    auto chk = torch::tensor({id, id * id}, torch::TensorOptions().dtype(torch::kFloat64)).to(grads[0].device());
    std::vector<at::Tensor> cv{chk};
    p.pg->allreduce(cv)->wait();
    auto sums = chk.cpu();
    if (sums[0].item<double>() != p.world * id || sums[1].item<double>() != p.world * id * id)
      throw std::runtime_error("all_gather backward: the ranks ran their gathers' backward passes in different orders "
                               "(this rank: gather " + std::to_string((int64_t)id) + "); build each step's graph on "
                               "one OS thread (runtime.LockOSThread), as train.Run and DualTask.Step do");
    auto g = grads[0].contiguous().clone();
    std::vector<at::Tensor> v{g};
    p.pg->allreduce(v)->wait();
    return {g.narrow(0, n * p.rank, n).clone(), at::Tensor()};
  }
};
} // namespace

char *tt_pg_allgather(TPG p, TT t, bool differentiable, TT *out) {
  TRY if (differentiable) *out = wrap(AllGather::apply(T(t), reinterpret_cast<int64_t>(p)));
  else *out = wrap(gather_cat(P(p), T(t)));
  CATCH
}

} // extern "C"

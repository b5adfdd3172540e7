// The only C++ that touches FAISS in this project: a thin C interface over FAISS's C++ API (index_factory,
// IndexFlatIP/L2, ParameterSpace, read_index/write_index). Every entry point catches all exceptions and returns
// the message as a malloc'd string so that Go sees an error instead of a crash.

#include "faiss_shim.h"

#include <dlfcn.h>
#include <limits.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <exception>
#include <memory>
#include <new>
#include <string>

#include <faiss/AutoTune.h>
#include <faiss/IVFlib.h>
#include <faiss/Index.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexFlatCodes.h>
#include <faiss/IndexIVF.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

namespace {

// Desired OpenMP thread count (0 = leave OpenMP's default). omp_set_num_threads only affects the calling
// OS thread, and Go runs cgo calls on whichever thread it likes, so every entry point re-applies it.
std::atomic<int> g_threads{0};

void apply_threads() {
    int t = g_threads.load(std::memory_order_relaxed);
    if (t > 0 && omp_get_max_threads() != t) {
        omp_set_num_threads(t);
    }
}

char* dup_msg(const std::string& s) {
    char* p = static_cast<char*>(malloc(s.size() + 1));
    if (p != nullptr) {
        memcpy(p, s.c_str(), s.size() + 1);
    }
    return p;
}

template <typename F>
char* guard(F&& f) {
    try {
        apply_threads();
        f();
        return nullptr;
    } catch (const faiss::FaissException& e) {
        return dup_msg(e.what());
    } catch (const std::bad_alloc&) {
        return dup_msg("out of memory (std::bad_alloc)");
    } catch (const std::exception& e) {
        return dup_msg(e.what());
    } catch (...) {
        return dup_msg("unknown C++ exception");
    }
}

faiss::Index* as_index(rq_index* ix) {
    return reinterpret_cast<faiss::Index*>(ix);
}

faiss::MetricType to_metric(int m) {
    return m == 1 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
}

// Structural checks on an index read from disk, beyond what read_index verifies itself.
void validate(const faiss::Index* idx) {
    if (idx->d <= 0) {
        throw std::runtime_error("index has dimension " + std::to_string(idx->d));
    }
    if (idx->ntotal < 0) {
        throw std::runtime_error("index has ntotal " + std::to_string(idx->ntotal));
    }
    if (idx->metric_type != faiss::METRIC_INNER_PRODUCT && idx->metric_type != faiss::METRIC_L2) {
        throw std::runtime_error("unsupported metric type " + std::to_string(int(idx->metric_type)));
    }
    if (auto fc = dynamic_cast<const faiss::IndexFlatCodes*>(idx)) {
        if (fc->codes.size() != size_t(fc->ntotal) * fc->code_size) {
            throw std::runtime_error(
                    "flat index holds " + std::to_string(fc->codes.size()) + " code bytes, want ntotal " +
                    std::to_string(fc->ntotal) + " x code_size " + std::to_string(fc->code_size));
        }
    }
    if (auto ivf = faiss::ivflib::try_extract_index_ivf(idx)) {
        if (ivf->invlists == nullptr || ivf->quantizer == nullptr) {
            throw std::runtime_error("IVF index without inverted lists or quantizer");
        }
        if (ivf->quantizer->d != ivf->d) {
            throw std::runtime_error("IVF quantizer dimension differs from index dimension");
        }
        size_t sum = 0;
        for (size_t l = 0; l < ivf->invlists->nlist; l++) {
            sum += ivf->invlists->list_size(l);
        }
        if (sum != size_t(ivf->ntotal)) {
            throw std::runtime_error("IVF inverted lists hold " + std::to_string(sum) + " entries, want ntotal " +
                                     std::to_string(ivf->ntotal));
        }
    }
}

}  // namespace

extern "C" {

char* rq_index_new(int dim, const char* factory, int metric, rq_index** out) {
    *out = nullptr;
    return guard([&] {
        std::string desc = factory == nullptr ? "" : factory;
        faiss::Index* idx = nullptr;
        if (desc.empty() || desc == "Flat") {
            if (metric == 1) {
                idx = new faiss::IndexFlatL2(dim);
            } else {
                idx = new faiss::IndexFlatIP(dim);
            }
        } else {
            idx = faiss::index_factory(dim, desc.c_str(), to_metric(metric));
        }
        *out = reinterpret_cast<rq_index*>(idx);
    });
}

void rq_index_free(rq_index* ix) {
    delete as_index(ix);
}

int rq_index_dim(rq_index* ix) {
    return int(as_index(ix)->d);
}

int64_t rq_index_ntotal(rq_index* ix) {
    return as_index(ix)->ntotal;
}

int rq_index_is_trained(rq_index* ix) {
    return as_index(ix)->is_trained ? 1 : 0;
}

int rq_index_metric(rq_index* ix) {
    return as_index(ix)->metric_type == faiss::METRIC_L2 ? 1 : 0;
}

int64_t rq_index_ivf_nlist(rq_index* ix) {
    const faiss::IndexIVF* ivf = faiss::ivflib::try_extract_index_ivf(as_index(ix));
    return ivf == nullptr ? 0 : int64_t(ivf->nlist);
}

char* rq_index_train(rq_index* ix, int64_t n, const float* x) {
    return guard([&] { as_index(ix)->train(n, x); });
}

char* rq_index_add(rq_index* ix, int64_t n, const float* x) {
    return guard([&] { as_index(ix)->add(n, x); });
}

char* rq_index_reserve(rq_index* ix, int64_t n, int* applied) {
    *applied = 0;
    return guard([&] {
        if (auto fc = dynamic_cast<faiss::IndexFlatCodes*>(as_index(ix))) {
#if FAISS_VERSION_MAJOR > 1 || (FAISS_VERSION_MAJOR == 1 && FAISS_VERSION_MINOR >= 11)
            // FAISS 1.11 made codes a MaybeOwnedVector (owned, or a view of a memory-mapped file) without reserve():
            // reserve the vector it owns and re-point its cached data pointer, which reserve may move.
            if (!fc->codes.is_owned) return;
            if (n > fc->ntotal) {
                fc->codes.owned_data.reserve(size_t(n) * fc->code_size);
                fc->codes.c_ptr = fc->codes.owned_data.data();
            }
#else
            if (n > fc->ntotal) {
                fc->codes.reserve(size_t(n) * fc->code_size);
            }
#endif
            *applied = 1;
        }
    });
}

char* rq_index_set_param(rq_index* ix, const char* name, double value) {
    return guard([&] {
        faiss::ParameterSpace ps;
        ps.set_index_parameter(as_index(ix), name, value);
    });
}

char* rq_index_search(rq_index* ix, int64_t n, const float* x, int64_t k, float* distances, int64_t* labels) {
    return guard([&] { as_index(ix)->search(n, x, k, distances, labels); });
}

char* rq_index_write(rq_index* ix, const char* path) {
    return guard([&] { faiss::write_index(as_index(ix), path); });
}

char* rq_index_read(const char* path, rq_index** out) {
    *out = nullptr;
    return guard([&] {
        std::unique_ptr<faiss::Index> idx(faiss::read_index(path));
        validate(idx.get());
        *out = reinterpret_cast<rq_index*>(idx.release());
    });
}

void rq_set_num_threads(int n) {
    g_threads.store(n > 0 ? n : 0, std::memory_order_relaxed);
    if (n > 0) {
        omp_set_num_threads(n);
        // A pthreads build of OpenBLAS keeps its own pool, sized from OPENBLAS_NUM_THREADS or the core count.
        using set_fn = void (*)(int);
        if (auto set = reinterpret_cast<set_fn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
            set(n);
        }
    }
}

int rq_get_num_threads(void) {
    int t = g_threads.load(std::memory_order_relaxed);
    return t > 0 ? t : omp_get_max_threads();
}

extern void sgemm_(void);  // only its address is taken, to find the BLAS library in use

char* rq_blas_info(void) {
    std::string s;
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(&sgemm_), &info) != 0 && info.dli_fname != nullptr) {
        char buf[PATH_MAX];
        s += "blas=";
        s += realpath(info.dli_fname, buf) != nullptr ? buf : info.dli_fname;
    } else {
        s += "blas=unknown";
    }
    using cfg_fn = char* (*)();
    using int_fn = int (*)();
    if (auto cfg = reinterpret_cast<cfg_fn>(dlsym(RTLD_DEFAULT, "openblas_get_config"))) {
        s += " openblas_config=\"";
        s += cfg();
        s += "\"";
        if (auto core = reinterpret_cast<cfg_fn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"))) {
            s += " openblas_core=";
            s += core();
        }
        if (auto par = reinterpret_cast<int_fn>(dlsym(RTLD_DEFAULT, "openblas_get_parallel"))) {
            int p = par();
            s += " openblas_parallel=";
            s += p == 0 ? "sequential" : p == 1 ? "pthreads" : p == 2 ? "openmp" : std::to_string(p);
        }
        if (auto nt = reinterpret_cast<int_fn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"))) {
            s += " openblas_threads=" + std::to_string(nt());
        }
        if (dladdr(reinterpret_cast<void*>(cfg), &info) != 0 && info.dli_fname != nullptr) {
            char buf[PATH_MAX];
            s += " openblas_lib=";
            s += realpath(info.dli_fname, buf) != nullptr ? buf : info.dli_fname;
        }
    }
    const char* ct = getenv("OPENBLAS_CORETYPE");
    s += " OPENBLAS_CORETYPE=";
    s += ct != nullptr ? ct : "(unset)";
    s += " omp_threads=" + std::to_string(rq_get_num_threads());
    return dup_msg(s);
}

}  // extern "C"

// C interface of the FAISS shim (faiss_shim.cc). Every function that can fail returns NULL on success or a
// malloc'd error message that the caller must free. Index handles are opaque pointers to faiss::Index.
#ifndef RQ_FAISS_SHIM_H
#define RQ_FAISS_SHIM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rq_index rq_index;

// metric: 0 = inner product, 1 = L2.
char* rq_index_new(int dim, const char* factory, int metric, rq_index** out);
void rq_index_free(rq_index* ix);
int rq_index_dim(rq_index* ix);
int64_t rq_index_ntotal(rq_index* ix);
int rq_index_is_trained(rq_index* ix);
int rq_index_metric(rq_index* ix);
int64_t rq_index_ivf_nlist(rq_index* ix);
char* rq_index_train(rq_index* ix, int64_t n, const float* x);
char* rq_index_add(rq_index* ix, int64_t n, const float* x);
// Pre-allocates code storage for n vectors in flat-coded indexes (IndexFlat, IndexScalarQuantizer, IndexPQ);
// sets *applied to 0 for other index types.
char* rq_index_reserve(rq_index* ix, int64_t n, int* applied);
char* rq_index_set_param(rq_index* ix, const char* name, double value);
char* rq_index_search(rq_index* ix, int64_t n, const float* x, int64_t k, float* distances, int64_t* labels);
char* rq_index_write(rq_index* ix, const char* path);
char* rq_index_read(const char* path, rq_index** out);

void rq_set_num_threads(int n);
int rq_get_num_threads(void);
char* rq_blas_info(void);

#ifdef __cplusplus
}
#endif

#endif

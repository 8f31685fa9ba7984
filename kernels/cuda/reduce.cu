// Reductions (kernels/cuda/reduce.cuh).
//   sum_to:  undoes a broadcast, e.g. a bias gradient (N, H, W, C) -> (C). The host splits g's dims into kept and
//            reduced ones (size-1 dims dropped, neighbours of one kind merged), so out[o] = sum_r g[off(o) + off(r)].
//            Pass 1: a thread per (output, chunk of reduced elements), consecutive threads on consecutive outputs
//            (coalesced when the innermost dim is kept); chunk length from the reduced count alone. Pass 2 (only
//            with more than one chunk): a thread per output adds its chunks in order. float accumulation like the
//            CPU kernel, in another (fixed) order: a few ulp apart, bit-identical run to run.
//   sum_all: sum in double through det_sum.cuh, the total copied back by the caller.
#include "kernels/cuda/portable.cuh"
#include "kernels/cuda/reduce.cuh"
#include "kernels/cuda/det_sum.cuh"

namespace cage::CAGE_GPU_NAMESPACE {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMinChunk = 32;   // reduced elements per pass-1 thread, at least
constexpr int64_t kMaxChunks = 256;

struct dims_view {
  int dims;
  int64_t size[kSumToMaxDims], stride[kSumToMaxDims];  // outermost first
};
struct sum_to_view {
  dims_view kept, red;
};

__device__ __forceinline__ int64_t offset_of(int64_t i, const dims_view& v) {
  int64_t off = 0;
  for (int d = v.dims - 1; d > 0; --d) {
    const int64_t q = i / v.size[d];
    off += (i - q * v.size[d]) * v.stride[d];
    i = q;
  }
  return off + i * v.stride[0];
}

// dst[c * M + o] = sum over r in chunk c of g[off(o) + off(r)]
__global__ void sum_to_partials_kernel(const float* g, float* dst, int64_t M, int64_t R, int64_t chunk,
                                       sum_to_view v) {
  const int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (o >= M) return;
  const int64_t c = blockIdx.y;
  const float* base = g + offset_of(o, v.kept);
  const int64_t r1 = (c + 1) * chunk < R ? (c + 1) * chunk : R;
  float s = 0;
  for (int64_t r = c * chunk; r < r1; ++r) s += base[offset_of(r, v.red)];
  dst[c * M + o] = s;
}

__global__ void sum_to_chunks_kernel(const float* partial, float* out, int64_t M, int64_t chunks) {
  const int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (o >= M) return;
  float s = 0;
  for (int64_t c = 0; c < chunks; ++c) s += partial[c * M + o];
  out[o] = s;
}

struct float_term {
  const float* x;
  __device__ __forceinline__ double operator()(int64_t i) const { return double(x[i]); }
};
struct store_double {
  double* total;
  __device__ __forceinline__ void operator()(double s) const { *total = s; }
};

// Kept and reduced dims of g, merged; false when either has more than kSumToMaxDims.
bool split_dims(int dims, const int64_t* g_shape, const bool* reduced, sum_to_view& v, int64_t& M, int64_t& R) {
  int64_t ks[64], kst[64], rs[64], rst[64];  // innermost first
  int nk = 0, nr = 0;
  int64_t stride = 1;
  M = R = 1;
  for (int d = dims - 1; d >= 0; --d) {
    const int64_t n = g_shape[d];
    if (n != 1) {
      int64_t* s = reduced[d] ? rs : ks;
      int64_t* st = reduced[d] ? rst : kst;
      int& k = reduced[d] ? nr : nk;
      if (k > 0 && st[k - 1] * s[k - 1] == stride) {
        s[k - 1] *= n;
      } else {
        s[k] = n;
        st[k] = stride;
        ++k;
      }
      (reduced[d] ? R : M) *= n;
    }
    stride *= n;
  }
  if (nk > kSumToMaxDims || nr > kSumToMaxDims) return false;
  v.kept.dims = nk > 0 ? nk : 1;
  v.red.dims = nr > 0 ? nr : 1;
  v.kept.size[0] = v.red.size[0] = 1;
  v.kept.stride[0] = v.red.stride[0] = 0;
  for (int d = 0; d < nk; ++d) {
    v.kept.size[d] = ks[nk - 1 - d];
    v.kept.stride[d] = kst[nk - 1 - d];
  }
  for (int d = 0; d < nr; ++d) {
    v.red.size[d] = rs[nr - 1 - d];
    v.red.stride[d] = rst[nr - 1 - d];
  }
  return true;
}

int64_t chunk_of(int64_t R) {
  int64_t c = (R + kMaxChunks - 1) / kMaxChunks;
  return c < kMinChunk ? kMinChunk : c;
}

}  // namespace

int64_t sum_to_scratch(int dims, const int64_t* g_shape, const bool* reduced) {
  if (dims > 64) return 0;
  sum_to_view v;
  int64_t M = 0, R = 0;
  if (!split_dims(dims, g_shape, reduced, v, M, R)) return 0;
  const int64_t chunks = R > 0 ? (R + chunk_of(R) - 1) / chunk_of(R) : 0;
  return chunks > 1 ? chunks * M : 0;
}

cudaError_t sum_to(const float* g, float* out, float* scratch, int dims, const int64_t* g_shape, const bool* reduced,
                   cudaStream_t stream) {
  if (dims < 0 || dims > 64) return cudaErrorInvalidValue;
  sum_to_view v;
  int64_t M = 0, R = 0;
  if (!split_dims(dims, g_shape, reduced, v, M, R)) return cudaErrorInvalidValue;
  if (M == 0) return cudaSuccess;
  if (R == 0) return cudaMemsetAsync(out, 0, size_t(M) * sizeof(float), stream);
  const int64_t chunk = chunk_of(R), chunks = (R + chunk - 1) / chunk;
  const dim3 grid(unsigned((M + kThreads - 1) / kThreads), unsigned(chunks));
  cage::launch(sum_to_partials_kernel, grid, dim3(kThreads), 0, stream, g, chunks > 1 ? scratch : out, M, R, chunk, v);
  if (chunks > 1)
    cage::launch(sum_to_chunks_kernel, dim3(unsigned((M + kThreads - 1) / kThreads)), dim3(kThreads), 0, stream,
                 static_cast<const float*>(scratch), out, M, chunks);
  return cudaSuccess;
}

int64_t sum_all_scratch(int64_t n) {
  const int64_t b = det_sum::blocks(n);
  return b > 0 ? b : 1;
}

void sum_all(const float* x, int64_t n, double* total, double* scratch, cudaStream_t stream) {
  det_sum::run(float_term{x}, n, scratch, store_double{total}, stream);
}

}  // namespace cage::CAGE_GPU_NAMESPACE

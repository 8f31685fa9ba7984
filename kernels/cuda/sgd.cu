// Fused SGD (with momentum, dampening, Nesterov and weight decay) over many float32 tensors in one launch
// (kernels/cuda/sgd.cuh), laid out like the fused AdamW (adamw.cu): the tensors end to end in one index space, a
// device array of segments, threads grid-striding over the whole space after one binary search for their first
// segment. Arithmetic: the CPU kernel's (kernels/cpu/optim.cpp, PyTorch 1.13's order), with __fmaf_rn exactly where
// it fuses (add with alpha) and __fmul_rn where it rounds, so nvcc contracts nothing else: bit-exact on the emulator.
#include "kernels/cuda/portable.cuh"
#include "kernels/cuda/sgd.cuh"

namespace cage::CAGE_GPU_NAMESPACE {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 4096;

__device__ __forceinline__ int find_segment(const sgd_segment* segments, int count, int64_t i) {
  int lo = 0, hi = count - 1;
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (segments[mid].end <= i)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

__global__ void sgd_kernel(const sgd_segment* segments, int count, int64_t total) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= total) return;
  int s = find_segment(segments, count, i);
  for (; i < total; i += stride) {
    while (segments[s].end <= i) ++s;
    const sgd_segment& c = segments[s];
    const int64_t k = i - c.begin;
    const float p = c.param[k];
    float d = c.use_weight_decay ? __fmaf_rn(c.weight_decay, p, c.grad[k]) : c.grad[k];
    if (c.momentum_buffer) {
      const float buf = c.first ? d : __fmaf_rn(c.keep, d, __fmul_rn(c.momentum_buffer[k], c.momentum));
      c.momentum_buffer[k] = buf;
      d = c.nesterov ? __fmaf_rn(c.momentum, buf, d) : buf;
    }
    c.param[k] = __fmaf_rn(c.neg_lr, d, p);
  }
}

}  // namespace

std::vector<sgd_segment> sgd_segments(const std::vector<sgd_tensor>& tensors, const sgd_hyper& h) {
  std::vector<sgd_segment> segments;
  segments.reserve(tensors.size());
  int64_t begin = 0;
  const bool use_momentum = h.momentum != 0;
  for (const sgd_tensor& t : tensors) {
    sgd_segment s;
    s.param = t.param;
    s.grad = t.grad;
    s.momentum_buffer = use_momentum ? t.momentum_buffer : nullptr;
    s.begin = begin;
    s.end = begin + (t.n > 0 ? t.n : 0);
    s.weight_decay = float(h.weight_decay);
    s.momentum = float(h.momentum);
    s.keep = float(1 - h.dampening);
    s.neg_lr = float(-h.lr);
    s.first = t.first ? 1 : 0;
    s.nesterov = h.nesterov ? 1 : 0;
    s.use_weight_decay = h.weight_decay != 0 ? 1 : 0;
    segments.push_back(s);
    begin = s.end;
  }
  return segments;
}

void sgd_step(const sgd_segment* segments, int count, int64_t total, cudaStream_t stream) {
  if (count <= 0 || total <= 0) return;
  const int64_t blocks = (total + kThreads - 1) / kThreads;
  cage::launch(sgd_kernel, dim3(static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks)), dim3(kThreads), 0,
               stream, segments, count, total);
}

cudaError_t sgd_step(const std::vector<sgd_tensor>& tensors, const sgd_hyper& h, sgd_segment* device_segments,
                     cudaStream_t stream) {
  if (tensors.empty()) return cudaSuccess;
  const std::vector<sgd_segment> segments = sgd_segments(tensors, h);
  const cudaError_t err = cudaMemcpyAsync(device_segments, segments.data(), segments.size() * sizeof(sgd_segment),
                                          cudaMemcpyHostToDevice, stream);
  if (err != cudaSuccess) return err;
  sgd_step(device_segments, static_cast<int>(segments.size()), segments.back().end, stream);
  return cudaSuccess;
}

}  // namespace cage::CAGE_GPU_NAMESPACE

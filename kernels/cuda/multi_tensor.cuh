// The layout shared by the fused multi-tensor optimizers (adamw.cu, sgd.cu): the tensors are laid end to end in one
// index space of `total` elements, and a device array of segments (an optimizer's own struct with at least `begin`
// and `end`, [begin, end) in that space, ordered by begin) gives each tensor's buffers and per-step scalars.
// Threads grid-stride over the whole space: a thread finds its first segment by binary search and then only walks
// forward, since its indices only grow. One launch updates every tensor.
// Include from .cu files only, after portable.cuh.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/cuda/grid.cuh"

namespace cage::CAGE_GPU_NAMESPACE::multi_tensor {

// The first segment whose end is past i (segments ordered by begin, ends non-decreasing).
template <typename Segment>
__device__ __forceinline__ int find_segment(const Segment* segments, int count, int64_t i) {
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

// Calls update(segment, k) for every element this thread owns, k its index within the segment's tensor.
template <typename Segment, typename Update>
__device__ __forceinline__ void for_each_element(const Segment* segments, int count, int64_t total,
                                                 const Update& update) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= total) return;
  int s = find_segment(segments, count, i);
  for (; i < total; i += stride) {
    while (segments[s].end <= i) ++s;
    const Segment& c = segments[s];
    update(c, i - c.begin);
  }
}

// The segments of `tensors` in order, end to end (an empty tensor keeps begin == end): fill(t, s) sets a segment's
// buffers and scalars, this sets begin and end from t.n.
template <typename Segment, typename Tensor, typename Fill>
std::vector<Segment> segments_of(const std::vector<Tensor>& tensors, const Fill& fill) {
  std::vector<Segment> segments;
  segments.reserve(tensors.size());
  int64_t begin = 0;
  for (const Tensor& t : tensors) {
    Segment s;
    fill(t, s);
    s.begin = begin;
    s.end = begin + (t.n > 0 ? t.n : 0);
    segments.push_back(s);
    begin = s.end;
  }
  return segments;
}

// Launches kernel(segments, count, total) over the whole index space; nothing when it is empty.
template <typename Segment>
void launch(void (*kernel)(const Segment*, int, int64_t), const Segment* segments, int count, int64_t total,
            cudaStream_t stream) {
  if (count <= 0 || total <= 0) return;
  cage::launch(kernel, dim3(blocks_for(total)), dim3(kThreads), 0, stream, segments, count, total);
}

// Copies host `segments` to `device_segments` on `stream` and launches; returns the copy's error (launch errors are
// left for cudaGetLastError()). The copy is from pageable memory, staged before cudaMemcpyAsync returns, so the host
// vector may go afterwards.
template <typename Segment>
cudaError_t upload_and_launch(void (*kernel)(const Segment*, int, int64_t), const std::vector<Segment>& segments,
                              Segment* device_segments, cudaStream_t stream) {
  if (segments.empty()) return cudaSuccess;
  const cudaError_t err = cudaMemcpyAsync(device_segments, segments.data(), segments.size() * sizeof(Segment),
                                          cudaMemcpyHostToDevice, stream);
  if (err != cudaSuccess) return err;
  multi_tensor::launch(kernel, device_segments, static_cast<int>(segments.size()), segments.back().end, stream);
  return cudaSuccess;
}

}  // namespace cage::CAGE_GPU_NAMESPACE::multi_tensor

// Fused relative-position window / grid attention on a GPU device (kernels/cuda/attention.cu): the Tensor-level
// checks, the launch geometry and the backward's scratch for the deterministic table-gradient reduction.
// relpos_attention_check (kernels/attention.h) has already run in the dispatching entry: qkv and table fit together.
#include "kernels/attention.h"
#include "kernels/cuda/attention.cuh"
#include "kernels/gpu/common.h"

namespace cage::CAGE_GPU_NAMESPACE {
namespace {

relpos_attention_shape attention_shape(const Tensor& qkv, const kernels::RelposAttentionParams& p) {
  relpos_attention_shape s;
  s.B = qkv.size(0);
  s.H = qkv.size(1);
  s.W = qkv.size(2);
  s.C = qkv.size(3) / 3;
  s.heads = p.heads;
  s.P = p.partition;
  s.grid = p.kind == kernels::AttentionPartition::grid;
  s.scale = static_cast<float>(p.scale);
  return s;
}

void check_shape(const Tensor& t, const Shape& want, const char* op, const char* name) {
  CAGE_CHECK(t.shape() == want, op, ": ", name, " must be ", shape_str(want), ", got ", shape_str(t.shape()));
}

}  // namespace

void relpos_attention_forward(const Tensor& qkv, const Tensor& table, const kernels::RelposAttentionParams& p,
                              const Tensor& out) {
  const char* n = "relpos_attention_forward";
  const relpos_attention_shape s = attention_shape(qkv, p);
  check_shape(out, {s.B, s.H, s.W, s.C}, n, "out");
  check_cuda(relpos_attention_forward(f32(qkv, n, "qkv"), f32(table, n, "table"), f32(out, n, "out"), s, stream()),
             n);
  check_launch(n);
}

void relpos_attention_backward(const Tensor& qkv, const Tensor& table, const Tensor& gout,
                               const kernels::RelposAttentionParams& p, const Tensor& gqkv, const Tensor& gtable) {
  const char* n = "relpos_attention_backward";
  const relpos_attention_shape s = attention_shape(qkv, p);
  check_shape(gout, {s.B, s.H, s.W, s.C}, n, "output gradient");
  if (gqkv.defined()) check_shape(gqkv, qkv.shape(), n, "qkv gradient");
  if (gtable.defined()) check_shape(gtable, table.shape(), n, "table gradient");
  if (!gqkv.defined() && !gtable.defined()) return;
  // One partial table per (batch, group), summed in a fixed order by a second kernel.
  Tensor scratch;
  if (gtable.defined()) scratch = device_empty({relpos_attention_backward_scratch(s)});
  check_cuda(relpos_attention_backward(f32(qkv, n, "qkv"), f32(table, n, "table"), f32(gout, n, "gout"),
                                       f32_or_null(gqkv, n, "gqkv"), f32_or_null(gtable, n, "gtable"),
                                       f32_or_null(scratch, n, "scratch"), s, stream()),
             n);
  check_launch(n);
}

}  // namespace cage::CAGE_GPU_NAMESPACE

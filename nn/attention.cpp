// relpos_attention with autograd: MaxViT's relative-position multi-head attention over window or grid
// partitions, fused (kernels/attention.h), with gradients for qkv and the bias table. The backward is
// a hand-written kernel, so this op is differentiable once (no double backward).
#include "core/autograd.h"
#include "kernels/attention.h"
#include "nn/functional.h"

namespace cage::nn {

Tensor relpos_attention(const Tensor& qkv_in, const Tensor& bias_table_in, const AttentionOptions& opt) {
  kernels::RelposAttentionParams p;
  p.kind = opt.kind == Partition::window ? kernels::AttentionPartition::window : kernels::AttentionPartition::grid;
  p.partition = opt.partition;
  p.heads = opt.heads;
  p.scale = opt.scale;
  kernels::relpos_attention_check(qkv_in, bias_table_in, p);
  Tensor qkv = qkv_in.contiguous(), table = bias_table_in.contiguous();
  Tensor out = Tensor::empty({qkv.size(0), qkv.size(1), qkv.size(2), qkv.size(3) / 3}, qkv.dtype(), qkv.device());
  kernels::relpos_attention_forward(qkv, table, p, out);
  Tensor qd = qkv.detach(), td = table.detach();
  bool gq = qkv.requires_grad(), gt = table.requires_grad();
  return record(out, "relpos_attention", {qkv, table}, [qd, td, p, gq, gt](const Tensor& g) {
    Tensor gqkv, gtable;
    if (gq) gqkv = Tensor::empty(qd.shape(), qd.dtype(), qd.device());
    if (gt) gtable = Tensor::empty(td.shape(), td.dtype(), td.device());
    kernels::relpos_attention_backward(qd, td, g.contiguous(), p, gqkv, gtable);
    return std::vector<Tensor>{gqkv, gtable};
  });
}

}  // namespace cage::nn

// nn::relpos_attention against torchvision's MaxViT attention (tools/reference/ref_attention.py): forward
// and both gradients for window and grid partitions, square and non-square maps, f32 and f64. Prints each
// case's max abs errors, and next to them how far torch's own float32 run is from the float64 reference.
#include <gtest/gtest.h>

#include <cstdio>

#include "nn/functional.h"
#include "support/reference.h"
#include "torch_case.h"

namespace cage::test {
namespace {

class TorchAttention : public DeviceTest {};

TEST_P(TorchAttention, MatchesTorchvision) {
  auto cases = device_cases("relpos_attention", 6);
  for (const ReferenceCase& rc : cases) {
    {
      // f32: MaxViT-like logits (|S| up to ~5) through a polynomial exp and float accumulation over N = 49
      // tokens; measured errors are at most ~1.5x torch's own float32 ones (printed), the tolerance leaves ~5x.
      TorchCase c(rc, {5e-6, 1e-5}, {1e-12, 1e-10});
      const auto& p = c.params();
      nn::AttentionOptions o;
      std::string kind = p.at("kind").get<std::string>();
      ASSERT_TRUE(kind == "window" || kind == "grid") << rc.name << ": kind " << kind;
      o.kind = kind == "window" ? nn::Partition::window : nn::Partition::grid;
      o.partition = p.at("partition").get<int64_t>();
      o.heads = p.at("heads").get<int64_t>();
      o.scale = p.at("scale").get<double>();
      Tensor qkv = c.leaf("qkv"), table = c.leaf("bias_table");
      c.run(nn::relpos_attention(qkv, table, o));
    }  // prints the case's errors
    if (rc.params.contains("torch_f32_max_abs")) {
      const auto& t = rc.params.at("torch_f32_max_abs");
      std::printf("[torch %s] %-44s  torch's own f32: out %.2e  grad.qkv %.2e  grad.bias_table %.2e\n",
                  device_name(device()), rc.name.c_str(), t.at("out").get<double>(), t.at("grad.qkv").get<double>(),
                  t.at("grad.bias_table").get<double>());
    }
  }
}

CAGE_INSTANTIATE_DEVICE_SUITE(TorchAttention);

}  // namespace
}  // namespace cage::test

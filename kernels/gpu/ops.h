// The GPU backends' Tensor-level ops, declared for both namespaces: cage::emu (the .cu kernels run by the emulator)
// and cage::cuda (the same kernels built by nvcc). kernels/dispatch.h routes a kernels:: call on a tensor of device
// emu or cuda here; kernels/gpu/*.cpp define them once, compiled once per backend.
#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"
#include "kernels/attention.h"
#include "kernels/conv.h"
#include "kernels/elementwise.h"
#include "kernels/optim.h"
#include "kernels/pool.h"

#define CAGE_GPU_OPS_NS emu
#include "kernels/gpu/ops.inc"
#undef CAGE_GPU_OPS_NS
#define CAGE_GPU_OPS_NS cuda
#include "kernels/gpu/ops.inc"
#undef CAGE_GPU_OPS_NS

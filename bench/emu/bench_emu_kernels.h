// Host launcher of the emulator benchmark's kernels (bench_emu_kernels.cu).
#pragma once

namespace cage_bench {
enum class bench_kernel { empty, one_barrier, tree_reduce, shuffle_reduce };
// in, out: device buffers of blocks * threads floats (tree_reduce uses 256 threads whatever `threads` says).
void launch_bench_kernel(bench_kernel k, int blocks, int threads, const float* in, float* out);
}  // namespace cage_bench

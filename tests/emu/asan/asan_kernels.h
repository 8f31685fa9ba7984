// Host launchers of the AddressSanitizer probe's kernels (asan_kernels.cu).
#pragma once

namespace cage_test {
void write_one_past_end(float* out, int n);  // writes out[0..n] inclusive
void dynamic_shared_overflow(float* out);  // 64 threads, 64 floats of dynamic shared memory, writes s[64]
void clean_reduce(const float* in, float* block_sums, int n);
void trap_after_barrier();
}  // namespace cage_test

// Controls and statistics of the CUDA emulator, for host code and tests (the CUDA-facing API is the runtime subset in
// kernels/emu/cuda_runtime_emu.h). Environment: CAGE_EMU_SERIAL=1 runs blocks one after another on the launching
// thread (a deterministic order); CAGE_EMU_STACK_KB sets the fiber stack size (default 64 KiB plus a guard page).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace cage::emu {

// Serial: every block of a launch runs in order on the calling thread. Parallel (the default): blocks are spread
// over the engine's thread pool (cage::parallel_for); results must not depend on which one is used.
void set_serial(bool serial);
bool serial();

struct Stats {
  uint64_t launches = 0;        // launches that ran (invalid configurations are not counted)
  uint64_t blocks = 0;          // blocks run
  uint64_t fibers_created = 0;  // fibers (and stacks) created over all OS threads; reused across blocks and launches
  uint64_t fiber_switches = 0;  // scheduler-to-fiber switches
};
Stats stats();

// The message of the last kernel that failed while running (trap, deadlock at a barrier, mismatched warp
// collective, an exception thrown by kernel code); empty when none has failed. cudaGetLastError() gives its code.
std::string last_failure();

// Device memory in use (bytes requested by live cudaMalloc / Storage allocations on Device::emu).
size_t device_bytes_in_use();

// Makes cage::allocator_for(Device::emu) return the emulator's device allocator. Done at start-up by a static
// initialiser of the library; calling it again is harmless (for binaries where that object file is not linked in).
void register_device_allocator();

}  // namespace cage::emu

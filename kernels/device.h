// Choosing and starting a device. The CPU is always there; `emu` (the CUDA emulator) whenever it is built in;
// `cuda` when the CUDA backend is built and a GPU is present at run time.
#pragma once
#include <string>

#include "core/device.h"

namespace cage::kernels {

// Makes `d` usable (allocator and data movement registered); idempotent. Error saying why when it cannot be.
void use_device(Device d);
// Whether `d` can be used, with the reason in `why` when not; starts it when it can.
bool try_use_device(Device d, std::string* why = nullptr);
// "cpu" | "emu" | "cuda" | "auto" as the binaries' --device takes it. "auto" is cuda when a GPU is usable, else cpu.
// "cuda" without a usable GPU says so on stderr and continues on the CPU. Other names are an Error.
Device select_device(const std::string& name);
std::string describe_device(Device d);
void synchronize(Device d);  // waits for the device's queued work (no-op on the CPU)  // one line for logs: "cuda: NVIDIA ... (sm_90, ...)", "cpu: 2 threads"

}  // namespace cage::kernels

// Where a tensor's memory lives. `emu` is the CUDA emulator's separate memory; `cuda` a real GPU.
#pragma once
#include <string>

namespace cage {

enum class Device { cpu, emu, cuda };

const char* device_name(Device d);
Device parse_device(const std::string& name);  // "cpu" | "emu" | "cuda"; anything else is an Error

}  // namespace cage

#include "kernels/device.h"

#include <cstdio>
#include <mutex>

#include "core/device_ops.h"
#include "core/thread_pool.h"
#include "kernels/dispatch.h"

namespace cage::kernels {

void no_backend(Device d, const char* op) {
  fail(op, ": device ", device_name(d), " is not in this build (",
       d == Device::cuda ? "configure with CAGE_CUDA=ON and nvcc on PATH" : "configure with CAGE_EMU=ON", ")");
}

namespace {

struct InstallState {
  std::once_flag once;
  bool ok = false;
  std::string why;
};

InstallState& state(Device d) {
  static InstallState states[3];
  return states[static_cast<int>(d)];
}

bool install(Device d, std::string& why) {
  switch (d) {
    case Device::cpu: return true;
    case Device::emu:
#if CAGE_HAVE_EMU
      return emu::install(why);
#else
      why = "the CUDA emulator is not in this build (configure with CAGE_EMU=ON)";
      return false;
#endif
    case Device::cuda:
#if CAGE_HAVE_CUDA
      return cuda::install(why);
#else
      why = "the CUDA backend is not in this build (configure with CAGE_CUDA=ON and nvcc on PATH)";
      return false;
#endif
  }
  return false;
}

}  // namespace

bool try_use_device(Device d, std::string* why) {
  InstallState& s = state(d);
  std::call_once(s.once, [&] { s.ok = install(d, s.why); });
  if (!s.ok && why) *why = s.why;
  return s.ok;
}

void use_device(Device d) {
  std::string why;
  CAGE_CHECK(try_use_device(d, &why), "device ", device_name(d), ": ", why);
}

Device select_device(const std::string& name) {
  if (name == "auto") return try_use_device(Device::cuda) ? Device::cuda : Device::cpu;
  Device d = parse_device(name);
  if (d == Device::cuda) {
    std::string why;
    if (!try_use_device(d, &why)) {
      std::fprintf(stderr, "cage: --device cuda: %s; running on the CPU\n", why.c_str());
      return Device::cpu;
    }
    return d;
  }
  use_device(d);
  return d;
}

void synchronize(Device d) { CAGE_GPU_DISPATCH(d, synchronize); }

std::string describe_device(Device d) {
  switch (d) {
    case Device::cpu: return "cpu: " + std::to_string(num_threads()) + " threads";
    case Device::emu:
#if CAGE_HAVE_EMU
      return "emu: " + emu::device_description();
#else
      break;
#endif
    case Device::cuda:
#if CAGE_HAVE_CUDA
      return "cuda: " + cuda::device_description();
#else
      break;
#endif
  }
  return device_name(d);
}

}  // namespace cage::kernels

#pragma once
#include <string>

namespace cage::cuda {
// Number of CUDA devices visible at run time; 0 with the runtime's reason in *why when there are none.
int device_count(std::string* why = nullptr);
}  // namespace cage::cuda

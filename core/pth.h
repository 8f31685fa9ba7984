// PyTorch checkpoints written by torch.save (the zip format of PyTorch >= 1.6), read as data.
//
// The archive holds <prefix>/data.pkl (a pickle), <prefix>/data/<key> (raw little-endian storage bytes) and
// <prefix>/version; <prefix> is whatever directory data.pkl sits in ("archive", the saved file's basename).
// The pickle is evaluated by a real stack machine (core/pickle.h) that accepts only the globals a state_dict
// needs (collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter[_with_state] and the
// torch.<T>Storage types), like torch.load(weights_only=True): anything else is an Error naming the global.
//
// The top-level object is a dict of tensors, or a dict holding one under "state_dict" or "model" (training
// scripts save either); tensors come back in the dict's order. Element types: Float -> f32, Double -> f64,
// Long -> i64, Byte -> u8, Bool -> u8 (0/1); Half and BFloat16 -> f32 (exact: every value of both is a float),
// so every loaded tensor supports host arithmetic (bf16 compute converts from f32 later); Int, Short, Char ->
// i64. Every tensor is contiguous: one covering its whole storage keeps it (two names for one whole storage,
// like tied weights, still share it), a strided or partial view (slices of one storage, a transposed tensor)
// is copied out, so slices saved as views of one storage no longer alias each other.
// A truncated or corrupt file is an Error naming the file and the problem.
#pragma once
#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace cage {

struct PthFile {
  std::vector<std::pair<std::string, Tensor>> tensors;  // state_dict order
  // Scalar entries of the top-level dict (bool, int, float, str, None), printed as Python would:
  // {"state_dict": ..., "epoch": 3} gives info["epoch"] == "3".
  std::map<std::string, std::string> info;
  std::string source;  // the path (or name) it was read from

  bool has(const std::string& name) const;
  const Tensor& get(const std::string& name) const;  // Error naming the file when missing
};

PthFile load_pth(const std::string& path);
// The same from bytes in memory (not copied; must outlive the call); `name` labels errors.
PthFile load_pth_from_memory(const void* data, size_t size, const std::string& name);

}  // namespace cage

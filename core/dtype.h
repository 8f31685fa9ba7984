// Element types of a tensor and a switch that instantiates code per type.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace cage {

enum class DType : uint8_t { f32, f64, i64, u8, bf16 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "f32", "f64", ...
bool dtype_is_floating(DType t);

template <typename T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::i64; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::u8; };

}  // namespace cage

// Runs the body with `scalar_t` bound to float or double; other types are an error naming `what`.
#define CAGE_DISPATCH_FLOAT(dtype, what, ...)                                                  \
  [&] {                                                                                        \
    switch (dtype) {                                                                           \
      case ::cage::DType::f32: { using scalar_t = float; return __VA_ARGS__(); }               \
      case ::cage::DType::f64: { using scalar_t = double; return __VA_ARGS__(); }              \
      default:                                                                                 \
        throw ::cage::Error(std::string(what) + ": expected f32 or f64, got " +               \
                            ::cage::dtype_name(dtype));                                        \
    }                                                                                          \
  }()

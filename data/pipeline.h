// Pipeline: the per-sample image transforms, built from a one-line text spec so a run's augmentation is one
// readable string (in a config, on a command line, in a run log) instead of code:
//
//   hflip(0.5) grayscale(0.01) rotate(10) jitter(0.2,0.2,0.2,0.1) perspective(0.2,0.5) normalize(imagenet)
//   erase(0.5,0.02,0.2,0.3,3.3)
//
// Steps are separated by spaces; arguments are numbers, or the words shown below. 8-bit steps come first, then
// exactly one conversion to float pixels (normalize or to_tensor), then float steps:
//   hflip(p = 0.5)                            RandomHorizontalFlip
//   grayscale(p)                              RandomGrayscale (keeps the channel count)
//   rotate(degrees[, interp = nearest])       RandomRotation(degrees): angle uniform in [-degrees, degrees], fill 0
//   jitter(b[, c[, s[, h]]])                  ColorJitter(b, c, s, h); missing arguments are 0 (off)
//   perspective(distortion[, p = 0.5[, interp = bilinear]])   RandomPerspective
//   resize(size[, interp = bilinear])         shorter side to size; resize(h, w[, interp]) to exactly h x w
//   center_crop(size) | center_crop(h, w)
//   to_tensor                                 ToTensor (x / 255)
//   normalize(imagenet) | normalize(m, s) | normalize(m0, m1, m2, s0, s1, s2)    ToTensor + Normalize
//   erase(p, scale_lo, scale_hi, ratio_lo, ratio_hi)    RandomErasing(value="random")
// interp is nearest, bilinear or bicubic. A bad spec is an Error naming the spec, the offending token and its
// 1-based column.
//
// apply() is const and keeps no state: one Pipeline serves every loader thread. Its randomness comes from the
// Philox passed in (the loader gives each sample its own stream); the number of draws depends on the sample.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/philox.h"
#include "data/image.h"

namespace cage::data {

// CAGE's training augmentation (spec/cage-protocol.md) and its evaluation transform. On AffectNet's 224 x 224
// release the resize and crop of the eval spec are the identity, leaving the paper's ToTensor + Normalize; on other
// sizes (EMOTIC crops, photo folders) they bring the image to the model's 224 x 224 as torchvision's
// Resize(224) + CenterCrop(224) would.
inline constexpr const char* kPaperTrainSpec =
    "hflip(0.5) grayscale(0.01) rotate(10) jitter(0.2,0.2,0.2,0.1) perspective(0.2,0.5) normalize(imagenet) "
    "erase(0.5,0.02,0.2,0.3,3.3)";
inline constexpr const char* kPaperEvalSpec = "resize(224) center_crop(224) normalize(imagenet)";

// The names a spec may use, in the order of the table above.
const std::vector<std::string>& pipeline_step_names();

class Pipeline {
 public:
  // Parses and validates `spec` (Error on a bad one; see the header comment).
  explicit Pipeline(std::string_view spec);
  ~Pipeline();
  Pipeline(const Pipeline&);
  Pipeline& operator=(const Pipeline&);
  Pipeline(Pipeline&&) noexcept;
  Pipeline& operator=(Pipeline&&) noexcept;

  FloatImage apply(const Image& image, Philox& rng) const;

  // One line per step: its number, the name as written, what it does with all parameters resolved, e.g.
  // "3. rotate(10)  RandomRotation(degrees=[-10, 10], interpolation=nearest, fill=0)".
  std::string describe() const;
  const std::string& spec() const { return spec_; }
  size_t size() const;                    // number of steps
  bool random() const;                    // whether any step draws from the Philox
  std::vector<std::string> step_names() const;  // canonical step names, in order

  struct Step;  // defined in pipeline.cpp

 private:
  std::string spec_;
  std::vector<Step> steps_;
};

}  // namespace cage::data

// Video frames for inference: a file or a camera read with OpenCV's VideoCapture, delivered as 8-bit RGB images
// (the pixels the rest of the pipeline expects) with their frame number and timestamp. Like face_detect.h, the
// header does not include OpenCV; without it, opening a source is an Error saying the build lacks video input.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "data/image.h"

namespace cage::data {

struct VideoFrame {
  Image image;          // RGB
  int64_t index = 0;    // 0-based frame number since the source was opened
  double seconds = 0;   // timestamp: the container's (files), time since opening (cameras)
};

class VideoSource {
 public:
  static VideoSource open_file(const std::string& path);  // Error naming the file when it cannot be opened
  static VideoSource open_camera(int device);             // Error naming the device
  ~VideoSource();
  VideoSource(VideoSource&&) noexcept;
  VideoSource& operator=(VideoSource&&) noexcept;

  // The next frame, skipping `skip` frames first (grabbed, not decoded: --every K costs little for the skipped
  // frames). False at the end of the stream or when the device stops delivering.
  bool read(VideoFrame& frame, int64_t skip = 0);

  const std::string& name() const { return name_; }
  double fps() const;            // 0 when the source does not say
  int64_t frame_count() const;   // -1 for cameras and when the container does not say
  int64_t width() const;
  int64_t height() const;

 private:
  VideoSource();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string name_;
};

}  // namespace cage::data

// Video input through OpenCV's VideoCapture (videoio), or stubs reporting that the build has no OpenCV.
#include "data/opencv/video_source.h"

#include <chrono>
#include <cstring>

#include "core/error.h"
#include "data/opencv/face_detect.h"  // quiet_opencv_logging

#if CAGE_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#endif

namespace cage::data {

#if CAGE_HAVE_OPENCV

struct VideoSource::Impl {
  cv::VideoCapture capture;
  bool camera = false;
  int64_t next_index = 0;  // number of the frame the next grab returns
  std::chrono::steady_clock::time_point opened = std::chrono::steady_clock::now();
};

VideoSource::VideoSource() : impl_(std::make_unique<Impl>()) { quiet_opencv_logging(); }

VideoSource VideoSource::open_file(const std::string& path) {
  VideoSource v;
  v.name_ = path;
  bool ok = false;
  try {
    ok = v.impl_->capture.open(path);
  } catch (const cv::Exception& e) {
    fail("video ", path, ": ", e.what());
  }
  CAGE_CHECK(ok && v.impl_->capture.isOpened(), "cannot open the video ", path,
             " (missing, unreadable, or a format OpenCV's backends do not decode)");
  return v;
}

VideoSource VideoSource::open_camera(int device) {
  VideoSource v;
  v.name_ = "camera " + std::to_string(device);
  v.impl_->camera = true;
  bool ok = false;
  try {
    ok = v.impl_->capture.open(device);
  } catch (const cv::Exception& e) {
    fail("camera ", device, ": ", e.what());
  }
  CAGE_CHECK(ok && v.impl_->capture.isOpened(), "cannot open camera ", device, " (no such device, or it is busy)");
  v.impl_->opened = std::chrono::steady_clock::now();
  return v;
}

bool VideoSource::read(VideoFrame& frame, int64_t skip) {
  cv::VideoCapture& cap = impl_->capture;
  for (int64_t i = 0; i < skip; ++i) {
    if (!cap.grab()) return false;
    ++impl_->next_index;
  }
  cv::Mat bgr;
  if (!cap.read(bgr) || bgr.empty()) return false;
  frame.index = impl_->next_index++;
  const double rate = fps();
  if (impl_->camera) {
    frame.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - impl_->opened).count();
  } else if (rate > 0) {
    frame.seconds = static_cast<double>(frame.index) / rate;  // exact for constant-rate video, the common case
  } else {
    frame.seconds = cap.get(cv::CAP_PROP_POS_MSEC) / 1000.0;
  }
  cv::Mat rgb;
  if (bgr.channels() == 1) cv::cvtColor(bgr, rgb, cv::COLOR_GRAY2RGB);
  else if (bgr.channels() == 4) cv::cvtColor(bgr, rgb, cv::COLOR_BGRA2RGB);
  else cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  CAGE_CHECK(rgb.depth() == CV_8U, name_, ": frame ", frame.index, " is not 8-bit");
  frame.image = Image(rgb.rows, rgb.cols, 3);
  const size_t row_bytes = static_cast<size_t>(rgb.cols) * 3;
  for (int y = 0; y < rgb.rows; ++y) std::memcpy(frame.image.row(y), rgb.ptr<uint8_t>(y), row_bytes);
  return true;
}

double VideoSource::fps() const {
  const double f = impl_->capture.get(cv::CAP_PROP_FPS);
  return f > 0 && f < 1e4 ? f : 0;
}
int64_t VideoSource::frame_count() const {
  if (impl_->camera) return -1;
  const double n = impl_->capture.get(cv::CAP_PROP_FRAME_COUNT);
  return n > 0 ? static_cast<int64_t>(n) : -1;
}
int64_t VideoSource::width() const { return static_cast<int64_t>(impl_->capture.get(cv::CAP_PROP_FRAME_WIDTH)); }
int64_t VideoSource::height() const { return static_cast<int64_t>(impl_->capture.get(cv::CAP_PROP_FRAME_HEIGHT)); }

#else  // no OpenCV in this build

struct VideoSource::Impl {};

VideoSource::VideoSource() = default;
static VideoSource unavailable() {
  fail("video input needs OpenCV, and this build has none (install libopencv-dev and reconfigure with "
       "-DCAGE_OPENCV=ON)");
}
VideoSource VideoSource::open_file(const std::string&) { return unavailable(); }
VideoSource VideoSource::open_camera(int) { return unavailable(); }
bool VideoSource::read(VideoFrame&, int64_t) { return false; }
double VideoSource::fps() const { return 0; }
int64_t VideoSource::frame_count() const { return -1; }
int64_t VideoSource::width() const { return 0; }
int64_t VideoSource::height() const { return 0; }

#endif

VideoSource::~VideoSource() = default;
VideoSource::VideoSource(VideoSource&&) noexcept = default;
VideoSource& VideoSource::operator=(VideoSource&&) noexcept = default;

}  // namespace cage::data

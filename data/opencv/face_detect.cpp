// Haar cascade face detection through OpenCV (objdetect + imgproc), or stubs reporting that the build has no OpenCV.
#include "data/opencv/face_detect.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "core/error.h"

#if CAGE_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>
#include <opencv2/core/utils/logger.hpp>
#endif

namespace cage::data {

std::string default_face_cascade() {
  if (const char* env = std::getenv("CAGE_FACE_CASCADE"); env && *env) return env;
  return "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml";
}

FaceBox enlarge_face_box(const FaceBox& box, double margin, int64_t image_width, int64_t image_height) {
  const double cx = box.x + box.width / 2.0, cy = box.y + box.height / 2.0;
  const double half_w = box.width * (0.5 + margin), half_h = box.height * (0.5 + margin);
  const int64_t x1 = std::max<int64_t>(0, std::llround(cx - half_w));
  const int64_t y1 = std::max<int64_t>(0, std::llround(cy - half_h));
  const int64_t x2 = std::min<int64_t>(image_width, std::llround(cx + half_w));
  const int64_t y2 = std::min<int64_t>(image_height, std::llround(cy + half_h));
  CAGE_CHECK(x2 > x1 && y2 > y1, "face box (", box.x, ", ", box.y, ", ", box.width, " x ", box.height,
             ") lies outside the ", image_width, " x ", image_height, " image");
  return {x1, y1, x2 - x1, y2 - y1};
}

#if CAGE_HAVE_OPENCV

bool opencv_available() { return true; }

void quiet_opencv_logging() {
  if (const char* env = std::getenv("OPENCV_LOG_LEVEL"); env && *env) return;
  cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
}

struct FaceDetector::Impl {
  cv::CascadeClassifier cascade;
  FaceDetectorOptions options;
};

FaceDetector::FaceDetector(const std::string& cascade_path, FaceDetectorOptions options)
    : impl_(std::make_unique<Impl>()), path_(cascade_path) {
  quiet_opencv_logging();
  impl_->options = options;
  bool loaded = false;
  try {
    loaded = impl_->cascade.load(cascade_path);
  } catch (const cv::Exception& e) {
    fail("face cascade ", cascade_path, ": ", e.what());
  }
  CAGE_CHECK(loaded, "cannot load the face cascade ", cascade_path,
             " (Debian: apt-get install opencv-data; or set CAGE_FACE_CASCADE / --cascade)");
}

std::vector<FaceBox> FaceDetector::detect(const Image& image) const {
  CAGE_CHECK(image.channels == 1 || image.channels == 3, "face detection needs a gray or RGB image, got ",
             image.channels, " channels");
  if (image.height == 0 || image.width == 0) return {};
  // cv::Mat over our pixels (no copy); const_cast only because cv::Mat has no const view type.
  cv::Mat src(static_cast<int>(image.height), static_cast<int>(image.width), image.channels == 3 ? CV_8UC3 : CV_8UC1,
              const_cast<uint8_t*>(image.pixels.data()));
  cv::Mat gray;
  if (image.channels == 3) cv::cvtColor(src, gray, cv::COLOR_RGB2GRAY);
  else gray = src.clone();
  cv::equalizeHist(gray, gray);
  const FaceDetectorOptions& o = impl_->options;
  const int shorter = static_cast<int>(std::min(image.height, image.width));
  const int min_side = std::max(24, static_cast<int>(std::lround(o.min_size * shorter)));
  std::vector<cv::Rect> found;
  if (shorter >= min_side)
    impl_->cascade.detectMultiScale(gray, found, o.scale_factor, o.min_neighbors, 0, cv::Size(min_side, min_side));
  std::vector<FaceBox> boxes;
  for (const cv::Rect& r : found) boxes.push_back({r.x, r.y, r.width, r.height});
  std::sort(boxes.begin(), boxes.end(), [](const FaceBox& a, const FaceBox& b) {
    return a.x != b.x ? a.x < b.x : a.y < b.y;
  });
  return boxes;
}

#else  // no OpenCV in this build

bool opencv_available() { return false; }
void quiet_opencv_logging() {}

struct FaceDetector::Impl {};

FaceDetector::FaceDetector(const std::string& cascade_path, FaceDetectorOptions) : path_(cascade_path) {
  fail("face detection needs OpenCV, and this build has none (install libopencv-dev and reconfigure with "
       "-DCAGE_OPENCV=ON)");
}

std::vector<FaceBox> FaceDetector::detect(const Image&) const { return {}; }

#endif

FaceDetector::~FaceDetector() = default;
FaceDetector::FaceDetector(FaceDetector&&) noexcept = default;
FaceDetector& FaceDetector::operator=(FaceDetector&&) noexcept = default;

}  // namespace cage::data

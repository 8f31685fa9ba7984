// Face boxes for inference on photos and video frames: OpenCV's Haar cascade frontal-face detector
// (haarcascade_frontalface_default.xml, Debian package opencv-data), and the box arithmetic that turns a detection
// into the crop the model sees. The header does not include OpenCV: a build without it (CMake option CAGE_OPENCV
// off, or no opencv4 found) still compiles and links, and constructing a FaceDetector is then an Error saying so.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/image.h"

namespace cage::data {

struct FaceBox {
  int64_t x = 0, y = 0, width = 0, height = 0;  // pixels, top-left corner and size
};

// Whether this build has OpenCV (face detection and video input).
bool opencv_available();
// Silences OpenCV's own log lines (a missing camera logs backend warnings before our error says the same thing in
// one line), unless the user asked for them with OPENCV_LOG_LEVEL. Called by FaceDetector and VideoSource.
void quiet_opencv_logging();

// Where Debian's opencv-data puts the cascade; the CAGE_FACE_CASCADE environment variable overrides it.
std::string default_face_cascade();

struct FaceDetectorOptions {
  double scale_factor = 1.1;  // image pyramid step of detectMultiScale
  int min_neighbors = 5;      // overlapping detections needed to keep a face: fewer means more false faces
  // Smallest face, as a share of the image's shorter side (and never under 24 px, the cascade's window): tiny
  // faces give crops far below the model's 224 x 224 input, whose upscaled pixels it never saw in training.
  double min_size = 0.08;
};

class FaceDetector {
 public:
  // Loads the cascade (Error naming the file when it is missing or not a cascade).
  explicit FaceDetector(const std::string& cascade_path = default_face_cascade(), FaceDetectorOptions options = {});
  ~FaceDetector();
  FaceDetector(FaceDetector&&) noexcept;
  FaceDetector& operator=(FaceDetector&&) noexcept;

  // Faces in an 8-bit RGB or gray image, sorted left to right (then top to bottom) so that the order is stable
  // from one frame to the next. Runs on the histogram-equalised grayscale image, as OpenCV's samples do.
  std::vector<FaceBox> detect(const Image& image) const;
  const std::string& cascade_path() const { return path_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
};

// The crop for a detected face: Haar boxes are tight (brows to chin), AffectNet's face crops have a margin of
// forehead, ears and chin, so the box grows by `margin` x its size on every side about its centre, then is
// clipped to the image (Error when nothing is left).
FaceBox enlarge_face_box(const FaceBox& box, double margin, int64_t image_width, int64_t image_height);

}  // namespace cage::data

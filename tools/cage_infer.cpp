// cage_infer: facial expression and valence/arousal for photos, folders of photos, video files and cameras, with a
// CAGE checkpoint (ours, or a torchvision state_dict from the paper's code).
//
//   cage_infer --weights W IMAGE_OR_FOLDER... [--json] [--faces | --no-faces] [--classes 8|7]
//   cage_infer --weights W --video FILE | --camera N [--every K] [--json] [--faces | --no-faces]
//   cage_infer --weights W --tensor FILE.safetensors:KEY --dump OUT.safetensors   (raw tensor; stage outputs)
//
// The head is read from its width: 10 = 8 AffectNet logits + valence + arousal, 9 = 7 + V + A, 8 or 7 = logits
// only, 2 = valence/arousal only (the VA model). The outputs are never sliced by any other rule (the paper's webcam
// demo slices a 10-output head as if it had 9); --classes only asserts the class count and refuses a head that
// disagrees. Each crop goes through the paper's eval transform (resize + center crop + ImageNet normalisation).
//
// Faces: --faces runs OpenCV's Haar cascade on every image or frame and gives one result per face (the box grows
// by --face-margin on each side, is clipped to the image and cropped); --no-faces classifies the whole image. The
// default (auto) treats an image whose sides differ by at most 10% as a face crop (AffectNet's crops are square)
// and runs the detector on the others. An image or frame in which the detector finds no face gives no result and
// is reported as such.
//
// Output: a table, or with --json one JSON document (results streamed as they come, so a long video shows
// progress). Unreadable images are reported on stderr and skipped; the exit status is 0 when at least one input
// was read, 1 with one line saying why when none was. Ctrl-C stops after the current image or frame and still
// closes the output; the status is then 130, except for --camera, whose normal end it is (0).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/autograd.h"
#include "core/safetensors.h"
#include "core/thread_pool.h"
#include "data/dataset.h"
#include "data/decode.h"
#include "data/opencv/face_detect.h"
#include "data/opencv/video_source.h"
#include "data/pipeline.h"
#include "data/transforms_geometric.h"
#include "kernels/device.h"
#include "models/checkpoint.h"

using namespace cage;
namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace {

std::atomic<bool> g_interrupted{false};
void on_sigint(int) {
  g_interrupted = true;
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the process at once
}

// What the last Linear's outputs mean.
struct Head {
  int64_t outputs = 0;
  std::vector<std::string> classes;  // names of the logits, empty when the head has none
  bool valence_arousal = false;      // the last two outputs
  std::string describe() const {
    std::string s = classes.empty() ? "" : std::to_string(classes.size()) + " expression logits";
    if (valence_arousal) s += std::string(s.empty() ? "" : " + ") + "valence, arousal";
    return s + " (" + std::to_string(outputs) + " outputs)";
  }
};

Head interpret_head(int64_t outputs, int64_t classes_flag) {
  Head h;
  h.outputs = outputs;
  int64_t k = -1;
  if (classes_flag > 0) {
    if (outputs == classes_flag) k = classes_flag;
    else if (outputs == classes_flag + 2) k = classes_flag, h.valence_arousal = true;
    else if (outputs == 2) k = 0, h.valence_arousal = true;
    else fail("the checkpoint's head has ", outputs, " outputs, which is not ", classes_flag, " expression logits (",
              classes_flag, ") or ", classes_flag, " logits + valence, arousal (", classes_flag + 2,
              "); refusing to slice it as --classes ", classes_flag, " says");
  } else if (outputs == 10 || outputs == 9) {
    k = outputs - 2, h.valence_arousal = true;
  } else if (outputs == 8 || outputs == 7) {
    k = outputs;
  } else if (outputs == 2) {
    k = 0, h.valence_arousal = true;
  } else if (outputs == 29) {
    fail("the checkpoint is an EMOTIC model (26 categories + valence, arousal, dominance) for body crops, not "
         "faces; evaluate it with cage_eval --data emotic:...");
  } else {
    fail("the checkpoint's head has ", outputs, " outputs; a CAGE face model has 10 (8 expressions + valence, "
         "arousal), 9 (7 + valence, arousal), 8 or 7 (expressions) or 2 (valence, arousal)");
  }
  for (int64_t c = 0; c < k; ++c) h.classes.push_back(data::kAffectNetClasses[c]);
  return h;
}

struct Where {  // which image or frame a result comes from
  std::string file;
  int64_t frame = -1;  // -1 for still images
  double seconds = 0;
  std::string label() const {
    if (frame < 0) return file;
    char buf[64];
    std::snprintf(buf, sizeof buf, " #%lld %.2fs", (long long)frame, seconds);
    return file + buf;
  }
  void to_json(ojson& j) const {
    j["file"] = file;
    if (frame >= 0) j["frame"] = frame, j["time"] = seconds;
  }
};

struct Prediction {
  Where where;
  std::optional<data::FaceBox> face;  // none: the whole image
  std::vector<double> probabilities;  // softmax of the logits
  int64_t best = -1;
  double valence = NAN, arousal = NAN;
};

// Streams the results as a table or as one JSON document.
class Report {
 public:
  Report(bool json, const ojson& header) : json_(json) {
    if (json_) {
      std::printf("{\n");
      for (const auto& [key, value] : header.items()) std::printf("  \"%s\": %s,\n", key.c_str(), value.dump().c_str());
      std::printf("  \"results\": [");
    } else {
      for (const auto& [key, value] : header.items())
        std::printf("%s: %s\n", key.c_str(), value.is_string() ? value.get<std::string>().c_str() : value.dump().c_str());
      std::printf("\n%-34s %-22s %-20s %-44s %8s %8s\n", "image", "face (x,y,w,h)", "expression", "top-3", "valence",
                  "arousal");
    }
    std::fflush(stdout);
  }

  void result(const Prediction& p, const Head& head) {
    ++results_;
    if (json_) {
      ojson j;
      p.where.to_json(j);
      j["face"] = p.face ? ojson{{"x", p.face->x}, {"y", p.face->y}, {"width", p.face->width},
                                 {"height", p.face->height}}
                         : ojson(nullptr);
      ojson probs = ojson::object();
      for (size_t c = 0; c < p.probabilities.size(); ++c) probs[head.classes[c]] = p.probabilities[c];
      j["class"] = p.best >= 0 ? ojson(head.classes[p.best]) : ojson(nullptr);
      j["probability"] = p.best >= 0 ? ojson(p.probabilities[p.best]) : ojson(nullptr);
      j["probabilities"] = p.best >= 0 ? probs : ojson(nullptr);
      j["valence"] = head.valence_arousal ? ojson(p.valence) : ojson(nullptr);
      j["arousal"] = head.valence_arousal ? ojson(p.arousal) : ojson(nullptr);
      std::printf("%s\n    %s", results_ > 1 ? "," : "", j.dump().c_str());
    } else {
      std::string face = "-", expr = "-", top;
      if (p.face)
        face = std::to_string(p.face->x) + "," + std::to_string(p.face->y) + "," + std::to_string(p.face->width) +
               "," + std::to_string(p.face->height);
      if (p.best >= 0) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%-9s %.3f", head.classes[p.best].c_str(), p.probabilities[p.best]);
        expr = buf;
        std::vector<size_t> order(p.probabilities.size());
        for (size_t c = 0; c < order.size(); ++c) order[c] = c;
        std::stable_sort(order.begin(), order.end(),
                         [&](size_t a, size_t b) { return p.probabilities[a] > p.probabilities[b]; });
        for (size_t r = 0; r < std::min<size_t>(3, order.size()); ++r) {
          std::snprintf(buf, sizeof buf, "%s%s %.3f", r ? ", " : "", head.classes[order[r]].c_str(),
                        p.probabilities[order[r]]);
          top += buf;
        }
      }
      std::string va = head.valence_arousal ? "" : "       -        -";
      if (head.valence_arousal) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%8.3f %8.3f", p.valence, p.arousal);
        va = buf;
      }
      std::printf("%-34s %-22s %-20s %-44s %s\n", p.where.label().c_str(), face.c_str(), expr.c_str(), top.c_str(),
                  va.c_str());
    }
    std::fflush(stdout);
  }

  void no_face(const Where& w, const std::string& hint) {
    ojson j;
    w.to_json(j);
    no_face_.push_back(j);
    if (!json_) std::printf("%-34s no face found%s\n", w.label().c_str(), hint.c_str());
    std::fflush(stdout);
  }

  void error(const std::string& what, const std::string& message) {
    errors_.push_back({{"file", what}, {"error", message}});
    std::fprintf(stderr, "cage_infer: skipped: %s\n", message.c_str());
  }

  void finish(const ojson& summary) {
    if (json_) {
      std::printf("\n  ],\n  \"no_face\": %s,\n  \"errors\": %s,\n  \"summary\": %s\n}\n", no_face_.dump().c_str(),
                  errors_.dump().c_str(), summary.dump().c_str());
    } else {
      std::printf("\nresults: %lld", (long long)results_);
      if (!no_face_.empty()) std::printf(", without a face: %zu", no_face_.size());
      if (!errors_.empty()) std::printf(", skipped (unreadable): %zu", errors_.size());
      std::printf("\n");
    }
    std::fflush(stdout);
  }

  int64_t results() const { return results_; }
  size_t no_faces() const { return no_face_.size(); }
  size_t errors() const { return errors_.size(); }
  const ojson& error_list() const { return errors_; }

 private:
  bool json_;
  int64_t results_ = 0;
  ojson no_face_ = ojson::array(), errors_ = ojson::array();
};

enum class FaceMode { automatic, on, off };

// Everything one image or frame needs: the model, its transform, the detector.
struct Inference {
  models::MaxVit* model = nullptr;
  Head head;
  data::Pipeline pipeline{data::kPaperEvalSpec};
  FaceMode faces = FaceMode::automatic;
  std::optional<data::FaceDetector> detector;  // created on first use
  std::string cascade;
  double margin = 0.2;
  Report* report = nullptr;
  bool warned_no_opencv = false;

  static bool square_enough(const data::Image& im) {
    return std::abs(im.width - im.height) <= 0.1 * std::max(im.width, im.height);
  }

  void run(const data::Image& image, const Where& where) {
    std::vector<std::optional<data::FaceBox>> boxes;
    bool detect = faces == FaceMode::on || (faces == FaceMode::automatic && !square_enough(image));
    if (detect && faces == FaceMode::automatic && !data::opencv_available()) {
      if (!warned_no_opencv)
        std::fprintf(stderr, "cage_infer: this build has no OpenCV: faces are not detected, images are classified whole\n");
      warned_no_opencv = true, detect = false;
    }
    if (detect) {
      if (!detector) detector.emplace(cascade);
      for (const data::FaceBox& b : detector->detect(image))
        boxes.emplace_back(data::enlarge_face_box(b, margin, image.width, image.height));
      if (boxes.empty()) {
        report->no_face(where, faces == FaceMode::automatic ? " (--no-faces classifies the whole image)" : "");
        return;
      }
    } else {
      boxes.emplace_back(std::nullopt);
    }
    Philox rng(0);  // the eval transform draws nothing
    std::vector<float> batch;
    int64_t h = 0, w = 0, c = 0;
    for (const auto& box : boxes) {
      data::FloatImage x = pipeline.apply(
          box ? data::crop_clipped(image, box->x, box->y, box->x + box->width, box->y + box->height) : image, rng);
      h = x.height, w = x.width, c = x.channels;
      batch.insert(batch.end(), x.values.begin(), x.values.end());
    }
    Tensor in = Tensor::from_vector(batch, {static_cast<int64_t>(boxes.size()), h, w, c});
    Tensor out = model->forward(in.to(model->device())).to(Device::cpu).contiguous();
    CAGE_CHECK(out.dim() == 2 && out.size(1) == head.outputs, "the model returned ", shape_str(out.shape()));
    const float* o = out.data<float>();
    const int64_t k = static_cast<int64_t>(head.classes.size());
    for (size_t i = 0; i < boxes.size(); ++i) {
      const float* row = o + i * head.outputs;
      Prediction p{where, boxes[i], {}, -1, NAN, NAN};
      if (k > 0) {
        // Softmax over the logits only: the V and A outputs that follow them are regression values, not scores.
        const double top = *std::max_element(row, row + k);
        double sum = 0;
        for (int64_t j = 0; j < k; ++j) sum += p.probabilities.emplace_back(std::exp(row[j] - top));
        for (double& v : p.probabilities) v /= sum;
        p.best = std::max_element(p.probabilities.begin(), p.probabilities.end()) - p.probabilities.begin();
      }
      if (head.valence_arousal) p.valence = row[k], p.arousal = row[k + 1];
      report->result(p, head);
    }
  }
};

bool is_image_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return std::tolower(ch); });
  for (const char* e : {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".ppm", ".pgm", ".pnm", ".tga"})
    if (ext == e) return true;
  return false;
}

// The files of a folder with image extensions, sorted by name (not recursive).
std::vector<std::string> list_images(const std::string& folder) {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(folder))
    if (entry.is_regular_file() && is_image_name(entry.path())) files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

int run_tensor_dump(const std::string& weights, const std::string& tensor_spec, const std::string& dump, Device dev) {
  size_t colon = tensor_spec.rfind(':');
  CAGE_CHECK(colon != std::string::npos, "--tensor expects FILE.safetensors:KEY, got '", tensor_spec, "'");
  TensorFile f = load_safetensors(tensor_spec.substr(0, colon));
  Tensor x = f.get(tensor_spec.substr(colon + 1));
  CAGE_CHECK(x.dim() == 4 && x.dtype() == DType::f32, "input must be a float32 (N, C, H, W) tensor, got ", describe(x));

  models::LoadedWeights w = models::load_weights(weights);
  w.config.input_size = x.size(2);
  models::MaxVit model(w.config);
  model.load_state_dict(w.state);
  model.to(dev);
  model.eval();
  std::printf("model: %s\n", w.config.summary().c_str());

  std::vector<std::pair<std::string, Tensor>> outputs;
  NoGradGuard no_grad;
  Tensor logits = model.forward(x.permute({0, 2, 3, 1}).contiguous().to(dev), [&](const std::string& name,
                                                                                   const Tensor& t) {
    if (name.find('.') != std::string::npos) return;  // stem, stageN, pooled, pre_logits; not per-layer outputs
    const Tensor h = t.to(Device::cpu);
    outputs.emplace_back(name, h.dim() == 4 ? h.permute({0, 3, 1, 2}).contiguous() : h);
  });
  save_safetensors(dump, outputs, {{"weights", weights}, {"input", tensor_spec}, {"layout", "NCHW"}});
  std::printf("logits %s written to %s with %zu tensors\n", shape_str(logits.shape()).c_str(), dump.c_str(),
              outputs.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Facial expression and valence/arousal of photos, folders, videos and cameras with a CAGE checkpoint"};
  std::string weights, tensor_spec, dump, device = "cpu", pipeline_spec, cascade = data::default_face_cascade();
  std::vector<std::string> inputs, videos;
  int threads = 0, camera = -1;
  int64_t classes = 0, every = 1, input_size = 0;
  double margin = 0.2;
  bool json = false, faces_on = false, faces_off = false;
  app.add_option("--weights", weights, "checkpoint (.pth from torch.save, or .safetensors)")
      ->required()->check(CLI::ExistingFile);
  app.add_option("inputs", inputs, "image files and folders of images (sorted; not recursive)");
  app.add_option("--video", videos, "video file(s), one result per frame (or per face)");
  app.add_option("--camera", camera, "camera device number (Ctrl-C stops)");
  app.add_option("--every", every, "process every K-th video frame")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_flag("--json", json, "print one JSON document instead of a table");
  auto* on = app.add_flag("--faces", faces_on, "detect faces (Haar cascade) in every image and frame");
  app.add_flag("--no-faces", faces_off, "classify whole images (default: faces are detected in images that are not square)")
      ->excludes(on);
  app.add_option("--classes", classes, "assert the number of expression classes (8 or 7)")->check(CLI::IsMember({7, 8}));
  app.add_option("--face-margin", margin, "share of the face box added on each side")->capture_default_str();
  app.add_option("--cascade", cascade, "Haar cascade XML")->capture_default_str();
  app.add_option("--input-size", input_size, "model input size (default: the checkpoint's config, else 224)");
  app.add_option("--pipeline", pipeline_spec, "transform spec (default: the paper's eval transform at the input size)");
  app.add_option("--tensor", tensor_spec, "raw input FILE.safetensors:KEY, a (N, C, H, W) float tensor (needs --dump)");
  app.add_option("--dump", dump, "with --tensor: safetensors file for logits, stem and stage outputs (NCHW)");
  app.add_option("--device", device, "cpu | emu (the CUDA kernels on the CUDA emulator) | cuda | auto")
      ->capture_default_str();
  app.add_option("--threads", threads, "threads (default: CAGE_NUM_THREADS or all cores)");
  std::string precision = "fp32";
  app.add_option("--precision", precision,
                 "CPU inference GEMMs in fp32 or bf16 (bf16 needs AVX-512 BF16; fp32 accumulation either way)")
      ->capture_default_str()->check(CLI::IsMember({"fp32", "bf16"}));
  CLI11_PARSE(app, argc, argv);
  try {
    if (threads > 0) set_num_threads(threads);
    models::set_inference_precision(models::parse_precision(precision));
    const Device dev = kernels::select_device(device);
    if (dev != Device::cpu) std::fprintf(stderr, "device: %s\n", kernels::describe_device(dev).c_str());
    if (!tensor_spec.empty()) {
      CAGE_CHECK(!dump.empty() && inputs.empty() && videos.empty() && camera < 0,
                 "--tensor runs alone and needs --dump (no images, --video or --camera)");
      return run_tensor_dump(weights, tensor_spec, dump, dev);
    }
    CAGE_CHECK(dump.empty(), "--dump needs --tensor");
    CAGE_CHECK(!inputs.empty() || !videos.empty() || camera >= 0,
               "nothing to do: give images or folders, --video FILE or --camera N");

    CAGE_CHECK((videos.empty() && camera < 0) || data::opencv_available(),
               "video input needs OpenCV, and this build has none (install libopencv-dev and reconfigure with "
               "-DCAGE_OPENCV=ON)");
    models::LoadedWeights w = models::load_weights(weights);
    if (input_size > 0) w.config.input_size = input_size;
    CAGE_CHECK(w.config.in_channels == 3, "the checkpoint takes ", w.config.in_channels,
               "-channel input; cage_infer runs RGB face models");
    Inference inf;
    inf.head = interpret_head(w.config.num_classes, classes);
    models::MaxVit model(w.config);
    model.load_state_dict(w.state);
    model.to(dev);
    model.eval();
    inf.model = &model;
    if (pipeline_spec.empty()) {
      const std::string s = std::to_string(w.config.input_size);
      pipeline_spec = w.config.input_size == 224 ? data::kPaperEvalSpec
                                                  : "resize(" + s + ") center_crop(" + s + ") normalize(imagenet)";
    }
    inf.pipeline = data::Pipeline(pipeline_spec);
    CAGE_CHECK(!inf.pipeline.random(), "--pipeline '", pipeline_spec, "' is random; inference needs a deterministic one");
    inf.faces = faces_on ? FaceMode::on : faces_off ? FaceMode::off : FaceMode::automatic;
    inf.cascade = cascade;
    inf.margin = margin;
    if (inf.faces == FaceMode::on) inf.detector.emplace(cascade);  // a missing cascade fails before any output

    ojson header;
    header["weights"] = weights;
    header["model"] = w.config.summary();
    header["head"] = inf.head.describe();
    header["classes"] = inf.head.classes;
    header["transform"] = pipeline_spec;
    header["faces"] = inf.faces == FaceMode::on    ? "detect (Haar cascade)"
                      : inf.faces == FaceMode::off ? "off (whole image)"
                      : data::opencv_available()   ? "auto (detect in non-square images)"
                                                   : "auto (no OpenCV in this build: whole images)";
    Report report(json, header);
    inf.report = &report;
    std::signal(SIGINT, on_sigint);
    NoGradGuard no_grad;

    int64_t read_ok = 0, total = 0, frames = 0;
    auto attempt = [&](const std::string& what, const auto& body) {
      ++total;
      try {
        body();
        ++read_ok;
      } catch (const Error& e) {
        report.error(what, e.what());
      } catch (const std::exception& e) {
        report.error(what, what + ": " + e.what());
      }
    };
    for (const std::string& in : inputs) {
      if (g_interrupted) break;
      std::error_code ec;
      if (fs::is_directory(in, ec)) {
        std::vector<std::string> files = list_images(in);
        if (files.empty()) attempt(in, [&] { fail(in, ": no image files (.jpg .jpeg .png .bmp .gif .ppm .pgm .tga)"); });
        for (const std::string& f : files) {
          if (g_interrupted) break;
          attempt(f, [&] { inf.run(data::decode_image(f), Where{f}); });
        }
      } else {
        attempt(in, [&] { inf.run(data::decode_image(in), Where{in}); });
      }
    }
    std::vector<std::pair<std::string, int>> streams;
    for (const std::string& v : videos) streams.emplace_back(v, -1);
    if (camera >= 0) streams.emplace_back("", camera);
    for (const auto& [file, cam] : streams) {
      if (g_interrupted) break;
      attempt(cam >= 0 ? "camera " + std::to_string(cam) : file, [&] {
        data::VideoSource src = cam >= 0 ? data::VideoSource::open_camera(cam) : data::VideoSource::open_file(file);
        data::VideoFrame frame;
        bool first = true;
        for (; !g_interrupted && src.read(frame, first ? 0 : every - 1); first = false) {
          inf.run(frame.image, Where{src.name(), frame.index, frame.seconds});
          ++frames;
        }
        CAGE_CHECK(!first || g_interrupted, src.name(), ": no frame could be read");
      });
    }
    const bool interrupted = g_interrupted;
    report.finish(ojson{{"inputs", total},        {"read", read_ok},
                        {"skipped", report.errors()}, {"frames", frames},
                        {"results", report.results()}, {"no_face", report.no_faces()},
                        {"interrupted", interrupted}});
    if (read_ok == 0) {
      if (total > 1) std::fprintf(stderr, "cage_infer: none of the %lld inputs could be read\n", (long long)total);
      return 1;
    }
    if (interrupted) {
      std::fprintf(stderr, "cage_infer: interrupted\n");
      return camera >= 0 ? 0 : 130;
    }
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "cage_infer: %s\n", e.what());
    return 1;
  }
}

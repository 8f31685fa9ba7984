// cage_demo: trains a small MaxViT on Fashion-MNIST with the engine's own
// ops, autograd, AdamW and cosine schedule, on the CPU, then reports test accuracy. It exercises the whole
// stack end to end on real data (Debian's dataset-fashion-mnist) until the full trainer replaces it.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "core/autograd.h"
#include "core/thread_pool.h"
#include "data/idx.h"
#include "models/maxvit.h"
#include "nn/functional.h"
#include "train/optim.h"
#include "train/schedule.h"

using namespace cage;

namespace {

// The Fashion-MNIST MaxViT: torchvision's MaxVit with input 32 (28 padded), stem 32, channels [32, 64, 128],
// one layer per stage, head_dim 16, partition 2 (0.75 M parameters).
models::MaxVitConfig fashion_config() {
  models::MaxVitConfig c;
  c.input_size = 32;
  c.in_channels = 1;
  c.stem_channels = 32;
  c.block_channels = {32, 64, 128};
  c.block_layers = {1, 1, 1};
  c.head_dim = 16;
  c.partition_size = 2;
  c.stochastic_depth_prob = 0.0;
  c.num_classes = 10;
  return c;
}

// Images [begin, begin + n) of `order` as normalised NHWC float32 (B, 32, 32, 1), zero-padded by 2.
Tensor batch_images(const Tensor& images, const std::vector<int64_t>& order, int64_t begin, int64_t n) {
  const float pad = (0.0f - 0.2860f) / 0.3530f;
  Tensor x = Tensor::full({n, 32, 32, 1}, pad);
  const uint8_t* src = images.data<uint8_t>();
  float* dst = x.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* img = src + order[begin + i] * 784;
    for (int64_t r = 0; r < 28; ++r)
      for (int64_t c = 0; c < 28; ++c) dst[i * 1024 + (r + 2) * 32 + c + 2] = (img[r * 28 + c] / 255.0f - 0.2860f) / 0.3530f;
  }
  return x;
}

Tensor batch_labels(const Tensor& labels, const std::vector<int64_t>& order, int64_t begin, int64_t n) {
  Tensor y = Tensor::empty({n}, DType::i64);
  for (int64_t i = 0; i < n; ++i) y.data<int64_t>()[i] = labels.data<int64_t>()[order[begin + i]];
  return y;
}

double evaluate(models::MaxVit& net, const data::FashionMnist& test) {
  NoGradGuard no_grad;
  const int64_t n = test.images.size(0), bs = 500;
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  int64_t correct = 0;
  for (int64_t b = 0; b < n; b += bs) {
    int64_t m = std::min(bs, n - b);
    Tensor logits = net.forward(batch_images(test.images, order, b, m));
    const float* l = logits.data<float>();
    for (int64_t i = 0; i < m; ++i) {
      int64_t best = std::max_element(l + i * 10, l + i * 10 + 10) - (l + i * 10);
      correct += best == test.labels.data<int64_t>()[b + i];
    }
  }
  return static_cast<double>(correct) / n;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Train a small MaxViT on Fashion-MNIST with the CAGE engine (CPU)"};
  std::string data_dir = data::kFashionMnistDir;
  int epochs = 1, batch = 128, threads = 0;
  double lr = 2e-3, weight_decay = 0.05;
  uint64_t seed = 0;
  int64_t limit = 0;
  double bn_momentum = 0.1;
  app.add_option("--data", data_dir, "directory with the Fashion-MNIST idx files")->capture_default_str();
  app.add_option("--epochs", epochs, "training epochs")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "batch size")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "peak AdamW learning rate (cosine annealed)")->capture_default_str();
  app.add_option("--weight-decay", weight_decay, "AdamW weight decay")->capture_default_str();
  app.add_option("--seed", seed, "seed of initialisation and shuffling")->capture_default_str();
  app.add_option("--threads", threads, "threads (default: CAGE_NUM_THREADS or all cores)");
  app.add_option("--bn-momentum", bn_momentum, "BatchNorm momentum (PyTorch convention)")->capture_default_str();
  app.add_option("--limit", limit, "use only the first N training images (quick runs)");
  CLI11_PARSE(app, argc, argv);

  try {
    if (threads > 0) set_num_threads(threads);
    data::FashionMnist train = data::load_fashion_mnist(data_dir, "train");
    data::FashionMnist test = data::load_fashion_mnist(data_dir, "t10k");
    const int64_t n = limit > 0 ? std::min<int64_t>(limit, train.images.size(0)) : train.images.size(0);
    const int64_t steps_per_epoch = n / batch, total = steps_per_epoch * epochs;
    std::printf("Fashion-MNIST: %lld training images, %lld test images; %d epoch(s) of %lld steps, batch %d, %d threads\n",
                (long long)n, (long long)test.images.size(0), epochs, (long long)steps_per_epoch, batch, num_threads());

    models::MaxVitConfig config = fashion_config();
    config.bn_momentum = bn_momentum;
    models::MaxVit net(config);
    net.init_weights(seed);
    Philox dropout_rng(seed, 2);
    net.rng = &dropout_rng;
    std::printf("model: MaxViT, %s; %lld parameters\n", net.config().summary().c_str(), (long long)net.parameter_count());
    train::AdamWOptions opt;
    opt.lr = lr;
    opt.weight_decay = weight_decay;
    train::AdamW adamw(net.parameters(), opt);
    train::CosineScheduleOptions sched_opt;
    sched_opt.base_lr = lr;
    sched_opt.total_steps = std::max<int64_t>(total, 1);
    sched_opt.warmup_steps = std::min<int64_t>(total / 10, 200);
    train::CosineSchedule schedule(sched_opt);

    Philox shuffle_rng(seed, 1);
    int64_t step = 0;
    auto t_start = std::chrono::steady_clock::now();
    for (int epoch = 0; epoch < epochs; ++epoch) {
      std::vector<int64_t> order(n);
      std::iota(order.begin(), order.end(), 0);
      for (int64_t i = n - 1; i > 0; --i)
        std::swap(order[i], order[static_cast<int64_t>(shuffle_rng.uniform_double() * (i + 1))]);
      double running = 0;
      int64_t seen = 0;
      auto t_epoch = std::chrono::steady_clock::now();
      for (int64_t s = 0; s < steps_per_epoch; ++s, ++step) {
        schedule.apply(adamw, step);
        net.train();
        Tensor logits = net.forward(batch_images(train.images, order, s * batch, batch));
        Tensor loss = nn::cross_entropy(logits, batch_labels(train.labels, order, s * batch, batch));
        adamw.zero_grad();
        loss.backward();
        adamw.step();
        running += loss.item();
        ++seen;
        if ((s + 1) % 100 == 0 || s + 1 == steps_per_epoch) {
          double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_epoch).count();
          double ips = (s + 1) * batch / secs;
          std::printf("epoch %d step %lld/%lld  loss %.4f  lr %.2e  %.0f img/s  ETA %.0f s\n", epoch + 1,
                      (long long)(s + 1), (long long)steps_per_epoch, running / seen, adamw.lr(), ips,
                      (total - step - 1) * batch / ips);
          std::fflush(stdout);
          running = 0;
          seen = 0;
        }
      }
      net.eval();
      double acc = evaluate(net, test);
      std::printf("epoch %d: test accuracy %.2f%%\n", epoch + 1, 100 * acc);
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    std::printf("done in %.1f s\n", secs);
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "cage_demo: %s\n", e.what());
    return 1;
  }
}

// GEMM benchmark: for each shape and layout, checks that the blocked GEMM equals the naive one bit
// for bit, then times both (best of --repeat runs) and prints GFLOP/s and the blocked/naive ratio.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/gemm/gemm_cpu.h"

using namespace tandem::kernels;

namespace {

struct Shape {
  int64_t m, n, k;
  std::string note;
};

Shape parse_shape(const std::string& text) {
  Shape s{};
  char x1 = 0, x2 = 0;
  int used = 0;
  long long m = 0, n = 0, k = 0;
  if (std::sscanf(text.c_str(), "%lld%c%lld%c%lld%n", &m, &x1, &n, &x2, &k, &used) != 5 || x1 != 'x' ||
      x2 != 'x' || used != static_cast<int>(text.size()) || m <= 0 || n <= 0 || k <= 0) {
    throw std::invalid_argument(fmt::format("--shape: expected MxNxK with positive integers, found '{}'", text));
  }
  s.m = m;
  s.n = n;
  s.k = k;
  return s;
}

template <typename F>
double best_seconds(int repeat, F&& run) {
  double best = 1e30;
  for (int r = 0; r < repeat; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    const auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Blocked vs naive FP32 GEMM on the CPU"};
  std::vector<std::string> shape_texts;
  std::vector<std::string> layouts = {"nn", "nt"};
  int repeat = 3;
  int naive_repeat = 1;
  std::vector<int> thread_counts = {1, 2};
  std::string isa_name = "auto";
  app.add_option("--shape", shape_texts, "MxNxK (repeatable); default 512^3, 1024^3 and 128x1536x7168");
  app.add_option("--layout", layouts, "nn, nt or tn (op(A)·op(B) with A or B transposed)");
  app.add_option("--repeat", repeat, "timed runs of the blocked GEMM (best is kept)")->check(CLI::PositiveNumber);
  app.add_option("--naive-repeat", naive_repeat, "timed runs of the naive GEMM")->check(CLI::PositiveNumber);
  app.add_option("--threads", thread_counts, "thread counts of the blocked GEMM");
  app.add_option("--isa", isa_name, "inner kernel of the blocked GEMM: auto (AVX2 when present) or baseline")
      ->check(CLI::IsMember({"auto", "baseline"}));
  CLI11_PARSE(app, argc, argv);
  const GemmIsa isa = isa_name == "baseline" ? GemmIsa::Baseline : GemmIsa::Auto;

  std::vector<Shape> shapes;
  if (shape_texts.empty()) {
    shapes = {{512, 512, 512, "square"},
              {1024, 1024, 1024, "square"},
              {128, 1536, 7168, "DeepSeek-V3 q down-projection, 128 tokens"}};
  } else {
    for (const auto& t : shape_texts) shapes.push_back(parse_shape(t));
  }

  fmt::print("{:>16} {:>6} {:>8} {:>12} {:>14} {:>12} {:>8}\n", "shape", "layout", "threads", "naive GF/s",
             "blocked GF/s", "blocked ms", "ratio");
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (const auto& s : shapes) {
    std::vector<float> a(s.m * s.k), b(s.k * s.n), c_naive(s.m * s.n), c_blocked(s.m * s.n);
    for (auto& v : a) v = dist(rng);
    for (auto& v : b) v = dist(rng);
    const double flops = 2.0 * s.m * s.n * s.k;
    for (const auto& layout : layouts) {
      if (layout != "nn" && layout != "nt" && layout != "tn") {
        fmt::print(stderr, "--layout: expected nn, nt or tn, found '{}'\n", layout);
        return 2;
      }
      const Trans ta = layout == "tn" ? Trans::T : Trans::N;
      const Trans tb = layout == "nt" ? Trans::T : Trans::N;
      const int64_t lda = ta == Trans::N ? s.k : s.m;
      const int64_t ldb = tb == Trans::N ? s.n : s.k;
      const double naive_s = best_seconds(naive_repeat, [&] {
        gemm_naive(ta, tb, s.m, s.n, s.k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, c_naive.data(), s.n);
      });
      for (int threads : thread_counts) {
        gemm_blocked(ta, tb, s.m, s.n, s.k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, c_blocked.data(), s.n, threads,
                     isa);
        if (c_blocked != c_naive) {
          fmt::print(stderr, "validation failed: blocked != naive for {}x{}x{} {} threads {}\n", s.m, s.n, s.k,
                     layout, threads);
          return 1;
        }
        const double blocked_s = best_seconds(repeat, [&] {
          gemm_blocked(ta, tb, s.m, s.n, s.k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, c_blocked.data(), s.n,
                       threads, isa);
        });
        fmt::print("{:>16} {:>6} {:>8} {:>12.2f} {:>14.2f} {:>12.2f} {:>8.1f}\n",
                   fmt::format("{}x{}x{}", s.m, s.n, s.k), layout, threads, flops / naive_s * 1e-9,
                   flops / blocked_s * 1e-9, blocked_s * 1e3, naive_s / blocked_s);
      }
    }
    if (!s.note.empty()) fmt::print("{:>16} ({})\n", "", s.note);
  }
  return 0;
}

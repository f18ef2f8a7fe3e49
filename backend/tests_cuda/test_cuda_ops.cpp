// The CUDA kernel table and the staged runner: the host-side layout conversions, the table's entries and
// checks (no GPU needed), then on a GPU the device-conformance suite on every entry, the tiny model
// trained 3 steps with `--device cuda` against the CPU backend (one rank and the 4-rank plan, FP8 recipe
// and FP32 mode), which ops and kernels ran in CUDA, and the timeline of a CUDA step.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

#include "backend/runtime/cpu_device.h"
#include "backend/cuda/cuda_device.h"
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_ops_stage.h"
#include "backend/tests/backend_test_util.h"
#include "backend/tests/kernel_conformance.h"
#include "backend/tests_cuda/backend_cuda_test_util.h"
#include "backend/tests_cuda/host_sync_device.h"
#include "kernels/fp8/fp8_quant_cuda.h"

using namespace tandem;
using namespace tandem::backend;
using namespace tandem::backend::test;
namespace kc = tandem::kernels::cuda;

TEST_CASE("FP8 host matrices convert to the GEMMs' scale layout and expert segments pad to 128 rows", "[cuda_ops]") {
  // A Tile1x128 matrix [3, 200]: 2 scale tiles per row, GemmReady [2, round_up(3, 4) = 4].
  Fp8Matrix t;
  t.rows = 3;
  t.cols = 200;
  t.codes.assign(600, 7);
  t.scales = {1, 2, 3, 4, 5, 6};   // row-major [3, 2]
  const auto ready = cuda_ops::gemm_ready_scales(t);
  REQUIRE(ready.size() == 8);
  CHECK(ready[0] == 1);   // tile 0: rows 0, 1, 2, pad
  CHECK(ready[1] == 3);
  CHECK(ready[2] == 5);
  CHECK(ready[4] == 2);   // tile 1
  CHECK(ready[6] == 6);
  // A Block128x128 matrix [200, 300]: blocks [2, 3], GemmReady [2, round_up(3, 4) = 4].
  Fp8Matrix b;
  b.rows = 200;
  b.cols = 300;
  b.layout = kernels::Fp8ScaleLayout::Block128x128;
  b.scales = {1, 2, 3, 4, 5, 6};
  const auto bready = cuda_ops::gemm_ready_scales(b);
  REQUIRE(bready.size() == 8);
  CHECK(bready[2] == 3);
  CHECK(bready[4] == 4);
  CHECK(bready[6] == 6);
  b.scales.pop_back();
  CHECK_THROWS_WITH(cuda_ops::gemm_ready_scales(b), Catch::Contains("5 scales, expected 6"));

  // Segments of 1, 0 and 130 rows pad to 128, 0 and 256 rows.
  const std::vector<int64_t> off{0, 1, 1, 131};
  const auto padded = cuda_ops::padded_offsets(off);
  CHECK(padded == std::vector<int64_t>{0, 128, 128, 384});
  CHECK_NOTHROW(kc::check_fp8_group_offsets(padded));
  Fp8Matrix x;
  x.rows = 131;
  x.cols = 16;
  for (int64_t i = 0; i < x.rows * x.cols; ++i) x.codes.push_back(uint8_t(i / 16 + 1));   // row r holds r + 1
  for (int64_t r = 0; r < x.rows; ++r) x.scales.push_back(float(r + 1));
  const auto seg = cuda_ops::tile_segments(x, off, padded);
  CHECK(seg.rows == 384);
  CHECK(seg.codes[0] == 1);                        // row 0 -> padded row 0
  CHECK(seg.codes[1 * 16] == 0);                   // padding
  CHECK(seg.codes[128 * 16] == 2);                 // row 1 -> padded row 128
  CHECK(seg.codes[(128 + 129) * 16] == 131);       // row 130 -> padded row 257
  CHECK(seg.scales[128] == 2);                     // one tile: scale of padded row 128
  CHECK(seg.scales[1] == 1.0f);                    // padding rows: scale 1
}

TEST_CASE("the CUDA kernel table lacks exactly the kernels kernels/ has no CUDA version of", "[cuda_ops]") {
  std::vector<std::string> missing;
  for (const auto& [name, present] : cuda_kernel_table().entries())
    if (!present) missing.push_back(name);
  CHECK(missing == std::vector<std::string>{"rope_forward", "rope_backward", "embedding_forward", "embedding_backward",
                                            "adamw_step", "sum_of_squares", "scale_in_place"});
  CHECK(std::string(cuda_kernel_table().device) == "cuda");
  // The attention kernel is compiled for DeepSeek-V3's head dims and BF16 only.
  CpuDevice host(0, 1);
  const KernelLaunch bf16{host, host.stream(0), 1, false, nullptr}, exact{host, host.stream(0), 1, true, nullptr};
  const auto supports = cuda_kernel_table().attention_supports;
  REQUIRE(supports != nullptr);
  CHECK(supports(bf16, kernels::AttentionShape{1, 16, 2, 192, 128}));
  CHECK_FALSE(supports(exact, kernels::AttentionShape{1, 16, 2, 192, 128}));
  CHECK_FALSE(supports(bf16, kernels::AttentionShape{1, 16, 2, 24, 16}));   // the tiny model's
}

// Bounds against the CPU reference. Float GEMMs: FP32 cuBLASLt (no TF32) sums 40 products in another
// order, within 1e-5 of the largest |result| as on the CPU; told the values are BF16 they run the BF16
// GEMM and round the output to BF16 (2^-9 relative), as the FP8 GEMMs do: 1e-2. The FP32 kernels
// (norm, SwiGLU, router, combine, cross-entropy) reduce in blocked orders and use the device's exp:
// 1e-4. Attention computes P·V from BF16 probabilities and returns BF16 gradients: 2e-2. Casts,
// top-k choice, index and permute are exact. A wrong layout, scale or index is off by O(1).
TEST_CASE("the CUDA kernel table agrees with the CPU reference entry by entry", "[cuda_ops][gpu]") {
  if (!gpus_available()) return;
  CudaDevice device(0);
  for (const auto choice : {Fp8GemmChoice::Auto, Fp8GemmChoice::Naive}) {
    CudaOpOptions options;
    options.fp8_gemm = choice;
    CudaOpRunner runner(1, options);
    cuda_ops::Env env{runner.options(), runner.state(0)};
    const KernelLaunch launch{device, device.stream(0), 1, false, &env};
    KernelTolerances tol;
    tol.fp32_gemm = 1e-5;
    tol.bf16_gemm = tol.fp8_gemm = 1e-2;
    tol.math = 1e-4;
    tol.attention = 2e-2;
    check_kernel_table(cuda_kernel_table(), launch, tol);
    CHECK(runner.counts().fp8_gemm.size() == 1);
  }
}

TEST_CASE("the CUDA parts are refused without a usable GPU and the runner checks its ranks", "[cuda_ops]") {
  CHECK_THROWS_AS(CudaOpRunner(0), std::invalid_argument);
  const auto program = tiny(one_rank());
  if (gpu_count() == 0) {
    CHECK_THROWS_WITH(check_cuda_runnable(*program), Catch::Contains("--device cuda: no CUDA device is usable here"));
    CHECK_THROWS_AS(cuda_executor_parts(*program), std::invalid_argument);
  } else {
    CHECK_NOTHROW(check_cuda_runnable(*program));
  }
}

TEST_CASE("ops run in each rank's issue order on the host as the staged CUDA runner runs them: every schedule completes with the CPU's losses", "[cuda_ops]") {
  // CudaStream::launch runs an op's work at once on the rank's thread, so a blocking receive holds the
  // rank's later ops on every stream. With eager sends that cannot deadlock a schedule whose issue order
  // respects the dependencies; the in-process communicator's timeout would turn a cycle into an error.
  // The store orders values by issue position, not by time, so the losses are the CPU's bit for bit.
  for (const char* schedule : {"1f1b", "zb1p", "dualpipe", "dualpipev"}) {
    INFO(schedule);
    const auto program = tiny({std::string("plan.schedule=") + schedule});
    TrainOptions o;
    o.steps = 2;
    o.backend.comm_timeout_ms = 60000;
    const auto ref = train(*program, o);
    o.parts.device = [](int64_t) { return std::make_unique<HostSyncDevice>(ir::kStreams); };
    const auto got = train(*program, o);
    REQUIRE(got.size() == ref.size());
    for (size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i].stats.loss == ref[i].stats.loss);
      CHECK(got[i].stats.grad_norm == ref[i].stats.grad_norm);
    }
  }
}

namespace {

struct Runs {
  std::vector<StepLog> cpu, cuda;
  CudaOpCounts counts;
};

// 3 steps of the tiny model (lr 3e-3 from the first step, so the loss moves) on the CPU and on CUDA.
Runs train_both(const std::vector<std::string>& overrides, bool exact, Fp8GemmChoice choice = Fp8GemmChoice::Auto) {
  const auto program = tiny(overrides);
  TrainOptions o;
  o.steps = 3;
  o.warmup = 0;
  o.backend.exact = exact;
  Runs r;
  r.cpu = train(*program, o);
  CudaOpOptions co;
  co.fp8_gemm = choice;
  auto runner = std::make_shared<CudaOpRunner>(program->num_ranks(), co);
  o.parts = cuda_executor_parts(*program, runner);
  r.cuda = train(*program, o);
  r.counts = runner->counts();
  return r;
}

// Step 1's loss (forward only) within first_tol, its gradient norm (the whole backward) within
// first_grad_tol; steps 2 and 3 (after updates) within tol and grad_tol.
void check_close(const Runs& r, double first_tol, double first_grad_tol, double tol, double grad_tol) {
  REQUIRE(r.cpu.size() == 3);
  REQUIRE(r.cuda.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    INFO("step " << i + 1 << ": cpu loss " << r.cpu[i].stats.loss << " cuda " << r.cuda[i].stats.loss << ", grad norm "
                 << r.cpu[i].stats.grad_norm << " / " << r.cuda[i].stats.grad_norm);
    CHECK_FALSE(r.cuda[i].stats.skipped);
    CHECK(r.cuda[i].stats.loss == Approx(r.cpu[i].stats.loss).epsilon(i == 0 ? first_tol : tol));
    CHECK(r.cuda[i].stats.mtp_loss == Approx(r.cpu[i].stats.mtp_loss).epsilon(i == 0 ? first_tol : tol));
    CHECK(r.cuda[i].stats.grad_norm == Approx(r.cpu[i].stats.grad_norm).epsilon(i == 0 ? first_grad_tol : grad_tol));
  }
  CHECK(r.cuda[2].stats.loss < r.cuda[0].stats.loss);   // it trains
  // Every GEMM, cast, norm, SwiGLU, router and loss op ran in CUDA; nothing of those on the CPU.
  for (const char* kind : {"gemm", "norm", "router", "swiglu", "cross_entropy"}) {
    INFO(kind);
    CHECK(r.counts.cuda.count(kind) == 1);
    CHECK(r.counts.cpu.count(kind) == 0);
  }
  // Only the entries the CUDA table lacks, and the attention core at the tiny model's head dims, fell back.
  for (const auto& [name, calls] : r.counts.kernels.fallback) {
    INFO(name);
    CHECK((name.starts_with("rope") || name.starts_with("embedding") || name.starts_with("attention") || name == "adamw_step" ||
           name == "sum_of_squares" || name == "scale_in_place"));
  }
}

}  // namespace

// Tolerances. FP8 recipe: the CUDA path rounds each FP8 GEMM's output to BF16 before the fused residual
// add (the CPU adds in FP32, then rounds), rounds each micro-batch's weight-gradient part to BF16 before
// the FP32 accumulation (the runner has no FP32 output), and sums in other orders (blocked RMSNorm and
// cross-entropy reductions, tensor-core accumulation, cuBLASLt with FMA). Each is at most a BF16 ulp
// (2^-8 relative) on some elements, or a rare flip of an FP8 rounding. Step 1: the loss is a mean over
// 512 tokens of values that move by far less than an ulp (bound 2e-3); the gradient norm sums the whole
// backward (2e-2) — a wrong layout, scale or index changes either by O(1). Steps 2 and 3: AdamW's first
// steps move every weight by about ±lr whatever its gradient's size, so weights whose gradient is within
// rounding noise of 0 step apart; FP32 reordering alone gives 9e-4 at step 2 this way (the 4-rank plan
// against one rank, lr 3e-3 without warm-up, measured on the CPU backend); bounds 2e-2 on the losses
// and 1e-1 on the gradient norm. FP32 mode: no BF16 or FP8 rounding amplifies the reordering (the CPU's
// 4-rank plan is within 4e-8 of one rank there): 1e-4 on the losses, 1e-3 on the gradient norm.
TEST_CASE("the tiny model on one rank: 3 CUDA steps agree with the CPU under the FP8 recipe", "[cuda_ops][gpu]") {
  if (!gpus_available()) return;
  const auto r = train_both(one_rank(), false);
  check_close(r, 2e-3, 2e-2, 2e-2, 1e-1);
  CHECK(r.counts.cuda.count("quantize") == 1);
  CHECK(r.counts.cpu.count("attention") == 1);   // the tiny model's head dims (24/16) are not the kernel's 192/128
  CHECK(r.counts.cpu.count("rope") == 1);
  CHECK(r.counts.cpu.count("embedding") == 1);
}

TEST_CASE("the tiny model on one rank: the Naive FP8 GEMM backend agrees as well", "[cuda_ops][gpu]") {
  if (!gpus_available()) return;
  const auto r = train_both(one_rank(), false, Fp8GemmChoice::Naive);
  check_close(r, 2e-3, 2e-2, 2e-2, 1e-1);
  CHECK(r.counts.fp8_gemm.size() == 1);
  CHECK(r.counts.fp8_gemm.count("naive") == 1);
}

TEST_CASE("the tiny model on one rank: 3 CUDA steps agree with the CPU in FP32 mode", "[cuda_ops][gpu]") {
  if (!gpus_available()) return;
  const auto r = train_both(one_rank(), true);
  check_close(r, 1e-4, 1e-3, 1e-4, 1e-3);
  CHECK(r.counts.cpu.count("quantize") == 1);   // identity casts
  CHECK(r.counts.fp8_gemm.empty());
}

TEST_CASE("the tiny scenario on 4 ranks sharing the GPUs (pp 2 dp 2 ep 2): CUDA agrees with the CPU", "[cuda_ops][gpu]") {
  if (!gpus_available()) return;
  const auto r = train_both({}, false);
  check_close(r, 2e-3, 2e-2, 2e-2, 1e-1);
  for (const char* kind : {"permute", "dispatch", "combine"}) {   // the all-to-alls' row math and the permutation
    INFO(kind);
    CHECK(r.counts.cuda.count(kind) == 1);
  }
  CHECK(r.counts.cpu.count("pipe_send") == 1);   // pipeline transfers and the optimizer stay on the host
  CHECK(r.counts.cpu.count("optimizer") == 1);
}

TEST_CASE("with DeepSeek-V3 head dims (qk 128 + 64 and v 128) the attention core runs in CUDA and agrees with the CPU", "[cuda_ops][gpu]") {
  if (!gpus_available()) return;
  // The kernel is compiled for these dims only; it computes P·V from BF16 probabilities (the CPU in FP32)
  // and the backward reads the BF16 output (the CPU its FP32 copy): a BF16 rounding more per element.
  const auto r = train_both(one_rank({"model.num_heads=2", "model.qk_nope_head_dim=128", "model.qk_rope_head_dim=64",
                                      "model.v_head_dim=128"}),
                            false);
  check_close(r, 2e-3, 2e-2, 2e-2, 1e-1);
  CHECK(r.counts.cuda.count("attention") == 1);
  CHECK(r.counts.cpu.count("attention") == 0);
}

TEST_CASE("the timeline of a CUDA step says cuda and holds every op of every rank", "[cuda_ops][gpu]") {
  if (!gpus_available()) return;
  const auto program = tiny();
  TrainOptions o;
  o.steps = 1;
  o.trace_steps = 1;
  o.parts = cuda_executor_parts(*program);
  Trainer t(*program, o, corpus(), "stories.tok");
  t.prepare();
  t.run();
  const auto& tl = t.timeline();
  CHECK(tl.metadata.source == trace::TraceSource::Cuda);
  size_t ops = 0;
  for (int64_t r = 0; r < program->num_ranks(); ++r) ops += program->program_of(r).ops.size();
  CHECK(tl.events.size() == ops);
  // A stream runs its ops in order: the events of one (rank, stream) do not overlap (1 µs for the
  // clock's resolution).
  std::map<std::pair<int32_t, int32_t>, std::vector<std::pair<int64_t, int64_t>>> spans;
  size_t gemms = 0;
  for (const auto& e : tl.events) {
    // A GEMM kernel runs between its two events for longer than their 0.5 µs resolution (the timeline
    // clamps a negative duration to 0, so only a positive one shows the events bracket the kernel).
    if (tl.op_of(e) == "gemm") {
      ++gemms;
      CHECK(e.dur_ns > 0);
    }
    spans[{e.pid, e.tid}].emplace_back(e.start_ns, e.end_ns());
  }
  CHECK(gemms > 0);
  CHECK(spans.size() >= size_t(program->num_ranks()));
  int64_t overlaps = 0;
  for (auto& [stream, s] : spans) {
    std::sort(s.begin(), s.end());
    for (size_t i = 1; i < s.size(); ++i)
      if (s[i].first + 1000 < s[i - 1].second) ++overlaps;
  }
  CHECK(overlaps == 0);
}

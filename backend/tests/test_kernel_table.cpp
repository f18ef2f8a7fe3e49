// The kernel tables of the op layer: the CPU table's conformance to the CPU reference (the suite
// backend_cuda_tests runs on the CUDA table), the fallback of an entry a table lacks to the CPU table
// (counted), and a whole training step through a table with half its entries missing.
#include <catch2/catch.hpp>

#include <mutex>

#include "backend/runtime/cpu_device.h"
#include "backend/ops/ops.h"
#include "backend/tests/backend_test_util.h"
#include "backend/tests/kernel_conformance.h"
#include "kernels/swiglu/swiglu_cpu.h"

using namespace tandem;
using namespace tandem::backend;
using namespace tandem::backend::test;

TEST_CASE("the CPU kernel table has every entry and each agrees with the CPU reference", "[kernel_table]") {
  CpuDevice device(0, 1);
  for (int threads : {1, 2}) {
    INFO(threads << " threads");
    const KernelLaunch launch{device, device.stream(0), threads, false, nullptr};
    // The GEMMs against a double product: FP32 sums of 40 (float) or 256 (FP8) products of values
    // below 3 in magnitude stay within 1e-5 of the largest |result|; the rest call the same kernels.
    KernelTolerances tol;
    tol.fp32_gemm = tol.bf16_gemm = tol.fp8_gemm = 1e-5;
    const auto missing = check_kernel_table(cpu_kernel_table(), launch, tol);
    CHECK(missing.empty());
  }
  CHECK(cpu_kernel_table().entries().size() == 30);
}

namespace {

// The CPU table with half its entries removed: what a device with few kernels looks like.
KernelTable partial_table() {
  KernelTable t = cpu_kernel_table();
  t.device = "partial";
  t.gemm_nn.run = nullptr;
  t.fp8_gemm_wgrad.run = nullptr;
  t.transpose_requantize_fp8.run = nullptr;
  t.rmsnorm_backward.run = nullptr;
  t.swiglu_forward.run = nullptr;
  t.router_sigmoid_backward.run = nullptr;
  t.permute_forward.run = nullptr;
  t.unpermute_backward.run = nullptr;
  t.attention_supports = [](const KernelLaunch&, const kernels::AttentionShape&) { return false; };
  t.rope_forward.run = nullptr;
  t.cross_entropy_backward.run = nullptr;
  t.embedding_forward.run = nullptr;
  t.adamw_step.run = nullptr;
  t.sum_of_squares.run = nullptr;
  return t;
}

}  // namespace

TEST_CASE("an entry a table lacks runs the CPU table's and is counted as a fallback", "[kernel_table]") {
  const KernelTable table = partial_table();
  CpuDevice device(0, 1);
  KernelCounts counts;
  OpKernels k(table, KernelLaunch{device, device.stream(0), 1, false, nullptr}, &counts);
  const auto u = conformance::values(2 * 16, 1);
  std::vector<float> a(16), ref(16);
  kernels::swiglu_forward_fused(u, 2, 8, ref);
  k.call(&KernelTable::swiglu_forward, u, 2, 8, a);   // missing: the CPU table's runs
  CHECK(a == ref);
  std::vector<float> du(u.size());
  k.call(&KernelTable::swiglu_backward, u, a, 2, 8, du);   // present: the table's own
  CHECK(k.fallback_calls() == 1);
  CHECK(k.device_calls() == 1);
  CHECK(counts.fallback == std::map<std::string, int64_t>{{"swiglu_forward", 1}});
  CHECK(counts.device == std::map<std::string, int64_t>{{"swiglu_backward", 1}});
  // An entry the table has but does not run for this shape or precision.
  CHECK_FALSE(k.attention_supported(kernels::AttentionShape{1, 4, 1, 192, 128}));
  k.call_if(false, &KernelTable::swiglu_backward, u, a, 2, 8, du);
  CHECK(counts.fallback.at("swiglu_backward") == 1);
  CHECK(table.entries().size() == cpu_kernel_table().entries().size());
}

TEST_CASE("a training step through a table with half its entries missing gives the CPU table's losses bit for bit", "[kernel_table]") {
  // The op layer writes each op once: which table runs a kernel changes nothing but the counts. The
  // 4-rank plan (pp 2, dp 2, ep 2) covers dispatch, combine, permute, the pipeline and the optimizer.
  const auto program = tiny();
  TrainOptions o;
  o.steps = 2;
  const auto ref = train(*program, o);
  const KernelTable table = partial_table();
  std::mutex mutex;
  KernelCounts counts;
  o.parts.run_op = [&](RankRuntime& rt, int32_t index, Stream& stream) {
    const ir::OpInstance& op = rt.rp.ops[size_t(index)];
    const OpContext c{rt, index, op, rt.rp.tmpl(op), stream};
    KernelCounts mine;
    OpKernels k(table, KernelLaunch{*rt.device, stream, rt.options.gemm_threads, rt.options.exact, nullptr}, &mine);
    run_op(c, k);
    std::lock_guard lock(mutex);
    for (const auto& [name, n] : mine.device) counts.device[name] += n;
    for (const auto& [name, n] : mine.fallback) counts.fallback[name] += n;
  };
  const auto got = train(*program, o);
  REQUIRE(got.size() == ref.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].stats.loss == ref[i].stats.loss);
    CHECK(got[i].stats.mtp_loss == ref[i].stats.mtp_loss);
    CHECK(got[i].stats.grad_norm == ref[i].stats.grad_norm);
  }
  // Every missing entry the step uses fell back, the present ones did not.
  for (const char* name : {"gemm_nn", "fp8_gemm_wgrad", "transpose_requantize_fp8", "rmsnorm_backward", "swiglu_forward",
                           "router_sigmoid_backward", "permute_forward", "unpermute_backward", "attention_forward",
                           "attention_backward", "rope_forward", "cross_entropy_backward", "embedding_forward", "adamw_step",
                           "sum_of_squares"}) {
    INFO(name);
    CHECK(counts.fallback.count(name) == 1);
    CHECK(counts.device.count(name) == 0);
  }
  for (const char* name : {"fp8_gemm_nt", "quantize_fp8", "rmsnorm_forward", "swiglu_backward", "router_forward",
                           "build_permute_index", "permute_backward", "unpermute_forward", "cross_entropy_forward",
                           "embedding_backward", "rope_backward"}) {
    INFO(name);
    CHECK(counts.device.count(name) == 1);
    CHECK(counts.fallback.count(name) == 0);
  }
}

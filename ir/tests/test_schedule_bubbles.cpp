// Schedules over many pipeline shapes: every chunk task once on the right rank, dependencies and rank order
// respected in the replay, and the DualPipe README's bubble and memory columns (and interleaved 1F1B's
// (PP-1)(F+B)/V) reproduced by the unit-cost evaluator in the sense stated in docs/schedules.md.
#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "ir/schedule.h"

using namespace tandem::ir;

namespace {

std::vector<PipelineShape> shapes(ScheduleKind kind) {
  std::vector<PipelineShape> out;
  if (kind == ScheduleKind::Interleaved) {
    // Megatron-LM's condition: micro-batches a multiple of pp (M = pp: every forward is a warm-up one).
    for (int32_t pp : {1, 2, 3, 4, 8, 16})
      for (int32_t v : {2, 3, 4})
        for (int32_t groups : {1, 2, 3, 5, 8}) out.push_back({kind, pp, groups * pp, v});
    out.push_back({kind, 16, 128, 2});   // DeepSeek-V3-like: PP16, 128 micro-batches, two virtual stages
    return out;
  }
  const bool dual = kind == ScheduleKind::DualPipe || kind == ScheduleKind::DualPipeV;
  const std::vector<int32_t> pps = kind == ScheduleKind::DualPipe ? std::vector<int32_t>{2, 4, 6, 8, 16}
                                                                   : std::vector<int32_t>{1, 2, 3, 4, 8, 16};
  for (int32_t pp : pps) {
    std::vector<int32_t> ms = {2 * pp, 2 * pp + 2, 3 * pp, 4 * pp, 20};
    if (!dual) ms.insert(ms.end(), {1, pp, std::max(1, pp - 1)});
    if (kind == ScheduleKind::DualPipeV) ms.push_back(2 * pp + 1);
    for (int32_t m : ms) {
      const PipelineShape s{kind, pp, m};
      if (kind == ScheduleKind::DualPipe && (m % 2 != 0 || m < 2 * pp)) continue;
      if (kind == ScheduleKind::DualPipeV && m < 2 * pp) continue;
      if (std::none_of(out.begin(), out.end(), [&](const PipelineShape& o) { return o.pp == pp && o.micro_batches == m; }))
        out.push_back(s);
    }
  }
  if (kind == ScheduleKind::DualPipe) out.push_back({kind, 16, 120});  // DeepSeek-V3-like: PP16, 120 micro-batches
  return out;
}

const ScheduleKind kAllKinds[] = {ScheduleKind::OneFOneB, ScheduleKind::ZeroBubble1P, ScheduleKind::DualPipe,
                                  ScheduleKind::DualPipeV, ScheduleKind::Interleaved};

double cost_of(ChunkKind k, const ChunkCosts& c) {
  switch (k) {
    case ChunkKind::Forward: return c.f;
    case ChunkKind::Backward: return c.b + c.w;
    case ChunkKind::BackwardInput: return c.b;
    case ChunkKind::BackwardWeight: return c.w;
    case ChunkKind::ForwardBackward: return c.fb;
  }
  return -1;
}

std::string name(const PipelineShape& s) {
  return std::string(to_string(s.kind)) + " pp=" + std::to_string(s.pp) + " v=" + std::to_string(s.virtual_stages) +
         " m=" + std::to_string(s.micro_batches);
}

}  // namespace

TEST_CASE("every F, B and W appears once per (micro-batch, chunk), on the rank that owns the chunk", "[schedule]") {
  for (ScheduleKind kind : kAllKinds) {
    for (const PipelineShape& s : shapes(kind)) {
      INFO(name(s));
      const int32_t chunks = model_chunks(s);
      const size_t keys = size_t(s.micro_batches) * size_t(chunks);
      std::vector<int> fwd(keys, 0), bwd_in(keys, 0), bwd_w(keys, 0);
      bool wrong_rank = false;
      for (int32_t r = 0; r < s.pp; ++r) {
        const std::vector<int32_t> held = chunks_on_rank(s, r);
        for (const ChunkTask& t : chunk_order(s, r)) {
          auto count = [&](const ChunkRef& ref, std::vector<int>& tally) {
            tally[size_t(ref.mb) * size_t(chunks) + size_t(ref.chunk)]++;
            if (chunk_rank(s, ref.chunk, ref.mb) != r) wrong_rank = true;
            if (std::find(held.begin(), held.end(), ref.chunk) == held.end()) wrong_rank = true;
          };
          if (t.kind == ChunkKind::Forward || t.kind == ChunkKind::ForwardBackward) count(t.fwd, fwd);
          if (t.kind == ChunkKind::Backward || t.kind == ChunkKind::ForwardBackward) {
            count(t.bwd, bwd_in);
            count(t.bwd, bwd_w);
          }
          if (t.kind == ChunkKind::BackwardInput) count(t.bwd, bwd_in);
          if (t.kind == ChunkKind::BackwardWeight) count(t.bwd, bwd_w);
        }
      }
      CHECK_FALSE(wrong_rank);
      CHECK(std::all_of(fwd.begin(), fwd.end(), [](int n) { return n == 1; }));
      CHECK(std::all_of(bwd_in.begin(), bwd_in.end(), [](int n) { return n == 1; }));
      CHECK(std::all_of(bwd_w.begin(), bwd_w.end(), [](int n) { return n == 1; }));
    }
  }
}

TEST_CASE("replays run without deadlock, in rank order, after every dependency", "[schedule]") {
  const ChunkCosts costs{1.0, 1.5, 0.75, 2.5};
  for (ScheduleKind kind : kAllKinds) {
    for (const PipelineShape& s : shapes(kind)) {
      INFO(name(s));
      const int32_t chunks = model_chunks(s);
      const PipelineTimes t = evaluate(s, costs);  // throws on deadlock
      const size_t keys = size_t(s.micro_batches) * size_t(chunks);
      std::vector<double> f_end(keys), b_end(keys);
      std::vector<std::vector<ChunkTask>> orders;
      for (int32_t r = 0; r < s.pp; ++r) orders.push_back(chunk_order(s, r));
      for (int32_t r = 0; r < s.pp; ++r) {
        for (size_t i = 0; i < orders[size_t(r)].size(); ++i) {
          const ChunkTask& task = orders[size_t(r)][i];
          const TaskTime& tt = t.tasks[size_t(r)][i];
          if (task.kind == ChunkKind::Forward || task.kind == ChunkKind::ForwardBackward)
            f_end[size_t(task.fwd.mb) * size_t(chunks) + size_t(task.fwd.chunk)] = tt.end;
          if (task.kind != ChunkKind::Forward && task.kind != ChunkKind::BackwardWeight)
            b_end[size_t(task.bwd.mb) * size_t(chunks) + size_t(task.bwd.chunk)] = tt.end;
        }
      }
      auto at = [&](const std::vector<double>& v, int32_t mb, int32_t c) { return v[size_t(mb) * size_t(chunks) + size_t(c)]; };
      int violations = 0;
      for (int32_t r = 0; r < s.pp; ++r) {
        double prev_end = 0;
        for (size_t i = 0; i < orders[size_t(r)].size(); ++i) {
          const ChunkTask& task = orders[size_t(r)][i];
          const TaskTime& tt = t.tasks[size_t(r)][i];
          if (tt.start < prev_end || tt.end - tt.start != cost_of(task.kind, costs)) ++violations;
          prev_end = tt.end;
          if (task.kind == ChunkKind::Forward || task.kind == ChunkKind::ForwardBackward)
            if (task.fwd.chunk > 0 && tt.start < at(f_end, task.fwd.mb, task.fwd.chunk - 1)) ++violations;
          if (task.kind != ChunkKind::Forward && task.kind != ChunkKind::BackwardWeight) {
            if (tt.start < at(f_end, task.bwd.mb, task.bwd.chunk)) ++violations;
            if (task.bwd.chunk + 1 < chunks && tt.start < at(b_end, task.bwd.mb, task.bwd.chunk + 1)) ++violations;
          }
          if (task.kind == ChunkKind::BackwardWeight && tt.start < at(b_end, task.bwd.mb, task.bwd.chunk)) ++violations;
        }
        CHECK(prev_end <= t.makespan);
      }
      CHECK(violations == 0);
    }
  }
}

// 1F1B: every rank's idle (makespan - busy, all ranks starting at 0) is (PP-1)(F+B), for any costs.
TEST_CASE("1F1B idle per rank is (PP-1)(F+B)", "[schedule][bubble]") {
  const ChunkCosts costs[] = {{1, 1, 1, 0}, {1, 1.5, 0.5, 0}, {2, 1, 0.25, 0}, {0.5, 2, 1.5, 0}, {1, 0.25, 2, 0}};
  for (const PipelineShape& s : shapes(ScheduleKind::OneFOneB)) {
    for (const ChunkCosts& c : costs) {
      INFO(name(s) << " f=" << c.f << " b=" << c.b << " w=" << c.w);
      const double expected = (s.pp - 1) * (c.f + c.b + c.w);
      CHECK(published_bubble(s, c) == Approx(expected));
      const PipelineTimes t = evaluate(s, c);
      for (double idle : t.idle) CHECK(idle == Approx(expected).margin(1e-9));
    }
  }
}

// Interleaved 1F1B: with a stage's F = V f and B = V (b + w) (V chunks of f, b + w each), every rank's idle
// is (PP-1)(F+B)/V = (PP-1)(f+b+w) for any costs, M a multiple of PP; 1F1B over the same stages idles V
// times as long.
TEST_CASE("interleaved 1F1B idle per rank is (PP-1)(F+B)/V", "[schedule][bubble]") {
  const ChunkCosts costs[] = {{1, 1, 1, 0}, {1, 1.5, 0.5, 0}, {2, 1, 0.25, 0}, {0.5, 2, 1.5, 0}, {1, 0.25, 2, 0}};
  for (const PipelineShape& s : shapes(ScheduleKind::Interleaved)) {
    for (const ChunkCosts& c : costs) {
      INFO(name(s) << " f=" << c.f << " b=" << c.b << " w=" << c.w);
      const double v = s.virtual_stages, stage_f = v * c.f, stage_b = v * (c.b + c.w);
      const double expected = (s.pp - 1) * (stage_f + stage_b) / v;
      CHECK(published_bubble(s, c) == Approx(expected));
      const PipelineTimes t = evaluate(s, c);
      for (double idle : t.idle) CHECK(idle == Approx(expected).margin(1e-9));
      const PipelineShape plain{ScheduleKind::OneFOneB, s.pp, s.micro_batches};
      CHECK(evaluate(plain, {stage_f, v * c.b, v * c.w, 0}).idle[0] == Approx(v * expected).margin(1e-9));
    }
  }
}

// ZB1P: every rank's idle is (PP-1)(F+B-2W) when W <= F, W <= b (the input-grad part) and M >= PP; with
// fewer micro-batches or a heavier W, the deferred W's cannot fill the bubble and idle is larger.
TEST_CASE("ZB1P idle per rank is (PP-1)(F+B-2W) when W <= F, W <= b and M >= PP", "[schedule][bubble]") {
  const ChunkCosts costs[] = {{1, 1, 1, 0}, {1, 1.5, 0.5, 0}, {2, 1, 0.25, 0}, {1.5, 1, 1, 0}, {1, 2, 0.75, 0}};
  for (const PipelineShape& s : shapes(ScheduleKind::ZeroBubble1P)) {
    for (const ChunkCosts& c : costs) {
      INFO(name(s) << " f=" << c.f << " b=" << c.b << " w=" << c.w);
      const double expected = (s.pp - 1) * (c.f + (c.b + c.w) - 2 * c.w);
      CHECK(published_bubble(s, c) == Approx(expected));
      const PipelineTimes t = evaluate(s, c);
      for (double idle : t.idle) {
        if (s.micro_batches >= s.pp) CHECK(idle == Approx(expected).margin(1e-9));
        else CHECK(idle > expected);
      }
    }
  }
  for (const ChunkCosts& c : {ChunkCosts{1, 0.5, 1, 0}, ChunkCosts{0.5, 1, 1, 0}}) {  // W > b or W > F
    const PipelineShape s{ScheduleKind::ZeroBubble1P, 4, 12};
    CHECK(evaluate(s, c).idle[0] > published_bubble(s, c));
  }
}

// DualPipe and DualPipeV: with PP = model_chunks (DualPipeV: 2 x ranks), F&B = fb and B = b + w, the largest
// per-rank idle, reached on the middle ranks (DualPipe pp/2-1 and pp/2, DualPipeV the turning rank pp-1),
// is (PP/2-1)(F&B+B-3W) when the input-grad part costs as much as a forward (b = F), W <= F and
// max(F, B) <= F&B <= F + B. A rank with half-rank h (DualPipe min(r, pp-1-r) of H = pp/2; DualPipeV r of
// H = pp) overlaps max(0, H-2-h) fewer F&B pairs than the middle ranks, so its idle is smaller by that many
// overlap gains g = F + B - F&B; with no overlap gain every rank's idle equals the formula.
TEST_CASE("DualPipe and DualPipeV bubble is (PP/2-1)(F&B+B-3W)", "[schedule][bubble]") {
  std::vector<ChunkCosts> costs;
  for (auto [f, w] : {std::pair{1.0, 1.0}, {1.0, 0.5}, {2.0, 1.0}, {1.0, 0.25}, {1.5, 1.25}}) {
    const double lo = std::max(f, f + w), hi = f + f + w;
    for (double fb : {lo, (lo + hi) / 2, hi}) costs.push_back({f, f, w, fb});
  }
  for (ScheduleKind kind : {ScheduleKind::DualPipe, ScheduleKind::DualPipeV}) {
    for (const PipelineShape& s : shapes(kind)) {
      const int32_t stages = model_chunks(s);
      const std::vector<int32_t> middle = kind == ScheduleKind::DualPipe ? std::vector<int32_t>{s.pp / 2 - 1, s.pp / 2}
                                                                          : std::vector<int32_t>{s.pp - 1};
      for (const ChunkCosts& c : costs) {
        INFO(name(s) << " f=" << c.f << " b=" << c.b << " w=" << c.w << " fb=" << c.fb);
        const double expected = (stages / 2 - 1) * (c.fb + (c.b + c.w) - 3 * c.w);
        CHECK(published_bubble(s, c) == Approx(expected));
        const PipelineTimes t = evaluate(s, c);
        CHECK(max_idle(t) == Approx(expected).margin(1e-9));
        for (int32_t r : middle) CHECK(t.idle[size_t(r)] == Approx(expected).margin(1e-9));
        const int32_t H = kind == ScheduleKind::DualPipe ? s.pp / 2 : s.pp;
        const double gain = c.f + c.b + c.w - c.fb;
        for (int32_t r = 0; r < s.pp; ++r) {
          const int32_t h = kind == ScheduleKind::DualPipe ? std::min(r, s.pp - 1 - r) : r;
          CHECK(t.idle[size_t(r)] == Approx(expected - std::max(0, H - 2 - h) * gain).margin(1e-9));
        }
      }
    }
  }
}

TEST_CASE("peak live activations and parameters match the DualPipe README's table", "[schedule][memory]") {
  for (ScheduleKind kind : kAllKinds) {
    for (const PipelineShape& s : shapes(kind)) {
      if (s.micro_batches < s.pp) continue;
      INFO(name(s));
      // Live activations depend only on each rank's order, not on the costs.
      const std::vector<int32_t> peak = evaluate(s, {1, 1, 1, 2}).peak_live_activations;
      CHECK(peak == evaluate(s, {2, 0.5, 1.5, 3}).peak_live_activations);
      for (int32_t r = 0; r < s.pp; ++r) {
        switch (kind) {
          case ScheduleKind::OneFOneB: CHECK(peak[size_t(r)] == s.pp - r); break;  // PP on rank 0
          case ScheduleKind::ZeroBubble1P: CHECK(peak[size_t(r)] == s.pp); break;
          case ScheduleKind::DualPipe: CHECK(peak[size_t(r)] == s.pp + 1); break;
          case ScheduleKind::DualPipeV: CHECK(peak[size_t(r)] == 2 * s.pp + 1); break;  // PP + 1 stages
          case ScheduleKind::Interleaved: {
            // Megatron's warm-up forwards plus the first steady one, in chunks of 1/V stage: rank 0 holds
            // 2(pp-1) + (V-1)pp + 1 = pp V + pp - 1 chunks, pp (1 + (pp-1)/(pp V)) stages. M = pp: all of them.
            const int32_t v = s.virtual_stages, all = s.micro_batches * v;
            CHECK(peak[size_t(r)] == (s.micro_batches == s.pp ? all : std::min(all, 2 * (s.pp - 1 - r) + (v - 1) * s.pp + 1)));
            break;
          }
        }
      }
      CHECK(parameter_copies(s) == (kind == ScheduleKind::DualPipe ? 2 : 1));
    }
  }
}

TEST_CASE("DualPipe overlaps as many F&B pairs as the step counts of the public code give", "[schedule]") {
  // Pairs per rank: 2 x step 4 + step 5 = 2 (M/2 - PP + h + 1) + (PP/2 - h - 1) = M - 3 PP/2 + h + 1 for
  // half-rank h, one less on the middle ranks whose first step-4 round is not overlapped. DualPipeV: the
  // same with PP/2 -> PP and M/2 -> M: 2M - 3PP + r + 1, one less on the last rank.
  for (ScheduleKind kind : {ScheduleKind::DualPipe, ScheduleKind::DualPipeV}) {
    for (const PipelineShape& s : shapes(kind)) {
      INFO(name(s));
      for (int32_t r = 0; r < s.pp; ++r) {
        const auto order = chunk_order(s, r);
        const auto pairs = std::count_if(order.begin(), order.end(),
                                         [](const ChunkTask& t) { return t.kind == ChunkKind::ForwardBackward; });
        int64_t expected = 0;
        if (kind == ScheduleKind::DualPipe) {
          const int32_t h = std::min(r, s.pp - 1 - r);
          expected = s.micro_batches - 3 * s.pp / 2 + h + 1 - (h == s.pp / 2 - 1 ? 1 : 0);
        } else {
          expected = 2 * s.micro_batches - 3 * s.pp + r + 1 - (r == s.pp - 1 ? 1 : 0);
        }
        CHECK(pairs == expected);
      }
    }
  }
}

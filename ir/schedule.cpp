// Schedule names, shape validation, chunk placement and the per-rank chunk orders of 1F1B, ZB1P (ZB-H1),
// DualPipe, DualPipeV and interleaved 1F1B. The DualPipe orders follow the step structure of DeepSeek's
// public DualPipe code (dualpipe.py / dualpipev.py), the interleaved one Megatron-LM's
// forward_backward_pipelining_with_interleaving; docs/schedules.md lists the orders and conventions.
#include "ir/schedule.h"

#include <algorithm>
#include <deque>
#include <stdexcept>
#include <string>

namespace tandem::ir {

namespace {

std::string shape_text(const PipelineShape& s) {
  return std::string(to_string(s.kind)) + " (pp = " + std::to_string(s.pp) +
         (s.virtual_stages != 1 ? ", virtual_stages = " + std::to_string(s.virtual_stages) : std::string()) +
         ", micro_batches = " + std::to_string(s.micro_batches) + ")";
}

[[noreturn]] void bad_shape(const PipelineShape& s, const std::string& what) {
  throw std::invalid_argument("pipeline schedule " + shape_text(s) + ": " + what);
}

void check_rank(const PipelineShape& s, int32_t rank) {
  if (rank < 0 || rank >= s.pp)
    throw std::out_of_range("pipeline schedule " + shape_text(s) + ": rank " + std::to_string(rank) +
                            " is outside [0, " + std::to_string(s.pp) + ")");
}

ChunkTask forward(int32_t mb, int32_t chunk) { return {ChunkKind::Forward, {mb, chunk}, {}}; }
ChunkTask backward(ChunkKind kind, int32_t mb, int32_t chunk) { return {kind, {}, {mb, chunk}}; }

// 1F1B: PP-1-r warm-up forwards, then one forward and one full backward at a time, then the
// remaining backwards.
std::vector<ChunkTask> order_1f1b(const PipelineShape& s, int32_t r) {
  const int32_t m = s.micro_batches;
  const int32_t warm = std::min(s.pp - 1 - r, m);
  std::vector<ChunkTask> out;
  out.reserve(size_t(2 * m));
  int32_t f = 0, b = 0;
  for (; f < warm; ++f) out.push_back(forward(f, r));
  while (f < m) {
    out.push_back(forward(f++, r));
    out.push_back(backward(ChunkKind::Backward, b++, r));
  }
  while (b < m) out.push_back(backward(ChunkKind::Backward, b++, r));
  return out;
}

// ZB-H1 (zero-bubble paper, uniform B/W split): the 1F1B order with every backward split into B and W,
// where rank r defers r weight-grad tasks: PP-1-r warm-up forwards, r rounds of (F, B), then (F, B, W)
// while forwards remain, then (B, W), then the deferred W's. W's are taken oldest first.
std::vector<ChunkTask> order_zb1p(const PipelineShape& s, int32_t r) {
  const int32_t m = s.micro_batches;
  std::vector<ChunkTask> out;
  out.reserve(size_t(3 * m));
  int32_t f = 0, b = 0, w = 0;
  for (; f < std::min(s.pp - 1 - r, m); ++f) out.push_back(forward(f, r));
  for (int32_t i = 0; i < r && f < m; ++i) {
    out.push_back(forward(f++, r));
    out.push_back(backward(ChunkKind::BackwardInput, b++, r));
  }
  while (f < m) {
    out.push_back(forward(f++, r));
    out.push_back(backward(ChunkKind::BackwardInput, b++, r));
    out.push_back(backward(ChunkKind::BackwardWeight, w++, r));
  }
  while (b < m) {
    out.push_back(backward(ChunkKind::BackwardInput, b++, r));
    out.push_back(backward(ChunkKind::BackwardWeight, w++, r));
  }
  while (w < m) out.push_back(backward(ChunkKind::BackwardWeight, w++, r));
  return out;
}

// Interleaved 1F1B as Megatron-LM runs it. Virtual micro-batch k (M V of them) is one micro-batch through
// one of the rank's V chunks, taken from Megatron's schedule table: micro-batches in groups of pp (M is a
// multiple of pp), each group through virtual stage 0, then 1, ... V-1 (backwards: V-1 first).
// Rank r issues (pp-1-r) 2 + (V-1) pp warm-up forwards (all of them when M = pp), then one forward and one
// backward at a time, then the remaining backwards. Virtual stage v of rank r is model chunk v pp + r.
std::vector<ChunkTask> order_interleaved(const PipelineShape& s, int32_t r) {
  const int32_t m = s.micro_batches, pp = s.pp, v_stages = s.virtual_stages;
  std::vector<ChunkRef> table;   // (micro-batch, virtual stage) per virtual micro-batch
  table.reserve(size_t(m) * size_t(v_stages));
  for (int32_t first = 0; first < m; first += pp)
    for (int32_t v = 0; v < v_stages; ++v)
      for (int32_t mb = first; mb < first + pp; ++mb) table.push_back({mb, v});
  const int32_t total = int32_t(table.size());
  const int32_t warm = m == pp ? total : std::min((pp - 1 - r) * 2 + (v_stages - 1) * pp, total);
  auto fwd = [&](int32_t k) { return forward(table[size_t(k)].mb, table[size_t(k)].chunk * pp + r); };
  auto bwd = [&](int32_t k) {
    return backward(ChunkKind::Backward, table[size_t(k)].mb, (v_stages - 1 - table[size_t(k)].chunk) * pp + r);
  };
  std::vector<ChunkTask> out;
  out.reserve(size_t(2 * total));
  int32_t f = 0, b = 0;
  for (; f < warm; ++f) out.push_back(fwd(f));
  while (f < total) {
    out.push_back(fwd(f++));
    out.push_back(bwd(b++));
  }
  while (b < total) out.push_back(bwd(b++));
  return out;
}

// DualPipe and DualPipeV share one step structure; they differ in which chunks and micro-batches each
// rank's two "phases" carry. Phase 0 is the direction in which the rank sits in the first half of the
// pipeline, phase 1 the other one (as in dualpipe.py, where second-half ranks swap the phases).
class DualPipeOrder {
 public:
  DualPipeOrder(const PipelineShape& s, int32_t r) {
    if (s.kind == ScheduleKind::DualPipe) {
      // Micro-batches [0, m/2) enter at rank 0 (chunk c on rank c); [m/2, m) enter at rank pp-1
      // (chunk c on rank pp-1-c). Rank r holds chunks r and pp-1-r.
      half_ranks_ = s.pp / 2;
      half_rank_ = std::min(r, s.pp - 1 - r);
      per_phase_ = s.micro_batches / 2;
      const bool second_half = r >= half_ranks_;
      chunk_[0] = std::min(r, s.pp - 1 - r);
      chunk_[1] = std::max(r, s.pp - 1 - r);
      first_mb_[0] = second_half ? per_phase_ : 0;
      first_mb_[1] = second_half ? 0 : per_phase_;
      middle_ = half_rank_ == half_ranks_ - 1;
    } else {
      // All micro-batches enter at rank 0: chunks 0..pp-1 go down ranks 0..pp-1, chunks pp..2pp-1 come
      // back up ranks pp-1..0. Rank r holds chunks r and 2pp-1-r; the last rank is the V's turn.
      half_ranks_ = s.pp;
      half_rank_ = r;
      per_phase_ = s.micro_batches;
      chunk_[0] = r;
      chunk_[1] = 2 * s.pp - 1 - r;
      first_mb_[0] = first_mb_[1] = 0;
      middle_ = r == s.pp - 1;
    }
  }

  std::vector<ChunkTask> build() {
    const int32_t H = half_ranks_, R = half_rank_, n = per_phase_;
    out_.reserve(size_t(6 * n));
    // Step 1: nF0
    for (int32_t i = 0; i < 2 * (H - R - 1); ++i) f(0);
    // Step 2: nF0F1
    for (int32_t i = 0; i < R + 1; ++i) {
      f(0);
      f(1);
    }
    // Step 3: nB1W1F1 (backward split; its W runs right away)
    for (int32_t i = 0; i < H - R - 1; ++i) {
      b(1, true);
      w();
      f(1);
    }
    // Step 4 (main): nF0B1F1B0. The middle rank does not overlap its first pair (as in the public code,
    // to shorten the bubble).
    for (int32_t i = 0; i < n - 2 * H + R + 1; ++i) {
      if (i == 0 && middle_) {
        f(0);
        b(1, false);
      } else {
        fb(0, 1);
      }
      fb(1, 0);
    }
    // Step 5: nB1F1B0
    for (int32_t i = 0; i < H - R - 1; ++i) {
      b(1, false);
      fb(1, 0);
    }
    // Step 6: nB1B0, the second half of these backwards split (zero bubble)
    const int32_t step6 = R + 1;
    bool split = false;
    for (int32_t i = 0; i < step6; ++i) {
      if (i == step6 / 2 && R % 2 == 1) split = true;
      b(1, split);
      if (i == step6 / 2 && R % 2 == 0) split = true;
      b(0, split);
    }
    // Step 7: nWB0
    for (int32_t i = 0; i < H - R - 1; ++i) {
      w();
      b(0, true);
    }
    // Step 8: nW
    for (int32_t i = 0; i < R + 1; ++i) w();
    if (!deferred_.empty()) throw std::logic_error("DualPipe order left weight-grad tasks unissued");
    return std::move(out_);
  }

 private:
  ChunkRef next_f(int p) { return {first_mb_[p] + f_count_[p]++, chunk_[p]}; }
  ChunkRef next_b(int p) { return {first_mb_[p] + b_count_[p]++, chunk_[p]}; }
  void f(int p) { out_.push_back({ChunkKind::Forward, next_f(p), {}}); }
  void b(int p, bool split) {
    const ChunkRef ref = next_b(p);
    out_.push_back({split ? ChunkKind::BackwardInput : ChunkKind::Backward, {}, ref});
    if (split) deferred_.push_back(ref);
  }
  void fb(int pf, int pb) {
    const ChunkRef fr = next_f(pf);
    out_.push_back({ChunkKind::ForwardBackward, fr, next_b(pb)});
  }
  // Weight-grad tasks run first in, first out (WeightGradStore in the public code).
  void w() {
    if (deferred_.empty()) throw std::logic_error("DualPipe order pops a weight-grad task that was never deferred");
    out_.push_back({ChunkKind::BackwardWeight, {}, deferred_.front()});
    deferred_.pop_front();
  }

  int32_t half_ranks_ = 0, half_rank_ = 0, per_phase_ = 0;
  int32_t chunk_[2] = {0, 0};
  int32_t first_mb_[2] = {0, 0};
  int32_t f_count_[2] = {0, 0};
  int32_t b_count_[2] = {0, 0};
  bool middle_ = false;
  std::deque<ChunkRef> deferred_;
  std::vector<ChunkTask> out_;
};

}  // namespace

std::string_view to_string(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::OneFOneB: return "1f1b";
    case ScheduleKind::ZeroBubble1P: return "zb1p";
    case ScheduleKind::DualPipe: return "dualpipe";
    case ScheduleKind::DualPipeV: return "dualpipev";
    case ScheduleKind::Interleaved: return "interleaved";
  }
  return "?";
}

std::optional<ScheduleKind> parse_schedule(std::string_view name) {
  for (ScheduleKind k : {ScheduleKind::OneFOneB, ScheduleKind::ZeroBubble1P, ScheduleKind::DualPipe,
                         ScheduleKind::DualPipeV, ScheduleKind::Interleaved})
    if (name == to_string(k)) return k;
  return std::nullopt;
}

std::string_view to_string(ChunkKind kind) {
  switch (kind) {
    case ChunkKind::Forward: return "F";
    case ChunkKind::Backward: return "B";
    case ChunkKind::BackwardInput: return "BI";
    case ChunkKind::BackwardWeight: return "W";
    case ChunkKind::ForwardBackward: return "FB";
  }
  return "?";
}

void validate(const PipelineShape& s) {
  if (to_string(s.kind) == "?") bad_shape(s, "unknown schedule kind " + std::to_string(int(s.kind)));
  if (s.pp < 1 || s.pp > kMaxPipelineRanks)
    bad_shape(s, "pp must be in [1, " + std::to_string(kMaxPipelineRanks) + "], found " + std::to_string(s.pp));
  if (s.micro_batches < 1 || s.micro_batches > kMaxMicroBatches)
    bad_shape(s, "micro_batches must be in [1, " + std::to_string(kMaxMicroBatches) + "], found " +
                     std::to_string(s.micro_batches));
  if (s.kind == ScheduleKind::DualPipe) {
    if (s.pp % 2 != 0)
      bad_shape(s, "dualpipe needs an even pp (ranks pair up as r and pp-1-r), found " + std::to_string(s.pp));
    if (s.micro_batches % 2 != 0)
      bad_shape(s, "dualpipe needs an even number of micro-batches (half enter from each end), found " +
                       std::to_string(s.micro_batches));
    if (s.micro_batches < 2 * s.pp)
      bad_shape(s, "dualpipe needs at least 2 * pp = " + std::to_string(2 * s.pp) + " micro-batches, found " +
                       std::to_string(s.micro_batches));
  }
  if (s.kind == ScheduleKind::DualPipeV && s.micro_batches < 2 * s.pp)
    bad_shape(s, "dualpipev needs at least 2 * pp = " + std::to_string(2 * s.pp) + " micro-batches, found " +
                     std::to_string(s.micro_batches));
  if (s.kind == ScheduleKind::Interleaved) {
    if (s.virtual_stages < 2 || s.virtual_stages > kMaxVirtualStages)
      bad_shape(s, "interleaved needs virtual_stages in [2, " + std::to_string(kMaxVirtualStages) +
                       "] (one virtual stage is 1f1b), found " + std::to_string(s.virtual_stages));
    if (int64_t(s.pp) * s.virtual_stages > kMaxPipelineRanks)
      bad_shape(s, "interleaved needs at most " + std::to_string(kMaxPipelineRanks) + " model chunks (pp * virtual_stages), found " +
                       std::to_string(int64_t(s.pp) * s.virtual_stages));
    if (s.micro_batches % s.pp != 0)
      bad_shape(s, "interleaved needs a multiple of pp = " + std::to_string(s.pp) +
                       " micro-batches (they run in groups of pp through each virtual stage), found " + std::to_string(s.micro_batches));
  } else if (s.virtual_stages != 1) {
    bad_shape(s, "virtual_stages other than 1 only with the interleaved schedule, found " + std::to_string(s.virtual_stages));
  }
}

int32_t model_chunks(const PipelineShape& s) {
  validate(s);
  if (s.kind == ScheduleKind::Interleaved) return s.pp * s.virtual_stages;
  return s.kind == ScheduleKind::DualPipeV ? 2 * s.pp : s.pp;
}

int32_t chunk_rank(const PipelineShape& s, int32_t chunk, int32_t mb) {
  const int32_t chunks = model_chunks(s);
  if (chunk < 0 || chunk >= chunks)
    throw std::out_of_range("pipeline schedule " + shape_text(s) + ": chunk " + std::to_string(chunk) +
                            " is outside [0, " + std::to_string(chunks) + ")");
  if (mb < 0 || mb >= s.micro_batches)
    throw std::out_of_range("pipeline schedule " + shape_text(s) + ": micro-batch " + std::to_string(mb) +
                            " is outside [0, " + std::to_string(s.micro_batches) + ")");
  switch (s.kind) {
    case ScheduleKind::OneFOneB:
    case ScheduleKind::ZeroBubble1P: return chunk;
    case ScheduleKind::DualPipe: return mb < s.micro_batches / 2 ? chunk : s.pp - 1 - chunk;
    case ScheduleKind::DualPipeV: return chunk < s.pp ? chunk : 2 * s.pp - 1 - chunk;
    case ScheduleKind::Interleaved: return chunk % s.pp;
  }
  return -1;
}

std::vector<int32_t> chunks_on_rank(const PipelineShape& s, int32_t rank) {
  validate(s);
  check_rank(s, rank);
  switch (s.kind) {
    case ScheduleKind::OneFOneB:
    case ScheduleKind::ZeroBubble1P: return {rank};
    case ScheduleKind::DualPipe: return {std::min(rank, s.pp - 1 - rank), std::max(rank, s.pp - 1 - rank)};
    case ScheduleKind::DualPipeV: return {rank, 2 * s.pp - 1 - rank};
    case ScheduleKind::Interleaved: {
      std::vector<int32_t> out;
      for (int32_t v = 0; v < s.virtual_stages; ++v) out.push_back(v * s.pp + rank);
      return out;
    }
  }
  return {};
}

int32_t parameter_copies(const PipelineShape& s) {
  validate(s);
  return s.kind == ScheduleKind::DualPipe ? 2 : 1;
}

std::vector<ChunkTask> chunk_order(const PipelineShape& s, int32_t rank) {
  validate(s);
  check_rank(s, rank);
  switch (s.kind) {
    case ScheduleKind::OneFOneB: return order_1f1b(s, rank);
    case ScheduleKind::ZeroBubble1P: return order_zb1p(s, rank);
    case ScheduleKind::DualPipe:
    case ScheduleKind::DualPipeV: return DualPipeOrder(s, rank).build();
    case ScheduleKind::Interleaved: return order_interleaved(s, rank);
  }
  return {};
}

double published_bubble(const PipelineShape& s, const ChunkCosts& c) {
  const double pp = double(model_chunks(s));
  const double full_b = c.b + c.w;
  switch (s.kind) {
    case ScheduleKind::OneFOneB: return (pp - 1) * (c.f + full_b);
    case ScheduleKind::ZeroBubble1P: return (pp - 1) * (c.f + full_b - 2 * c.w);
    case ScheduleKind::DualPipe:
    case ScheduleKind::DualPipeV: return (pp / 2 - 1) * (c.fb + full_b - 3 * c.w);
    case ScheduleKind::Interleaved: {
      // (pp-1)(F+B)/V with a stage's F = V f and B = V (b + w).
      const double ranks = double(s.pp), v = double(s.virtual_stages);
      return (ranks - 1) * (v * c.f + v * full_b) / v;
    }
  }
  return 0;
}

}  // namespace tandem::ir

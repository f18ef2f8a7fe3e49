// A predicted timeline against a measured one (`tandem compare`, `tandem-view A B --summary`): ops
// lined up by identity (tandem's own traces) or by kind, phase, layer and order (Kineto), and each
// side's step time, phases, bubble, exposed communication, per-kind and per-stream busy time with the
// signed errors. docs/compare.md says how ops are lined up and what each number means; the report is
// trace/compare_report.h's.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trace/timeline.h"

namespace tandem::trace {

// How ops were lined up: by (rank, step, id) when both sides are tandem's own traces, else by the
// n-th occurrence of (kind, phase, layer) on a stream role of the n-th rank of each side.
enum class Matching : uint8_t { Identity, KindOrder };
std::string_view to_string(Matching m);   // "identity", "kind_order"

// One quantity on both sides, in seconds. error() = (predicted - measured) / measured; none when the
// measured value is 0 (and the predicted not), 0 when both are.
struct SidePair {
  double predicted_s = 0.0, measured_s = 0.0;
  std::optional<double> error() const;
};

// A row of a table: a phase, an op kind or a stream, with the ops counted on each side.
struct CompareRow {
  std::string name;
  SidePair time;
  int64_t predicted_count = 0, measured_count = 0;
};

// One lined-up op pair.
struct OpPair {
  std::string name;                  // the predicted op's name
  std::string kind;
  int32_t rank = 0;                  // the predicted op's rank
  int64_t id = -1;                   // the predicted op's id (-1 when absent)
  SidePair time;
};

// Ops of one side that found no partner (or pairs whose names disagree): the count and the first few.
struct OpList {
  int64_t count = 0;
  std::vector<std::string> first;    // "rank R id I NAME", at most kFirstListed
};
inline constexpr size_t kFirstListed = 5;

// What was taken from each side.
struct CompareSide {
  std::string path;
  TraceSource source = TraceSource::Unknown;
  std::string scenario;
  std::vector<int32_t> ranks;        // the ranks compared
  int64_t steps_held = 0;            // distinct `step` args in the file (0: none)
  int64_t step = -1;                 // the step compared (-1: the whole trace, no step args)
  int64_t ops = 0;                   // ops compared (host work and annotations aside)
};

struct Comparison {
  Matching matching = Matching::Identity;
  // Kind order: whether the phase and the layer are part of the key (only when both sides carry them;
  // a Kineto trace carries neither).
  bool by_phase = false, by_layer = false;
  CompareSide predicted, measured;
  int64_t matched = 0;
  OpList only_predicted, only_measured;
  OpList name_mismatches;            // identity matching: pairs whose names differ
  SidePair step;
  // Means per rank: forward, backward_input, backward_weight, optimizer, other, bubble,
  // exposed_comm, communication, overlap.
  std::vector<CompareRow> phases;
  std::vector<CompareRow> kinds;     // busy time summed over ranks, by the larger side, longest first
  std::vector<CompareRow> classes;   // the same per kernel class (trace/kernel_class.h)
  std::vector<CompareRow> streams;   // busy time (union per track) summed over ranks
  std::vector<OpPair> top_ops;       // the matched pairs with the largest |predicted - measured|
};
inline constexpr size_t kTopOps = 10;

struct CompareOptions {
  std::vector<int32_t> predicted_ranks, measured_ranks;   // ranks to compare; empty: every rank
  int64_t step = -1;                 // the step of a side holding several; -1: its last
  std::string step_option = "--step", ranks_option = "--ranks";   // named in errors
};

// Compares two timelines read from `predicted_path` and `measured_path` (the paths name the sides in
// messages). A side is copied only when it must be cut to one step or to some ranks. Throws
// io::InputError on input that cannot be compared: an empty trace, ranks or a step the trace does
// not hold, different world sizes under identity matching.
Comparison compare_timelines(const Timeline& predicted, const std::string& predicted_path, const Timeline& measured,
                             const std::string& measured_path, const CompareOptions& options = {});

// "0-3,5" for a sorted list of ranks.
std::string rank_ranges(const std::vector<int32_t>& ranks);

}  // namespace tandem::trace

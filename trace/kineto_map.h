// How a PyTorch-profiler (Kineto) trace maps onto tandem's timeline: regular expressions that give
// each kernel name an op kind and a kernel class, the role of each stream (compute, communication,
// side), and the user_annotation ranges that give kernels their phase. A JSON file (`--map`), or the
// built-in map that classifies by the words kernel names carry. docs/timeline.md describes the format.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "trace/kernel_class.h"
#include "trace/timeline.h"

namespace tandem::trace {

// One rule: a kernel whose name holds a match of `pattern` (ECMAScript, searched anywhere in the
// name) is of op kind `kind` and class `cls`. Rules are tried in order; the first match wins.
struct KernelRule {
  std::string pattern;
  bool ignore_case = false;
  std::regex re;
  std::string kind;                 // an op kind of the timeline (docs/timeline.md)
  KernelClass cls = KernelClass::Other;
};

// A user_annotation range whose name holds a match of `pattern` gives the kernels launched inside it
// phase `phase` ('F', 'B' or 'W'); the innermost such range wins.
struct PhaseRule {
  std::string pattern;
  std::regex re;
  char phase = 0;
};

struct KinetoMap {
  std::string source;                      // the file, or "built-in"
  std::vector<KernelRule> kernels;
  std::map<int32_t, TrackRole> streams;    // Kineto stream (tid) -> role (not Host); others by content
  std::vector<PhaseRule> phases;

  // The first rule matching `kernel_name`, or nullptr (an unknown kernel). Names longer than
  // kMaxMatchedChars are matched on their first kMaxMatchedChars characters.
  const KernelRule* match(std::string_view kernel_name) const;
  // The phase the annotation named `name` gives, or 0.
  char phase_of_annotation(std::string_view name) const;
};
inline constexpr size_t kMaxMatchedChars = 4096;

// The map used when none is given: kernels by the words their names carry (NCCL and DeepEP
// communication, flash/attention, GEMM libraries, norms, optimizers, router, FP8 casts, permutes,
// elementwise), every stream by its content, no phases.
const KinetoMap& builtin_kineto_map();

// Reads a map file. Throws io::InputError naming the file and the JSON path (bad JSON, an unknown
// key, a regular expression that does not compile, an unknown op kind, class, role or phase).
KinetoMap load_kineto_map(const std::string& path);
// The same from a parsed document; `where` names it in messages.
KinetoMap parse_kineto_map(const nlohmann::json& doc, const std::string& where);

// The op kinds a map may give a kernel: the kinds tandem's ops are written with (every ir::OpKind and
// ir::CommKind), send_recv, memcpy and memset.
const std::vector<std::string>& mappable_op_kinds();

}  // namespace tandem::trace

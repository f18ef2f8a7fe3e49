// Kineto maps: the built-in one (kernels by the words their names carry), reading a map file with
// every refusal naming its JSON path, and matching a kernel name or an annotation against the rules.
#include "trace/kineto_map.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <variant>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "io/input_error.h"
#include "io/json_document.h"
#include "ir/op.h"

namespace tandem::trace {

namespace {

constexpr uint64_t kMaxMapBytes = 16 << 20;
constexpr size_t kMaxRules = 4096;

// The built-in map, in the file format: the word classifier the reader has always used (docs/timeline.md),
// with classes added. Case is ignored, as it always was.
constexpr std::string_view kBuiltinMap = R"map({
 "kernels": [
  {"match": "dpsk::ep::", "kind": "all_to_all", "class": "deepep_data", "ignore_case": true},
  {"match": "^(?=.*(nccl|deep_ep|deepep)).*allreduce", "kind": "all_reduce", "class": "collective", "ignore_case": true},
  {"match": "^(?=.*(nccl|deep_ep|deepep)).*allgather", "kind": "all_gather", "class": "collective", "ignore_case": true},
  {"match": "^(?=.*(nccl|deep_ep|deepep)).*reducescatter", "kind": "reduce_scatter", "class": "collective", "ignore_case": true},
  {"match": "^(?=.*(nccl|deep_ep|deepep)).*(alltoall|all_to_all|dispatch|combine)", "kind": "all_to_all", "class": "deepep_data", "ignore_case": true},
  {"match": "^(?=.*(nccl|deep_ep|deepep)).*sendrecv", "kind": "send_recv", "class": "pipeline_p2p", "ignore_case": true},
  {"match": "^(?=.*(nccl|deep_ep|deepep)).*send", "kind": "send", "class": "pipeline_p2p", "ignore_case": true},
  {"match": "^(?=.*(nccl|deep_ep|deepep)).*recv", "kind": "recv", "class": "pipeline_p2p", "ignore_case": true},
  {"match": "nccl|deep_ep|deepep", "kind": "send_recv", "class": "pipeline_p2p", "ignore_case": true},
  {"match": "(flash|fmha|attention|attn|sdpa).*(bwd|backward)", "kind": "attention", "class": "attention_bwd", "ignore_case": true},
  {"match": "flash|fmha|attention|attn|sdpa", "kind": "attention", "class": "attention_fwd", "ignore_case": true},
  {"match": "gemm|cutlass|cublas|xmma|matmul|wgmma|gemv", "kind": "gemm", "class": "other_gemm", "ignore_case": true},
  {"match": "norm", "kind": "norm", "class": "norm", "ignore_case": true},
  {"match": "adam|multi_tensor_apply|optimizer", "kind": "optimizer", "class": "optimizer", "ignore_case": true},
  {"match": "topk|router|moe_gate", "kind": "router", "class": "router", "ignore_case": true},
  {"match": "quant|fp8|e4m3", "kind": "quantize", "class": "cast_transpose", "ignore_case": true},
  {"match": "permute|index|scatter|gather", "kind": "permute", "class": "permute", "ignore_case": true},
  {"match": "elementwise|vectorized|softmax|reduce|silu", "kind": "elementwise", "class": "other", "ignore_case": true}
 ]
})map";

std::string in_quotes(std::string_view s) { return fmt::format("\"{}\"", s); }

// The object at `path`, its keys checked against `allowed`.
const nlohmann::json& object_at(const nlohmann::json& v, const std::string& where, const std::string& path,
                                std::initializer_list<std::string_view> allowed, std::string_view what) {
  if (!v.is_object()) throw io::InputError(where, path, std::string(what), io::describe_json_value(v));
  for (const auto& [key, value] : v.items()) {
    bool known = false;
    for (std::string_view a : allowed) known = known || key == a;
    if (!known) {
      std::string list;
      for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + in_quotes(a);
      throw io::InputError(where, path + "." + key, fmt::format("one of the keys {}", list), "an unknown key");
    }
  }
  return v;
}

const std::string& string_at(const nlohmann::json& obj, std::string_view key, const std::string& where,
                             const std::string& path, std::string_view what) {
  const std::string p = fmt::format("{}.{}", path, key);
  const auto it = obj.find(key);
  if (it == obj.end()) throw io::InputError(where, p, std::string(what), "nothing (the key is required)");
  if (!it->is_string()) throw io::InputError(where, p, std::string(what), io::describe_json_value(*it));
  return it->get_ref<const std::string&>();
}

std::regex compile(const std::string& pattern, bool ignore_case, const std::string& where, const std::string& path) {
  if (pattern.empty()) throw io::InputError(where, path, "a regular expression (ECMAScript)", "an empty string");
  try {
    auto flags = std::regex::ECMAScript | std::regex::optimize;
    if (ignore_case) flags |= std::regex::icase;
    return std::regex(pattern, flags);
  } catch (const std::regex_error& e) {
    throw io::InputError(where, path, "a regular expression (ECMAScript)",
                         fmt::format("\"{}\", which does not compile: {}", io::cut_for_message(pattern, 80), e.what()));
  }
}

std::string kind_list() {
  std::string out;
  for (const std::string& k : mappable_op_kinds()) out += (out.empty() ? "" : ", ") + k;
  return out;
}

std::string class_list() {
  std::string out;
  for (size_t i = 0; i + 1 < kKernelClasses; ++i) out += (out.empty() ? "" : ", ") + std::string(to_string(KernelClass(i)));
  return out;
}

}  // namespace

const std::vector<std::string>& mappable_op_kinds() {
  static const std::vector<std::string> kinds = [] {
    std::vector<std::string> out;
    for (size_t i = 0; i < std::variant_size_v<ir::OpPayload>; ++i) {
      const auto k = ir::OpKind(i);
      if (k != ir::OpKind::Comm) out.emplace_back(ir::to_string(k));
    }
    // Every communication kind (to_string gives "?" past the last one).
    for (int i = 0; i < 64 && ir::to_string(ir::CommKind(i)) != "?"; ++i) out.emplace_back(ir::to_string(ir::CommKind(i)));
    for (std::string_view k : {std::string_view("send_recv"), op_kind::kMemcpy, op_kind::kMemset}) out.emplace_back(k);
    return out;
  }();
  return kinds;
}

const KernelRule* KinetoMap::match(std::string_view kernel_name) const {
  // NOTE: std::regex matches by recursion over the input; a bounded length keeps a crafted
  // megabyte-long name from exhausting the stack.
  const std::string_view name = kernel_name.substr(0, std::min(kernel_name.size(), kMaxMatchedChars));
  for (const KernelRule& r : kernels)
    if (std::regex_search(name.begin(), name.end(), r.re)) return &r;
  return nullptr;
}

char KinetoMap::phase_of_annotation(std::string_view name) const {
  const std::string_view n = name.substr(0, std::min(name.size(), kMaxMatchedChars));
  for (const PhaseRule& r : phases)
    if (std::regex_search(n.begin(), n.end(), r.re)) return r.phase;
  return 0;
}

KinetoMap parse_kineto_map(const nlohmann::json& doc, const std::string& where) {
  KinetoMap map;
  map.source = where;
  object_at(doc, where, "$", {"description", "kernels", "streams", "phases"}, "a Kineto map (an object with \"kernels\")");
  if (const auto d = doc.find("description"); d != doc.end() && !d->is_string())
    throw io::InputError(where, "$.description", "a string", io::describe_json_value(*d));

  const auto kernels = doc.find("kernels");
  if (kernels == doc.end()) throw io::InputError(where, "$.kernels", "an array of kernel rules", "nothing (the key is required)");
  if (!kernels->is_array() || kernels->empty() || kernels->size() > kMaxRules)
    throw io::InputError(where, "$.kernels", fmt::format("an array of 1 to {} kernel rules", kMaxRules),
                         io::describe_json_value(*kernels));
  for (size_t i = 0; i < kernels->size(); ++i) {
    const std::string path = fmt::format("$.kernels[{}]", i);
    const auto& r = object_at((*kernels)[i], where, path, {"match", "kind", "class", "ignore_case"},
                              "a kernel rule {\"match\": REGEX, \"kind\": KIND, \"class\": CLASS}");
    KernelRule rule;
    if (const auto ic = r.find("ignore_case"); ic != r.end()) {
      if (!ic->is_boolean()) throw io::InputError(where, path + ".ignore_case", "true or false", io::describe_json_value(*ic));
      rule.ignore_case = ic->get<bool>();
    }
    rule.pattern = string_at(r, "match", where, path, "a regular expression (ECMAScript)");
    rule.re = compile(rule.pattern, rule.ignore_case, where, path + ".match");
    rule.kind = string_at(r, "kind", where, path, "an op kind");
    const auto& kinds = mappable_op_kinds();
    if (std::find(kinds.begin(), kinds.end(), rule.kind) == kinds.end())
      throw io::InputError(where, path + ".kind", "an op kind (" + kind_list() + ")", in_quotes(rule.kind));
    const std::string& cls = string_at(r, "class", where, path, "a kernel class");
    const auto c = parse_kernel_class(cls);
    if (!c || *c == KernelClass::Unknown)
      throw io::InputError(where, path + ".class", "a kernel class (" + class_list() + ")", in_quotes(cls));
    rule.cls = *c;
    map.kernels.push_back(std::move(rule));
  }

  if (const auto streams = doc.find("streams"); streams != doc.end()) {
    if (!streams->is_object())
      throw io::InputError(where, "$.streams", "an object of stream number -> role", io::describe_json_value(*streams));
    for (const auto& [key, value] : streams->items()) {
      const std::string path = "$.streams." + key;
      int32_t tid = 0;
      const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), tid);
      if (ec != std::errc() || end != key.data() + key.size() || key.empty())
        throw io::InputError(where, path, "a stream number (an integer key, such as \"7\")", in_quotes(key));
      const std::string role = value.is_string() ? value.get<std::string>() : std::string();
      if (role == "compute") map.streams[tid] = TrackRole::Compute;
      else if (role == "communication") map.streams[tid] = TrackRole::Comm;
      else if (role == "side") map.streams[tid] = TrackRole::Side;
      else throw io::InputError(where, path, "a role: \"compute\", \"communication\" or \"side\"", io::describe_json_value(value));
    }
  }

  if (const auto phases = doc.find("phases"); phases != doc.end()) {
    if (!phases->is_array() || phases->size() > kMaxRules)
      throw io::InputError(where, "$.phases", fmt::format("an array of at most {} phase rules", kMaxRules),
                           io::describe_json_value(*phases));
    for (size_t i = 0; i < phases->size(); ++i) {
      const std::string path = fmt::format("$.phases[{}]", i);
      const auto& r = object_at((*phases)[i], where, path, {"annotation", "phase"},
                                "a phase rule {\"annotation\": REGEX, \"phase\": \"F\" | \"B\" | \"W\"}");
      PhaseRule rule;
      rule.pattern = string_at(r, "annotation", where, path, "a regular expression (ECMAScript)");
      rule.re = compile(rule.pattern, false, where, path + ".annotation");
      const std::string& ph = string_at(r, "phase", where, path, "\"F\", \"B\" or \"W\"");
      if (ph.size() != 1 || !valid_phase(ph[0])) throw io::InputError(where, path + ".phase", "\"F\", \"B\" or \"W\"", in_quotes(ph));
      rule.phase = ph[0];
      map.phases.push_back(std::move(rule));
    }
  }
  return map;
}

KinetoMap load_kineto_map(const std::string& path) {
  return parse_kineto_map(io::read_json_document(path, kMaxMapBytes, "a Kineto map (JSON)"), path);
}

const KinetoMap& builtin_kineto_map() {
  static const KinetoMap map = [] {
    KinetoMap m = parse_kineto_map(nlohmann::json::parse(kBuiltinMap), "built-in");
    m.source = "built-in";
    return m;
  }();
  return map;
}

std::string kineto_op_kind(std::string_view cat, std::string_view name) {
  if (cat == "kernel") {
    const KernelRule* r = builtin_kineto_map().match(name);
    return r ? r->kind : "kernel";
  }
  if (cat == "gpu_memcpy") return std::string(op_kind::kMemcpy);
  if (cat == "gpu_memset") return std::string(op_kind::kMemset);
  std::string c(cat);
  std::transform(c.begin(), c.end(), c.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (c == "kernel") return kineto_op_kind("kernel", name);
  return c;
}

}  // namespace tandem::trace

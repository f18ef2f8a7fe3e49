// Reading scenarios: file and size checks, preset resolution ("model": "deepseek-v3-671b" or an inline
// object, optionally {"base": preset, ...}), --set overrides, typed parsing and whole-plan validation.
#include "ir/scenario.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "io/json_document.h"
#include "ir/json_fields.h"
#include "ir/scenario_base.h"

namespace tandem::ir {

namespace detail {
const std::map<std::string, std::string>& embedded_presets();
}

using nlohmann::json;

std::vector<std::string> preset_names() {
  std::vector<std::string> out;
  for (const auto& [k, v] : detail::embedded_presets()) out.push_back(k);
  return out;
}

const std::string* find_preset(const std::string& key) {
  const auto& p = detail::embedded_presets();
  const auto it = p.find(key);
  return it == p.end() ? nullptr : &it->second;
}

namespace {

json parse_json_text(const std::string& text, const std::string& file) {
  return io::parse_json_document(text, file, "a scenario");
}

json read_json_file(const std::string& path) {
  return io::read_json_document(path, kMaxScenarioFileBytes, "a scenario JSON file");
}

// The most dotted parts of a --set path: real fields are at most three deep (plan.routing.kind).
constexpr size_t kMaxOverrideParts = 16;

void apply_override(json& doc, const std::string& text, const std::string& file) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ScenarioError(file, "--set " + text, "path=value (e.g. plan.pp=8)", "\"" + text + "\"");
  const std::string path = text.substr(0, eq), value_text = text.substr(eq + 1);
  const auto parts = size_t(std::count(path.begin(), path.end(), '.')) + 1;
  if (parts > kMaxOverrideParts)
    throw ScenarioError(file, "--set " + path, fmt::format("a path of at most {} dotted parts", kMaxOverrideParts),
                        fmt::format("{} parts", parts));
  json value;
  try {
    value = io::parse_json_document(value_text, "--set " + path, "a value");
  } catch (const io::JsonSyntaxError&) {
    value = value_text;  // not JSON (a bare word): a string. Too deep, a duplicate key or 1e999 stay refused.
  }
  json* node = &doc;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (key.empty()) throw ScenarioError(file, "--set " + text, "a dotted path such as plan.pp", "\"" + path + "\"");
    if (!node->is_object()) throw ScenarioError(file, path, "an object to set a field in", describe_json(*node));
    if (dot == std::string::npos) {
      (*node)[key] = value;
      return;
    }
    node = &(*node)[key];
    if (node->is_null()) *node = json::object();
    start = dot + 1;
  }
}

void parse_model(const json& j, const std::string& file, ModelConfig& m) {
  FieldReader r(j, "model", file);
  const bool req = true;
  constexpr int64_t big = int64_t(1) << 31;
  r.string("name", m.name);
  r.integer("vocab_size", m.vocab_size, 2, big, req);
  r.integer("hidden_size", m.hidden_size, 1, 1 << 20, req);
  r.integer("num_layers", m.num_layers, 1, 4096, req);
  r.integer("first_dense_layers", m.first_dense_layers, 0, 4096, req);
  r.integer("dense_intermediate", m.dense_intermediate, 1, 1 << 22, req);
  r.integer("num_heads", m.num_heads, 1, 4096, req);
  r.integer("q_lora_rank", m.q_lora_rank, 0, 1 << 20, req);
  r.integer("kv_lora_rank", m.kv_lora_rank, 1, 1 << 20, req);
  r.integer("qk_nope_head_dim", m.qk_nope_head_dim, 1, 4096, req);
  r.integer("qk_rope_head_dim", m.qk_rope_head_dim, 2, 4096, req);
  r.integer("v_head_dim", m.v_head_dim, 1, 4096, req);
  r.integer("routed_experts", m.routed_experts, 0, 1 << 20, req);
  r.integer("shared_experts", m.shared_experts, 0, 1024, req);
  r.integer("moe_intermediate", m.moe_intermediate, 1, 1 << 22, req);
  r.integer("experts_per_token", m.experts_per_token, 0, 1 << 20, req);
  r.integer("expert_groups", m.expert_groups, 1, 1 << 20);
  r.integer("groups_per_token", m.groups_per_token, 1, 1 << 20);
  r.number("route_scale", m.route_scale, 0.0, 1e6);
  r.choice<ScoreFunction>("score_function", m.score_function,
                          {{"sigmoid", ScoreFunction::Sigmoid}, {"softmax", ScoreFunction::Softmax}});
  r.boolean("normalize_topk", m.normalize_topk);
  r.integer("mtp_depth", m.mtp_depth, 0, 1);
  r.number("mtp_loss_weight", m.mtp_loss_weight, 0.0, 1e3);
  r.number("balance_loss_alpha", m.balance_loss_alpha, 0.0, 1e3);
  r.number("bias_update_speed", m.bias_update_speed, 0.0, 1e3);
  r.number("rms_norm_eps", m.rms_norm_eps, 0.0, 1.0);
  r.number("rope_theta", m.rope_theta, 1.0, 1e12);
  r.boolean("tie_embeddings", m.tie_embeddings);
  r.finish();
  if (m.first_dense_layers > m.num_layers)
    r.fail("first_dense_layers", fmt::format("at most num_layers ({})", m.num_layers), std::to_string(m.first_dense_layers));
  // The MTP module's layer is an MoE layer too, whatever first_dense_layers says.
  if (m.moe_layers() > 0 || m.mtp_depth > 0) {
    if (m.routed_experts < 1)
      r.fail("routed_experts", fmt::format("at least 1 for {}", m.moe_layers() > 0 ? "the MoE layers" : "the MTP module's MoE layer (mtp_depth = 1)"),
             "0");
    if (m.experts_per_token < 1 || m.experts_per_token > m.routed_experts)
      r.fail("experts_per_token", fmt::format("an integer in [1, routed_experts = {}]", m.routed_experts),
             std::to_string(m.experts_per_token));
    if (m.routed_experts % m.expert_groups != 0)
      r.fail("expert_groups", fmt::format("a divisor of routed_experts = {}", m.routed_experts),
             std::to_string(m.expert_groups));
    if (m.groups_per_token > m.expert_groups)
      r.fail("groups_per_token", fmt::format("at most expert_groups = {}", m.expert_groups), std::to_string(m.groups_per_token));
    if (m.experts_per_token > m.groups_per_token * (m.routed_experts / m.expert_groups))
      r.fail("experts_per_token", "at most groups_per_token × experts per group", std::to_string(m.experts_per_token));
  }
  if (m.qk_rope_head_dim % 2 != 0) r.fail("qk_rope_head_dim", "an even number (RoPE rotates pairs)", std::to_string(m.qk_rope_head_dim));
}

// The scale-up domain against the node and the cluster (ClusterConfig::gpus_per_domain): whole nodes, a
// whole number of domains, whole domains under a leaf, a mesh small enough to hold a link per pair.
void check_scaleup_domain(const FieldReader& r, const ClusterConfig& c) {
  const int64_t d = c.domain_size(), world = c.world_size();
  if (d % c.gpus_per_node != 0)
    r.fail("gpus_per_domain", fmt::format("a multiple of gpus_per_node = {} (a domain holds whole nodes)", c.gpus_per_node),
           std::to_string(d));
  if (world % d != 0)
    r.fail("gpus_per_domain", fmt::format("a divisor of the GPU count {} (nodes {} × {} GPUs)", world, c.nodes, c.gpus_per_node),
           std::to_string(d));
  if (c.scaleup_fabric == ScaleUpFabric::Mesh && d > kMaxMeshDomainGpus)
    r.fail("gpus_per_domain", fmt::format("at most {} GPUs in a \"mesh\" domain (a link per pair)", kMaxMeshDomainGpus),
           std::to_string(d));
  // A leaf of one plane serves whole domains (hw::Topology counts leaves in domains).
  if (c.switch_tiers == 2 && d > c.gpus_per_node && (c.nodes_per_leaf * c.gpus_per_node) % d != 0)
    r.fail("nodes_per_leaf", fmt::format("a multiple of the {} nodes of a scale-up domain (gpus_per_domain {})", d / c.gpus_per_node, d),
           std::to_string(c.nodes_per_leaf));
}

void parse_cluster(const json& j, const std::string& file, ClusterConfig& c) {
  FieldReader r(j, "cluster", file);
  r.string("name", c.name);
  r.string("gpu", c.gpu, true);
  r.integer("nodes", c.nodes, 1, 1 << 20, true);
  r.integer("gpus_per_node", c.gpus_per_node, 1, 64, true);
  r.number("nvlink_bytes_per_s", c.nvlink_bytes_per_s, 1e6, 1e15);
  r.integer("nics_per_node", c.nics_per_node, 1, 64);
  r.number("nic_bytes_per_s", c.nic_bytes_per_s, 1e6, 1e15);
  r.integer("planes", c.planes, 1, 64);
  r.integer("switch_tiers", c.switch_tiers, 1, 2);
  r.number("oversubscription", c.oversubscription, 1.0, 64.0);
  r.integer("nvlink_latency_ns", c.nvlink_latency_ns, 0, 1000000000);
  r.integer("ib_latency_ns", c.ib_latency_ns, 0, 1000000000);
  r.integer("ib_cross_leaf_latency_ns", c.ib_cross_leaf_latency_ns, 0, 1000000000);
  r.integer("nodes_per_leaf", c.nodes_per_leaf, 1, 1 << 20);
  r.integer("gpus_per_domain", c.gpus_per_domain, 1, 1 << 20);
  r.choice<ScaleUpFabric>("scaleup_fabric", c.scaleup_fabric, {{"switch", ScaleUpFabric::Switch}, {"mesh", ScaleUpFabric::Mesh}});
  r.finish();
  if (c.planes > c.nics_per_node)
    r.fail("planes", fmt::format("at most nics_per_node = {}", c.nics_per_node), std::to_string(c.planes));
  check_scaleup_domain(r, c);
}

void parse_routing(const json& j, const std::string& file, RoutingModel& m) {
  FieldReader r(j, "plan.routing", file);
  r.choice<RoutingKind>("kind", m.kind, {{"balanced", RoutingKind::Balanced}, {"zipf", RoutingKind::Zipf},
                                         {"loads", RoutingKind::File}}, true);
  r.number("zipf_exponent", m.zipf_exponent, 0.0, 10.0);
  r.number_list("expert_load", m.expert_load, 0.0, 1e12);
  r.string("load_file", m.load_file);
  r.finish();
  // A field of another kind would be ignored without a word: zipf without its exponent used to
  // simulate balanced routing.
  if (m.kind == RoutingKind::Zipf && !r.has("zipf_exponent"))
    r.fail("zipf_exponent", "an exponent for kind \"zipf\" (e.g. 1.0; load of the i-th expert ~ 1/(i+1)^s)",
           "nothing: the field is missing");
  if (m.kind != RoutingKind::Zipf && r.has("zipf_exponent"))
    r.fail("zipf_exponent", "no exponent unless kind is \"zipf\"", fmt::format("an exponent with kind {}", describe_json(j["kind"])));
  for (const char* key : {"expert_load", "load_file"})
    if (m.kind != RoutingKind::File && r.has(key))
      r.fail(key, "per-expert loads only with kind \"loads\"", fmt::format("{} with kind {}", key, describe_json(j["kind"])));
  if (m.kind == RoutingKind::File && m.expert_load.empty() && m.load_file.empty())
    r.fail("expert_load", "per-expert loads (or load_file) for kind \"loads\"", "neither");
}

// plan.recompute: a list of module names (kRecomputeModuleNames), [] for none. The older flag
// recompute_norm_and_swiglu stays valid: true is the default list, false is []; where both are given
// (a scenario with the flag and --set plan.recompute=...), the list decides.
void parse_recompute(FieldReader& r, const json& plan, RecomputeModules& m) {
  std::string names;
  std::vector<std::string> known;
  for (const auto& [name, field] : kRecomputeModuleNames) {
    names += (names.empty() ? "" : ", ") + std::string(name);
    known.push_back(name);
  }
  if (r.has("recompute_norm_and_swiglu")) {
    bool on = true;
    r.boolean("recompute_norm_and_swiglu", on);
    m = on ? RecomputeModules{} : RecomputeModules{false, false, false, false, false, false};
  }
  r.skip("recompute");
  if (!r.has("recompute")) return;
  const json& list = plan["recompute"];
  if (!list.is_array()) r.fail("recompute", "a list of module names (" + names + "), [] for none", describe_json(list));
  RecomputeModules out{false, false, false, false, false, false};
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string at = fmt::format("recompute[{}]", i);
    if (!list[i].is_string()) r.fail(at, "a module name (" + names + ")", describe_json(list[i]));
    const std::string name = list[i].get<std::string>();
    bool found = false;
    for (const auto& [known_name, field] : kRecomputeModuleNames)
      if (name == known_name) {
        out.*field = found = true;
      }
    if (!found) {
      const std::string near = nearest_name(name, known);
      r.fail(at, "a module name (" + names + ")", describe_json(list[i]) + (near.empty() ? "" : " (did you mean \"" + near + "\"?)"));
    }
  }
  m = out;
}

// plan.precision: a recipe name, "fp8" (DeepSeek-V3's: FP8 GEMMs with 1x128 / 128x128 scales, FP8
// dispatch) or "bf16" (BF16 GEMMs at the BF16 peak, BF16 all-to-all, no casts), or an object of the
// FP8 recipe's fields with an optional "recipe" naming the one they refine.
void parse_precision(const json& j, const std::string& file, PrecisionRecipe& p) {
  const std::vector<std::pair<std::string, bool>> recipes{{"fp8", true}, {"bf16", false}};
  auto set_recipe = [&](bool fp8) {
    p.fp8 = fp8;
    p.fp8_dispatch = fp8;
  };
  if (j.is_string()) {
    for (const auto& [name, fp8] : recipes)
      if (j.get<std::string>() == name) return set_recipe(fp8);
    const std::string near = nearest_name(j.get<std::string>(), {"fp8", "bf16"});
    throw ScenarioError(file, "plan.precision", "a recipe (fp8, bf16) or an object of its fields",
                        describe_json(j) + (near.empty() ? "" : " (did you mean \"" + near + "\"?)"));
  }
  if (!j.is_object())
    throw ScenarioError(file, "plan.precision", "a recipe (fp8, bf16) or an object of its fields", describe_json(j));
  FieldReader pr(j, "plan.precision", file);
  bool fp8 = true;
  pr.choice<bool>("recipe", fp8, recipes);
  if (pr.has("recipe")) set_recipe(fp8);
  if (!fp8)
    for (const char* key : {"fp8", "fp8_dispatch", "activation_tile", "weight_block", "power_of_two_scales"})
      if (pr.has(key)) pr.fail(key, "no FP8 setting with recipe \"bf16\" (BF16 throughout)", describe_json(j[key]));
  pr.boolean("fp8", p.fp8);
  pr.integer("activation_tile", p.activation_tile, 128, 128);
  pr.integer("weight_block", p.weight_block, 128, 128);
  pr.boolean("fp8_dispatch", p.fp8_dispatch);
  pr.boolean("bf16_combine", p.bf16_combine);
  pr.boolean("power_of_two_scales", p.power_of_two_scales);
  pr.finish();
}

void parse_plan(const json& j, const std::string& file, ParallelPlan& p, bool& dp_given) {
  FieldReader r(j, "plan", file);
  constexpr int64_t big = int64_t(1) << 40;
  r.integer("pp", p.pp, 1, 1 << 16, true);
  dp_given = r.has("dp");
  r.integer("dp", p.dp, 1, 1 << 24);
  r.integer("tp", p.tp, 1, 1024);
  r.integer("ep", p.ep, 1, 1 << 20, true);
  r.integer("zero_stage", p.zero_stage, 0, 1);
  r.integer("seq_len", p.seq_len, 1, 1 << 24, true);
  r.integer("micro_batch_seqs", p.micro_batch_seqs, 1, 1 << 20);
  r.integer("global_batch_seqs", p.global_batch_seqs, 1, big, true);
  r.choice<ScheduleKind>("schedule", p.schedule,
                         {{"1f1b", ScheduleKind::OneFOneB}, {"zb1p", ScheduleKind::ZeroBubble1P},
                          {"dualpipe", ScheduleKind::DualPipe}, {"dualpipev", ScheduleKind::DualPipeV},
                          {"interleaved", ScheduleKind::Interleaved}}, true);
  r.integer("virtual_stages", p.virtual_stages, 1, kMaxVirtualStages);
  r.integer("comm_sms", p.comm_sms, 0, 1024);
  r.integer("compute_sms", p.compute_sms, 0, 1024);
  r.integer("max_nodes_per_token", p.max_nodes_per_token, 0, 1 << 20);
  parse_recompute(r, j, p.recompute);
  r.integer_list("layers_per_stage", p.layers_per_stage, 0, 4096);
  if (r.has("precision")) parse_precision(j["precision"], file, p.precision);
  r.skip("precision");
  if (const json* routing = r.child("routing")) parse_routing(*routing, file, p.routing);
  r.finish();
}

}  // namespace

namespace {
void check_top_level_keys(const json& doc, const std::string& source) {
  FieldReader top(doc, "", source);
  top.skip("model");
  top.skip("cluster");
  top.skip("plan");
  top.skip("base");
  top.skip("reliability");
  top.skip("name");
  top.skip("description");
  top.finish();
}
}  // namespace

Scenario parse_scenario(const json& doc_in, const std::string& source, const std::vector<std::string>& overrides) {
  check_top_level_keys(doc_in, source);
  // Bases (the scenario's and its parts') and preset names expanded: the parts are plain objects.
  json doc = resolve_bases(doc_in, source);
  if (!overrides.empty()) {
    for (const auto& o : overrides) apply_override(doc, o, source);
    // An override may add a top-level key (--set foo.bar=1) or replace a part by a preset name or
    // {"base": ...} (--set model=deepseek-v2-lite): check and resolve again.
    check_top_level_keys(doc, source);
    doc = resolve_bases(doc, source);
  }
  for (const char* part : {"model", "cluster", "plan"})
    if (!doc.contains(part)) throw ScenarioError(source, part, "a preset name or an object", "nothing: the field is missing");

  Scenario s;
  s.source = source;
  s.name = doc.contains("name") && doc["name"].is_string() ? doc["name"].get<std::string>()
                                                           : std::filesystem::path(source).stem().string();
  parse_model(doc["model"], source, s.model);
  parse_cluster(doc["cluster"], source, s.cluster);
  bool dp_given = false;
  parse_plan(doc["plan"], source, s.plan, dp_given);
  if (doc.contains("reliability")) parse_reliability(doc["reliability"], source, s.reliability);
  const int64_t world = s.cluster.world_size();
  if (!dp_given) {
    // The factor that breaks it is named: pp alone, or tp once pp divides the world.
    if (world % s.plan.pp != 0)
      throw ScenarioError(source, "plan.pp", fmt::format("a pp that divides the world size {} (nodes {} × {} GPUs)",
                                                         world, s.cluster.nodes, s.cluster.gpus_per_node),
                          std::to_string(s.plan.pp));
    if (world % (s.plan.pp * s.plan.tp) != 0)
      throw ScenarioError(source, "plan.tp",
                          fmt::format("a tp that divides the world size {} over pp = {} ({} GPUs a stage)", world,
                                      s.plan.pp, world / s.plan.pp),
                          std::to_string(s.plan.tp));
    s.plan.dp = world / (s.plan.pp * s.plan.tp);
    doc["plan"]["dp"] = s.plan.dp;
  }
  s.resolved = std::move(doc);
  validate_scenario(s);
  return s;
}

Scenario load_scenario(const std::string& path_or_preset, const std::vector<std::string>& overrides) {
  std::error_code ec;
  // Only whole scenarios are scenario names: "models/tiny" or "clusters/h800" are parts of one.
  const bool part_preset = path_or_preset.find('/') != std::string::npos && find_preset(path_or_preset) != nullptr;
  if (!std::filesystem::exists(path_or_preset, ec) && !part_preset) {
    if (const std::string* text = find_preset(path_or_preset)) {
      Scenario s = parse_scenario(parse_json_text(*text, "preset " + path_or_preset), "preset:" + path_or_preset, overrides);
      s.name = path_or_preset;
      return s;
    }
  }
  if (!std::filesystem::exists(path_or_preset, ec)) {
    std::string names;
    for (const auto& k : preset_names())
      if (k.find('/') == std::string::npos) names += (names.empty() ? "" : ", ") + k;
    const std::string part = path_or_preset.substr(0, path_or_preset.find('/'));
    throw ScenarioError(path_or_preset, "(file)", "an existing file or an embedded scenario (" + names + ")",
                        part_preset ? fmt::format("a {} preset, a part of a scenario (use it as {{\"{}\": \"{}\", ...}})",
                                                  part.substr(0, part.size() - 1), part.substr(0, part.size() - 1),
                                                  path_or_preset.substr(part.size() + 1))
                                    : std::string("no such file or scenario"));
  }
  return parse_scenario(read_json_file(path_or_preset), path_or_preset, overrides);
}

}  // namespace tandem::ir

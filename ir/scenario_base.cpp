// Expanding "base" in scenarios and their parts: finding what a base names (a part preset, an embedded
// scenario, a file), following chains of bases with cycle detection, and merging the changes on top.
#include "ir/scenario_base.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <vector>

#include <fmt/format.h>

#include "io/json_document.h"
#include "ir/json_fields.h"
#include "ir/scenario.h"

namespace tandem::ir {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr const char* kParts[] = {"model", "cluster", "plan"};

bool is_part(const std::string& key) { return key == "model" || key == "cluster" || key == "plan"; }

// Where a document came from: `id` tells two places apart for cycles, `label` names it in errors,
// `dir` is where its relative file bases are found.
struct Origin {
  std::string id, label;
  fs::path dir;
};

Origin file_origin(const std::string& file) {
  std::error_code ec;
  if (file.rfind("preset:", 0) == 0 || file.rfind("preset ", 0) == 0) return {file, file, fs::path()};
  const fs::path p(file);
  const fs::path canonical = fs::weakly_canonical(p, ec);
  return {ec ? file : canonical.string(), file, p.parent_path()};
}

class Resolver {
 public:
  json document(const json& doc, const Origin& o);
  json part(const json& p, const std::string& kind, const Origin& o, const std::string& path);

 private:
  // The document `name` names as a base of `kind` ("scenario" or a part), resolved, with its part
  // taken when a part names a whole scenario.
  json base(const std::string& name, const std::string& kind, const Origin& from, const std::string& path);
  json enter(const std::string& id, const Origin& from, const std::string& path,
             const std::function<json()>& resolve);
  std::vector<std::string> chain_;
};

json Resolver::enter(const std::string& id, const Origin& from, const std::string& path,
                     const std::function<json()>& resolve) {
  const bool cycle = std::find(chain_.begin(), chain_.end(), id) != chain_.end();
  if (cycle || int(chain_.size()) >= kMaxBaseChain) {
    std::string walk;
    for (const auto& c : chain_) walk += c + " -> ";
    throw ScenarioError(from.label, path,
                        cycle ? std::string("a base that is not one of the bases it extends")
                              : fmt::format("a chain of at most {} bases", kMaxBaseChain),
                        cycle ? "a cycle: " + walk + id : fmt::format("a longer chain: {}{}", walk, id));
  }
  chain_.push_back(id);
  json out = resolve();
  chain_.pop_back();
  return out;
}

json Resolver::base(const std::string& name, const std::string& kind, const Origin& from, const std::string& path) {
  const bool whole = kind == "scenario";
  // A part preset of the kind ("h800" for a cluster), then an embedded scenario, then a file.
  if (!whole && kind != "plan") {
    const std::string key = kind + "s/" + name;
    if (const std::string* text = find_preset(key)) {
      const Origin o{"preset:" + key, "preset " + key, fs::path()};
      return enter(o.id, from, path, [&] {
        return part(io::parse_json_document(*text, o.label, "a " + kind), kind, o, kind);
      });
    }
  }
  json doc;
  Origin o;
  if (name.find('/') == std::string::npos && name.find('.') == std::string::npos && find_preset(name)) {
    o = {"preset:" + name, "preset " + name, fs::path()};
    doc = io::parse_json_document(*find_preset(name), o.label, "a scenario");
  } else {
    const fs::path p = fs::path(name).is_absolute() ? fs::path(name) : from.dir / name;
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) {
      std::vector<std::string> names;
      std::string list;
      for (const auto& k : preset_names()) {
        const bool match = whole || kind == "plan" ? k.find('/') == std::string::npos : k.rfind(kind + "s/", 0) == 0 || k.find('/') == std::string::npos;
        if (!match) continue;
        names.push_back(k.substr(k.find('/') == std::string::npos ? 0 : k.find('/') + 1));
        list += (list.empty() ? "" : ", ") + names.back();
      }
      const std::string near = nearest_name(name, names);
      const std::string what = whole ? "an embedded scenario" : kind == "plan" ? "an embedded scenario (its plan)" : "a " + kind + " preset or an embedded scenario";
      throw ScenarioError(from.label, path, fmt::format("{} ({}) or a JSON file", what, list),
                          fmt::format("\"{}\"{}", name, near.empty() ? std::string(": no such preset or file") : " (did you mean \"" + near + "\"?)"));
    }
    o = file_origin(p.string());
    doc = io::read_json_document(p.string(), kMaxScenarioFileBytes, whole ? "a scenario JSON file" : "a " + kind + " JSON file");
  }
  return enter(o.id, from, path, [&] {
    // A part's base may be a whole scenario (a document holding that part): its part is taken.
    if (!whole && !(doc.is_object() && doc.contains(kind))) return part(doc, kind, o, kind);
    json resolved = document(doc, o);
    if (whole) return resolved;
    return resolved[kind];
  });
}

json Resolver::part(const json& p, const std::string& kind, const Origin& o, const std::string& path) {
  if (p.is_string()) return base(p.get<std::string>(), kind, o, path);
  if (!p.is_object()) throw ScenarioError(o.label, path, "a preset name or an object", describe_json(p));
  const auto b = p.find("base");
  if (b == p.end()) return p;
  if (!b->is_string()) throw ScenarioError(o.label, path + ".base", "a preset name or a file", describe_json(*b));
  json merged = base(b->get<std::string>(), kind, o, path + ".base");
  json patch = p;
  patch.erase("base");
  merged.merge_patch(patch);
  return merged;
}

json Resolver::document(const json& doc, const Origin& o) {
  if (!doc.is_object()) throw ScenarioError(o.label, "(document)", "a JSON object", describe_json(doc));
  json out;
  if (const auto b = doc.find("base"); b != doc.end()) {
    if (!b->is_string()) throw ScenarioError(o.label, "base", "an embedded scenario or a scenario file", describe_json(*b));
    out = base(b->get<std::string>(), "scenario", o, "base");
    // A scenario's own name and description are not inherited: they describe the base.
    out.erase("name");
    out.erase("description");
    for (const auto& [key, value] : doc.items()) {
      if (key == "base") continue;
      // A part given as a preset name or with its own base replaces the inherited part.
      const bool replaces = is_part(key) && (value.is_string() || (value.is_object() && value.contains("base")));
      if (!replaces && value.is_object() && out.contains(key) && out[key].is_object())
        out[key].merge_patch(value);
      else
        out[key] = value;
    }
  } else {
    out = doc;
  }
  for (const char* key : kParts)
    if (out.contains(key)) out[key] = part(out[key], key, o, key);
  return out;
}

}  // namespace

json resolve_bases(const json& doc, const std::string& file) {
  Resolver r;
  return r.document(doc, file_origin(file));
}

json resolve_part_bases(const json& part, const std::string& kind, const std::string& file) {
  Resolver r;
  return r.part(part, kind, file_origin(file), kind);
}

json resolve_preset(const std::string& name, const std::string& option) {
  const std::vector<std::string> names = preset_names();
  std::string key = name;
  if (!find_preset(key))
    for (const char* dir : {"models/", "clusters/"})
      if (find_preset(dir + name)) {
        key = dir + name;
        break;
      }
  const std::string* text = find_preset(key);
  if (!text) {
    const std::string near = nearest_name(name, names);
    std::string scenarios;
    for (const auto& k : names)
      if (k.find('/') == std::string::npos) scenarios += (scenarios.empty() ? "" : ", ") + k;
    throw ScenarioError(option, "", "an embedded scenario (" + scenarios + "), models/NAME or clusters/NAME as `tandem presets` lists them",
                        fmt::format("\"{}\"{}", name, near.empty() ? std::string() : " (did you mean \"" + near + "\"?)"));
  }
  if (key.find('/') == std::string::npos) return load_scenario(key).resolved;
  const std::string kind = key.substr(0, key.find('/') - 1);   // "models/x" -> "model"
  return resolve_part_bases(io::parse_json_document(*text, "preset " + key, "a " + kind), kind, "preset " + key);
}

}  // namespace tandem::ir

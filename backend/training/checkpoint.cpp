// Checkpoint files: serialisation with checksum and end marker, discovery of the newest one, and the
// gathering/scattering of per-rank shards by parameter name (see checkpoint.h).
#include "backend/training/checkpoint.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "backend/training/cpu_backend.h"
#include "backend/training/data/token_file.h"
#include "backend/execution/executor.h"
#include "io/input_error.h"
#include "io/input_file.h"
#include "io/json_document.h"
#include "io/output_file.h"
#include "kernels/common/bf16.h"

namespace tandem::backend {

namespace fs = std::filesystem;
using io::cut_for_message;

namespace {

template <typename T>
void put(std::string& out, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) out.push_back(char((uint64_t(v) >> (8 * i)) & 0xff));
}
template <typename T>
T get(const std::string& in, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= uint64_t(static_cast<unsigned char>(in[at + i])) << (8 * i);
  return T(v);
}

// Typed reads of the metadata: a value of another type or out of range is a malformed checkpoint
// (nlohmann's get<int64_t> would convert 1e30 or -1 without a word).
template <typename Fail>
const nlohmann::json& object_at(const nlohmann::json& j, const std::string& key, const Fail& fail) {
  const nlohmann::json& v = j.at(key);
  if (!v.is_object()) throw fail(fmt::format("malformed metadata: at {}: expected an object, found {}", key, v.type_name()));
  return v;
}
std::string leaf(const std::string& path) { return path.substr(path.find_last_of('.') + 1); }
template <typename Fail>
int64_t integer_at(const nlohmann::json& j, const std::string& path, int64_t low, int64_t high, const Fail& fail) {
  const nlohmann::json& v = j.at(leaf(path));
  int64_t x = 0;
  bool ok = false;
  if (v.is_number_unsigned()) {
    ok = v.get<uint64_t>() <= uint64_t(std::numeric_limits<int64_t>::max());
    x = ok ? int64_t(v.get<uint64_t>()) : 0;
  } else if (v.is_number_integer()) {
    ok = true;
    x = v.get<int64_t>();
  }
  if (!ok || x < low || x > high)
    throw fail(fmt::format("malformed metadata: at {}: expected an integer in [{}, {}], found {}", path, low, high,
                           io::json_excerpt(v)));
  return x;
}
template <typename Fail>
uint64_t unsigned_value(const nlohmann::json& v, const std::string& path, const Fail& fail) {
  if (!v.is_number_unsigned())
    throw fail(fmt::format("malformed metadata: at {}: expected an unsigned integer, found {}", path, io::json_excerpt(v)));
  return v.get<uint64_t>();
}
template <typename Fail>
uint64_t unsigned_at(const nlohmann::json& j, const std::string& path, const Fail& fail) {
  return unsigned_value(j.at(leaf(path)), path, fail);
}
template <typename Fail>
double finite_at(const nlohmann::json& j, const std::string& path, const Fail& fail) {
  const nlohmann::json& v = j.at(leaf(path));
  if (!v.is_number() || !std::isfinite(v.get<double>()))
    throw fail(fmt::format("malformed metadata: at {}: expected a finite number, found {}", path, io::json_excerpt(v)));
  return v.get<double>();
}

constexpr size_t kHeaderBytes = 32;   // magic, version, reserved, json bytes, data bytes
constexpr size_t kTrailerBytes = 16;  // checksum, end magic
constexpr uint32_t kVersion = 1;

// Walks every element a rank owns in its shards, in runs contiguous in the whole entry: fn(entry name,
// index within the whole entry, shard, flat index, run length, the whole entry's size). A TP part
// (Param::whole_index) is its place in the whole weight, so a checkpoint holds whole tensors at any tp.
template <typename Runtime, typename Fn>
void for_owned(Runtime& rt, Fn fn) {
  for (auto& s : rt.params.shards()) {
    int64_t base = 0;
    for (const Param* p : s.params) {
      const int64_t lo = std::max(s.lo, base), hi = std::min(s.hi, base + p->size());
      for (int64_t i = lo; i < hi;) {
        const int64_t within = i - base;
        const int64_t e = within / p->per_expert();
        const int64_t end = std::min(hi, base + (e + 1) * p->per_expert());
        for (int64_t j = i; j < end;) {
          const int64_t at = j - base - e * p->per_expert(), n = p->whole_run(at, end - j);
          fn(p->entry_name(e), p->whole_index(at), s, j, n, p->whole_per_expert());
          j += n;
        }
        i = end;
      }
      base += p->size();
    }
  }
}

}  // namespace

std::string serialize_checkpoint(const Checkpoint& c) {
  nlohmann::json j = c.info;
  j["step"] = c.step;
  j["optimizer_steps"] = c.optimizer_steps;
  j["seed"] = c.seed;
  j["guard"] = {{"loss_mean", c.guard.loss_mean}, {"accepted", c.guard.accepted}, {"skipped", c.guard.skipped}};
  j["sampler"] = {{"epoch_rng", c.sampler.epoch_rng}, {"epoch", c.sampler.epoch}, {"position", c.sampler.position}};
  nlohmann::json entries = nlohmann::json::array();
  std::string data;
  for (const auto& [name, values] : c.tensors) {
    entries.push_back({{"name", name}, {"offset", data.size()}, {"count", values.size()}});
    data.append(reinterpret_cast<const char*>(values.data()), values.size() * 4);   // little-endian hosts only
  }
  j["tensors"] = entries;
  const std::string meta = j.dump();
  std::string out(kCheckpointMagic, 8);
  put<uint32_t>(out, kVersion);
  put<uint32_t>(out, 0);
  put<uint64_t>(out, meta.size());
  put<uint64_t>(out, data.size());
  out += meta;
  out += data;
  put<uint64_t>(out, fnv1a64(out.data() + kHeaderBytes, meta.size() + data.size()));
  out.append(kCheckpointEndMagic, 8);
  return out;
}

Checkpoint parse_checkpoint(const std::string& bytes, const std::string& source) {
  auto fail = [&](const std::string& what) { return CheckpointError(fmt::format("{}: {}", source, what)); };
  if (bytes.size() < kHeaderBytes + kTrailerBytes)
    throw fail(fmt::format("not a complete checkpoint: {} bytes, at least {} expected (truncated?)", bytes.size(), kHeaderBytes + kTrailerBytes));
  if (std::memcmp(bytes.data(), kCheckpointMagic, 8) != 0) throw fail("not a checkpoint: expected the magic \"TDMCKPT1\" at offset 0");
  const uint32_t version = get<uint32_t>(bytes, 8);
  if (version != kVersion) throw fail(fmt::format("checkpoint version {} is not supported (expected {})", version, kVersion));
  const uint64_t meta_bytes = get<uint64_t>(bytes, 16), data_bytes = get<uint64_t>(bytes, 24);
  if (meta_bytes > bytes.size() || data_bytes > bytes.size() || kHeaderBytes + meta_bytes + data_bytes + kTrailerBytes != bytes.size())
    throw fail(fmt::format("truncated or padded: the header announces {} bytes, the file has {}",
                           kHeaderBytes + meta_bytes + data_bytes + kTrailerBytes, bytes.size()));
  const size_t end = kHeaderBytes + meta_bytes + data_bytes;
  if (std::memcmp(bytes.data() + end + 8, kCheckpointEndMagic, 8) != 0) throw fail("the end marker is missing (incomplete write)");
  const uint64_t stored = get<uint64_t>(bytes, end), found = fnv1a64(bytes.data() + kHeaderBytes, meta_bytes + data_bytes);
  if (stored != found) throw fail(fmt::format("checksum mismatch: stored {:016x}, computed {:016x} (corrupt file)", stored, found));
  if (data_bytes % 4 != 0) throw fail(fmt::format("the data section holds {} bytes, not a whole number of FP32 values", data_bytes));
  Checkpoint c;
  try {
    nlohmann::json j;
    try {   // io's bounded reader: nesting capped (a deep value's dump in a message would recurse), no duplicate keys
      j = io::parse_json_document(std::string_view(bytes).substr(kHeaderBytes, meta_bytes), source, "checkpoint metadata");
    } catch (const io::InputError& e) {
      throw fail(fmt::format("malformed metadata: at {}: expected {}, found {}", e.path(), e.expected(), cut_for_message(e.found())));
    }
    if (!j.is_object()) throw fail(fmt::format("malformed metadata: expected an object, found {}", j.type_name()));
    c.step = integer_at(j, "step", 0, kMaxCheckpointStep, fail);
    c.optimizer_steps = integer_at(j, "optimizer_steps", 0, c.step, fail);
    c.seed = unsigned_at(j, "seed", fail);
    const nlohmann::json& guard = object_at(j, "guard", fail);
    c.guard.loss_mean = finite_at(guard, "guard.loss_mean", fail);
    c.guard.accepted = integer_at(guard, "guard.accepted", 0, c.step, fail);
    c.guard.skipped = integer_at(guard, "guard.skipped", 0, c.step, fail);
    const nlohmann::json& sampler = object_at(j, "sampler", fail);
    const nlohmann::json& rng = sampler.at("epoch_rng");
    if (!rng.is_array() || rng.size() != 4) throw fail("malformed metadata: at sampler.epoch_rng: expected 4 unsigned integers");
    for (size_t i = 0; i < 4; ++i) c.sampler.epoch_rng[i] = unsigned_value(rng[i], "sampler.epoch_rng", fail);
    c.sampler.epoch = unsigned_at(sampler, "sampler.epoch", fail);
    c.sampler.position = unsigned_at(sampler, "sampler.position", fail);
    // The tensors lie one after another in the data section, in the order listed, and fill it.
    const nlohmann::json& tensors = j.at("tensors");
    if (!tensors.is_array()) throw fail("malformed metadata: at tensors: expected an array");
    uint64_t next = 0;
    for (size_t i = 0; i < tensors.size(); ++i) {
      const nlohmann::json& e = tensors[i];
      const std::string where = fmt::format("tensors[{}]", i);
      if (!e.is_object() || !e.contains("name") || !e["name"].is_string())
        throw fail(fmt::format("malformed metadata: at {}: expected {{\"name\", \"offset\", \"count\"}}", where));
      const std::string name = e["name"].get<std::string>();
      const uint64_t offset = unsigned_at(e, where + ".offset", fail), count = unsigned_at(e, where + ".count", fail);
      if (offset != next || count > (data_bytes - offset) / 4)
        throw fail(fmt::format("tensor {} ({} values at byte {}) does not follow the previous one (byte {}) within the "
                               "{}-byte data section", cut_for_message(name), count, offset, next, data_bytes));
      std::vector<float> values(count);
      std::memcpy(values.data(), bytes.data() + kHeaderBytes + meta_bytes + offset, count * 4);
      if (!c.tensors.emplace(name, std::move(values)).second) throw fail(fmt::format("tensor {} is listed twice", cut_for_message(name)));
      next = offset + count * 4;
    }
    if (next != data_bytes)
      throw fail(fmt::format("the tensors hold {} bytes, the data section {} (values no tensor owns)", next, data_bytes));
    for (const char* k : {"step", "optimizer_steps", "seed", "guard", "sampler", "tensors"}) j.erase(k);
    c.info = std::move(j);
  } catch (const nlohmann::json::exception& e) {
    throw fail(fmt::format("malformed metadata: {}", cut_for_message(e.what())));
  }
  return c;
}

std::string checkpoint_path(const std::string& dir, int64_t step) { return (fs::path(dir) / fmt::format("ckpt-{:08}.tdmckpt", step)).string(); }

namespace {
const std::regex& checkpoint_name() {
  static const std::regex pattern(R"(ckpt-(\d{8})\.tdmckpt)");
  return pattern;
}
}  // namespace

std::string write_checkpoint(const std::string& dir, const Checkpoint& c) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw io::OutputError(fmt::format("cannot write checkpoints in {}: {}", dir, ec.message()));
  // A run killed while it wrote a checkpoint left its temporary file (megabytes to gigabytes) here.
  io::remove_abandoned_temp_files(dir, [](std::string_view target) {
    return std::regex_match(target.begin(), target.end(), checkpoint_name());
  });
  const std::string path = checkpoint_path(dir, c.step);
  io::write_output_file(path, serialize_checkpoint(c));
  return path;
}

Checkpoint read_checkpoint(const std::string& path) {
  // Read whole, so at most the machine's memory; a directory, a FIFO or a device is refused unread.
  const int64_t memory = physical_memory_bytes();
  const uint64_t max_bytes = memory > 0 ? uint64_t(memory) : uint64_t(1) << 40;
  std::string bytes;
  try {
    bytes = io::read_input_file(path, max_bytes, "a checkpoint file");
  } catch (const io::InputError& e) {
    throw CheckpointError(e.what());
  }
  return parse_checkpoint(bytes, path);
}

std::string find_checkpoint(const std::string& dir_or_file) {
  std::error_code ec;
  if (!fs::exists(dir_or_file, ec)) throw CheckpointError(fmt::format("{}: no such checkpoint file or directory", dir_or_file));
  if (!fs::is_directory(dir_or_file, ec)) return dir_or_file;   // read_checkpoint refuses what is not a regular file
  int64_t best = -1;
  std::string path;
  for (const auto& e : fs::directory_iterator(dir_or_file, ec)) {
    std::smatch m;
    const std::string name = e.path().filename().string();
    if (!std::regex_match(name, m, checkpoint_name())) continue;
    const int64_t step = std::stoll(m[1].str());
    if (step > best) {
      best = step;
      path = e.path().string();
    }
  }
  if (ec) throw CheckpointError(fmt::format("{}: cannot list the directory ({})", dir_or_file, ec.message()));
  if (best < 0) throw CheckpointError(fmt::format("{}: no checkpoint (ckpt-<step>.tdmckpt) in this directory", dir_or_file));
  return path;
}

void check_checkpoint_targets(const std::string& dir, int64_t first_step, int64_t last_step, int64_t every) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;   // created when the first checkpoint is written
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::smatch m;
    const std::string name = e.path().filename().string();
    if (!std::regex_match(name, m, checkpoint_name())) continue;
    const int64_t step = std::stoll(m[1].str());
    const bool written = step >= first_step && step <= last_step && (step == last_step || (every > 0 && step % every == 0));
    std::error_code type_ec;
    if (written && !fs::is_regular_file(fs::status(e.path(), type_ec)))
      throw CheckpointError(fmt::format("{}: expected a checkpoint file or nothing where this run writes step {}'s "
                                        "checkpoint, found {}",
                                        e.path().string(), step, fs::is_directory(e.path(), type_ec) ? "a directory" : "no regular file"));
  }
}

Checkpoint capture_checkpoint(const Executor& ex) {
  Checkpoint c;
  std::map<std::string, std::vector<char>> filled;
  for (int64_t r = 0; r < ex.num_ranks(); ++r) {
    const RankRuntime& rt = ex.rank(r);
    for_owned(rt, [&](const std::string& entry, int64_t at, const ParamShard& s, int64_t flat, int64_t n, int64_t size) {
      const std::pair<const char*, const std::vector<float>*> parts[] = {{"master/", &s.master}, {"m/", &s.m}, {"v/", &s.v}};
      for (const auto& [kind, src] : parts) {
        auto& dst = c.tensors[kind + entry];
        dst.resize(size_t(size));
        std::copy_n(src->begin() + (flat - s.lo), n, dst.begin() + at);
      }
      auto& f = filled[entry];
      f.resize(size_t(size), 0);
      for (int64_t i = 0; i < n; ++i) f[size_t(at + i)] = 1;
    });
    for (const auto& p : rt.params.params())
      if (p->kind == ParamKind::Bias) c.tensors["bias/" + p->name] = p->value;
  }
  for (const auto& [entry, f] : filled)
    if (std::find(f.begin(), f.end(), 0) != f.end())
      throw std::logic_error(fmt::format("checkpoint: parameter {} is not covered by the shards of the ranks", entry));
  const RankRuntime& r0 = ex.rank(0);
  c.optimizer_steps = r0.optimizer_steps;
  c.guard = r0.guard;
  c.seed = r0.options.seed;
  c.info["scenario"] = ex.program().scenario().name;
  c.info["model"] = ex.program().model().name;
  return c;
}

void restore_checkpoint(Executor& ex, const Checkpoint& c) {
  std::set<std::string> used;
  auto find = [&](const std::string& name, int64_t size) -> const std::vector<float>& {
    used.insert(name);
    const auto it = c.tensors.find(name);
    if (it == c.tensors.end())
      throw CheckpointError(fmt::format("checkpoint has no {} (it was written for model '{}'; this run is model '{}')", name,
                                        c.info.value("model", "?"), ex.program().model().name));
    if (int64_t(it->second.size()) != size)
      throw CheckpointError(fmt::format("checkpoint entry {} has {} values, this model needs {} (a different model?)", name,
                                        it->second.size(), size));
    return it->second;
  };
  for (int64_t r = 0; r < ex.num_ranks(); ++r) {
    RankRuntime& rt = ex.rank(r);
    for (auto& p : rt.params.params()) {
      if (p->kind == ParamKind::Bias) {
        p->value = find("bias/" + p->name, p->size());
      } else {
        for (int64_t e = 0; e < p->experts; ++e) {
          const auto& master = find("master/" + p->entry_name(e), p->whole_per_expert());
          for (int64_t i = 0; i < p->per_expert(); ++i) p->value[size_t(e * p->per_expert() + i)] = master[size_t(p->whole_index(i))];
        }
        round_bf16_unless(rt.options.exact, p->value);
      }
      ++p->version;
    }
    for_owned(rt, [&](const std::string& entry, int64_t at, ParamShard& s, int64_t flat, int64_t n, int64_t size) {
      const auto& master = find("master/" + entry, size);
      const auto& m = find("m/" + entry, size);
      const auto& v = find("v/" + entry, size);
      std::copy_n(master.begin() + at, n, s.master.begin() + (flat - s.lo));
      std::copy_n(m.begin() + at, n, s.m.begin() + (flat - s.lo));
      std::copy_n(v.begin() + at, n, s.v.begin() + (flat - s.lo));
    });
    rt.optimizer_steps = c.optimizer_steps;
    rt.guard = c.guard;
  }
  // A checkpoint of a larger model holds entries this one has no place for: resuming would drop them.
  for (const auto& [name, values] : c.tensors)
    if (!used.count(name))
      throw CheckpointError(fmt::format("checkpoint entry {} has no place in this model ({} entries of the checkpoint, {} used; "
                                        "it was written for model '{}', this run is model '{}')",
                                        cut_for_message(name), c.tensors.size(), used.size(), c.info.value("model", "?"),
                                        ex.program().model().name));
}

}  // namespace tandem::backend

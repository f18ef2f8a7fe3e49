// Checkpoint files: serialisation with checksum and end marker, discovery of the newest one, and the
// gathering/scattering of per-rank shards by parameter name (see checkpoint.h).
#include "backend/training/checkpoint.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>

#include <fmt/format.h>

#include "backend/training/data/token_file.h"
#include "backend/execution/executor.h"
#include "kernels/common/bf16.h"

namespace tandem::backend {

namespace fs = std::filesystem;

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

constexpr size_t kHeaderBytes = 32;   // magic, version, reserved, json bytes, data bytes
constexpr size_t kTrailerBytes = 16;  // checksum, end magic
constexpr uint32_t kVersion = 1;

// Walks every element a rank owns in its shards: fn(entry name, index within the entry, shard, flat index).
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
        fn(p->entry_name(e), within - e * p->per_expert(), s, i, end - i, p->per_expert());
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
  Checkpoint c;
  try {
    nlohmann::json j = nlohmann::json::parse(bytes.substr(kHeaderBytes, meta_bytes));
    c.step = j.at("step").get<int64_t>();
    c.optimizer_steps = j.at("optimizer_steps").get<int64_t>();
    c.seed = j.at("seed").get<uint64_t>();
    c.guard.loss_mean = j.at("guard").at("loss_mean").get<double>();
    c.guard.accepted = j.at("guard").at("accepted").get<int64_t>();
    c.guard.skipped = j.at("guard").at("skipped").get<int64_t>();
    c.sampler.epoch_rng = j.at("sampler").at("epoch_rng").get<std::array<uint64_t, 4>>();
    c.sampler.epoch = j.at("sampler").at("epoch").get<uint64_t>();
    c.sampler.position = j.at("sampler").at("position").get<uint64_t>();
    for (const auto& e : j.at("tensors")) {
      const uint64_t offset = e.at("offset").get<uint64_t>(), count = e.at("count").get<uint64_t>();
      if (offset > data_bytes || count > (data_bytes - offset) / 4)
        throw fail(fmt::format("tensor {} lies outside the data section", e.at("name").get<std::string>()));
      std::vector<float> values(count);
      std::memcpy(values.data(), bytes.data() + kHeaderBytes + meta_bytes + offset, count * 4);
      c.tensors.emplace(e.at("name").get<std::string>(), std::move(values));
    }
    for (const char* k : {"step", "optimizer_steps", "seed", "guard", "sampler", "tensors"}) j.erase(k);
    c.info = std::move(j);
  } catch (const nlohmann::json::exception& e) {
    throw fail(fmt::format("malformed metadata: {}", e.what()));
  }
  return c;
}

std::string checkpoint_path(const std::string& dir, int64_t step) { return (fs::path(dir) / fmt::format("ckpt-{:08}.tdmckpt", step)).string(); }

std::string write_checkpoint(const std::string& dir, const Checkpoint& c) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw CheckpointError(fmt::format("{}: cannot create the checkpoint directory ({})", dir, ec.message()));
  const std::string path = checkpoint_path(dir, c.step);
  try {
    write_file_atomic(path, serialize_checkpoint(c));
  } catch (const DataError& e) {
    throw CheckpointError(e.what());
  }
  return path;
}

Checkpoint read_checkpoint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CheckpointError(fmt::format("{}: cannot open the checkpoint ({})", path, std::strerror(errno)));
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_checkpoint(bytes, path);
}

std::string find_checkpoint(const std::string& dir_or_file) {
  std::error_code ec;
  if (fs::is_regular_file(dir_or_file, ec)) return dir_or_file;
  if (!fs::is_directory(dir_or_file, ec))
    throw CheckpointError(fmt::format("{}: no such checkpoint file or directory", dir_or_file));
  static const std::regex pattern(R"(ckpt-(\d{8})\.tdmckpt)");
  int64_t best = -1;
  std::string path;
  for (const auto& e : fs::directory_iterator(dir_or_file, ec)) {
    std::smatch m;
    const std::string name = e.path().filename().string();
    if (!std::regex_match(name, m, pattern)) continue;
    const int64_t step = std::stoll(m[1].str());
    if (step > best) {
      best = step;
      path = e.path().string();
    }
  }
  if (best < 0) throw CheckpointError(fmt::format("{}: no checkpoint (ckpt-<step>.tdmckpt) in this directory", dir_or_file));
  return path;
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
  auto find = [&](const std::string& name, int64_t size) -> const std::vector<float>& {
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
          const auto& master = find("master/" + p->entry_name(e), p->per_expert());
          std::copy(master.begin(), master.end(), p->value.begin() + e * p->per_expert());
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
}

}  // namespace tandem::backend

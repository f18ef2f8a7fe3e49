// Output paths checked before the work they would receive, and the scenario checked against the GPU
// catalogue (see output_check.h).
#include "app/output_check.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "app/command_registry.h"
#include "io/output_file.h"

#ifdef TANDEM_HW
#include "hw/gpu_catalogue.h"
#include "hw/host_spec.h"
#endif

namespace tandem::app {

namespace fs = std::filesystem;

void check_output_file(const std::string& path, const std::string& option) {
  auto bad = [&](const std::string& why) {
    throw CommandExit{kExitBadInput, fmt::format("error: {} {}: cannot write this file: {}", option, path, why)};
  };
  if (path.empty()) bad("the path is empty");
  std::error_code ec;
  if (fs::is_directory(path, ec)) bad("it is a directory");
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) {
    const auto st = fs::status(parent, ec);
    if (!fs::exists(st)) bad(fmt::format("the directory {} does not exist", parent.string()));
    if (!fs::is_directory(st)) bad(fmt::format("{} is not a directory", parent.string()));
  }
  // A device or a pipe (/dev/null, /dev/stdout, a FIFO) is written in place: it must be writable. It
  // is not opened to try: opening and closing a FIFO's write end ends its reader's input (EOF), and the
  // real write would then wait for a reader that is gone.
  if (io::written_in_place(path)) {
    if (::access(path.c_str(), W_OK) != 0) bad(std::strerror(errno));
    return;
  }
  // Files are written through a temporary file beside them (io::OutputFile): open exactly that and
  // drop it, which leaves nothing behind.
  try {
    io::OutputFile probe(path);
  } catch (const io::OutputError& e) {
    const std::string why = e.what(), prefix = "cannot write " + path + ": ";
    bad(why.rfind(prefix, 0) == 0 ? why.substr(prefix.size()) : why);
  }
}

void ensure_output_dir(const std::string& dir, const std::string& option) {
  auto bad = [&](const std::string& why) {
    throw CommandExit{kExitBadInput, fmt::format("error: {} {}: cannot write checkpoints here: {}", option, dir, why)};
  };
  if (dir.empty()) bad("the path is empty");
  std::error_code ec;
  const auto st = fs::status(dir, ec);
  if (fs::exists(st)) {
    if (!fs::is_directory(st)) bad("it exists and is not a directory");
  } else {
    fs::create_directories(dir, ec);
    if (ec) bad(ec.message());
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) bad(std::strerror(errno));
}

void check_against_hardware(const ir::Scenario& s) {
#ifdef TANDEM_HW
  // The host device has no SMs: communication and compute SM counts mean nothing there (docs/host.md).
  if (hw::is_host_device(s.cluster.gpu)) return;
  const hw::GpuSpec* gpu = hw::find_gpu(s.cluster.gpu);
  if (!gpu)
    throw ir::ScenarioError(s.source, "cluster.gpu", "a GPU of the catalogue (" + hw::gpu_names() + ") or \"host\"",
                            "\"" + s.cluster.gpu + "\"");
  if (s.plan.comm_sms >= gpu->sms)
    throw ir::ScenarioError(s.source, "plan.comm_sms",
                            fmt::format("fewer SMs than the {} has ({}), so that compute keeps some", gpu->name, gpu->sms),
                            std::to_string(s.plan.comm_sms));
  // 0 stands for the default (ir::compute_sms_budget); DeepGEMM's set_num_sms asserts 0 < n <= SMs.
  if (s.plan.compute_sms > gpu->sms)
    throw ir::ScenarioError(s.source, "plan.compute_sms",
                            fmt::format("at most the {}'s {} SMs (0: the default)", gpu->name, gpu->sms),
                            std::to_string(s.plan.compute_sms));
#else
  (void)s;
#endif
}

}  // namespace tandem::app

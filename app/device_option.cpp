// `--device cpu|cuda`: see device_option.h. The CUDA side is a module loaded with dlopen on first use
// (backend/cuda/device_module.h); app/CMakeLists.txt defines TANDEM_CUDA_DEVICE_MODULE when this build
// makes one, and exports tandem's symbols for it.
#include "app/device_option.h"

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

#include "app/command_registry.h"

#if defined(TANDEM_CUDA_DEVICE_MODULE)
#include <dlfcn.h>
#include <elf.h>
#include <link.h>

#include <cstring>

#include "backend/cuda/device_module.h"
#endif

namespace tandem::app {

void add_device_option(CLI::App* cmd, std::string& device) {
  cmd->add_option("--device", device,
                  "cpu: the CPU reference ops; cuda: the ops' math in the CUDA kernels (staged: values stay on the host, "
                  "ranks share the visible GPUs round-robin; loads libtandem_cuda_device.so from beside tandem)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
}

std::string cuda_device_module_path() {
  if (const char* path = std::getenv("TANDEM_CUDA_DEVICE_MODULE"); path && *path) return path;
#if defined(TANDEM_CUDA_DEVICE_MODULE)
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) return (exe.parent_path() / backend::kCudaDeviceModuleFile).string();
  return backend::kCudaDeviceModuleFile;
#else
  return "libtandem_cuda_device.so";
#endif
}

namespace {

[[noreturn]] void bad_cuda_device(const std::string& why) {
  throw CommandExit{kExitBadInput, "error: --device cuda: " + why};
}

#if defined(TANDEM_CUDA_DEVICE_MODULE)

// The GNU build id (hex) of the running executable, from its PT_NOTE segments; "" when it has none.
std::string executable_build_id() {
  std::string id;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) -> int {
        // The first object is the executable itself.
        auto& hex = *static_cast<std::string*>(out);
        for (int i = 0; i < info->dlpi_phnum && hex.empty(); ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_NOTE) continue;
          const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
          const char* end = p + ph.p_memsz;
          while (p + sizeof(ElfW(Nhdr)) <= end) {
            ElfW(Nhdr) note;
            std::memcpy(&note, p, sizeof note);
            const char* name = p + sizeof note;
            const char* desc = name + ((note.n_namesz + 3) & ~3u);
            if (note.n_type == NT_GNU_BUILD_ID && note.n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
              for (uint32_t b = 0; b < note.n_descsz; ++b) hex += fmt::format("{:02x}", uint8_t(desc[b]));
              break;
            }
            p = desc + ((note.n_descsz + 3) & ~3u);
          }
        }
        return 1;   // stop after the executable
      },
      &id);
  return id;
}

// Loads the module once per process (it stays loaded: the executor parts point into it).
const backend::CudaDeviceModule& cuda_device_module() {
  static const backend::CudaDeviceModule* loaded = nullptr;
  if (loaded) return *loaded;
  const std::string path = cuda_device_module_path();
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = dlerror();
    bad_cuda_device(fmt::format("cannot load the CUDA device module: {} (build the target tandem_cuda_device; use --device cpu)",
                                why ? why : path));
  }
  auto entry = reinterpret_cast<backend::CudaDeviceModuleEntry>(dlsym(handle, backend::kCudaDeviceModuleSymbol));
  if (!entry) bad_cuda_device(fmt::format("{} has no entry point {}", path, backend::kCudaDeviceModuleSymbol));
  const backend::CudaDeviceModule* module = entry();
  if (!module || module->abi != backend::kCudaDeviceModuleAbi)
    bad_cuda_device(fmt::format("{} speaks module interface {}, this tandem {}; rebuild the target tandem_cuda_device", path,
                                module ? module->abi : 0, backend::kCudaDeviceModuleAbi));
  const std::string own_id = executable_build_id();
  if (own_id.empty() || own_id != module->host_build_id)
    bad_cuda_device(fmt::format("{} was built for another tandem (build id {}, this one {}); rebuild the target tandem_cuda_device",
                                path, module->host_build_id, own_id.empty() ? "none" : own_id));
  loaded = module;
  return *loaded;
}

#endif

}  // namespace

backend::ExecutorParts device_parts(const std::string& device, const ir::StepProgram& program) {
  if (device != "cuda") return {};
#if defined(TANDEM_CUDA_DEVICE_MODULE)
  const backend::CudaDeviceModule& module = cuda_device_module();
  try {
    module.check_runnable(program);
    return module.executor_parts(program);
  } catch (const std::invalid_argument& e) {
    throw CommandExit{kExitBadInput, std::string("error: ") + e.what()};
  }
#else
  (void)program;
  bad_cuda_device("this tandem was built without CUDA (no CUDA toolkit at configure time); use --device cpu");
#endif
}

}  // namespace tandem::app

// Fuzz target: host descriptions (hw/host_spec.h, load_host_spec): any bytes read as the file `tandem
// probe` writes give a description whose counts and rates are in range (parallel_cores within the cores,
// a pool of at least one share unit) and that is written back and read back alike, or an InputError
// naming what is wrong.
#include <cmath>
#include <cstdint>

#include "fuzz/fuzz_target.h"
#include "hw/host_spec.h"
#include "io/input_error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tandem;
  fuzz::with_scratch_file(fuzz::as_string(data, size), "host.json", [](const std::string& path) {
    fuzz::expect_result_or_refusal<io::InputError>("host_spec", [&] {
      const hw::HostSpec h = hw::load_host_spec(path);
      if (h.cores < 1) fuzz::finding("host_spec", "an accepted description without a core");
      if (!(h.parallel_cores > 0) || h.parallel_cores > double(h.cores))
        fuzz::finding("host_spec", "accepted parallel_cores outside (0, cores]");
      for (double rate : {h.gemm_flops_per_s, h.fp8_gemm_flops_per_s, h.attention_flops_per_s, h.quantize_bytes_per_s,
                          h.memory_bytes_per_s, h.copy_bytes_per_s})
        if (!(rate > 0) || !std::isfinite(rate)) fuzz::finding("host_spec", "an accepted rate that is not positive and finite");
      if (!(h.background_threads >= 0)) fuzz::finding("host_spec", "accepted negative background threads");
      if (h.device.sms < 1) fuzz::finding("host_spec", "an accepted description whose pool holds no share unit");
      const auto written = hw::host_spec_json(h);
      if (hw::host_spec_json(hw::parse_host_spec(written, "written")) != written)
        fuzz::finding("host_spec", "a description written does not read back the same");
    });
  });
  return 0;
}

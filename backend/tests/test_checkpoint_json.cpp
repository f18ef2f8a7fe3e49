// A checkpoint's metadata goes through io's bounded JSON reader: crafted metadata (consistent sizes
// and checksum) nested 100,000 deep or with a key twice is refused as CheckpointError in one line.
#include <cstring>
#include <string>

#include <catch2/catch.hpp>

#include "backend/training/checkpoint.h"
#include "backend/training/data/token_file.h"

using namespace tandem::backend;

namespace {
template <typename T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}
// A checkpoint file around `meta` with no tensor data, its header and checksum consistent.
std::string checkpoint_with(const std::string& meta) {
  std::string out(kCheckpointMagic, 8);
  put<uint32_t>(out, 1);
  put<uint32_t>(out, 0);
  put<uint64_t>(out, meta.size());
  put<uint64_t>(out, 0);
  out += meta;
  put<uint64_t>(out, fnv1a64(out.data() + 32, meta.size()));
  out.append(kCheckpointEndMagic, 8);
  return out;
}
std::string refusal(const std::string& meta) {
  try {
    parse_checkpoint(checkpoint_with(meta), "c.tdmckpt");
  } catch (const CheckpointError& e) {
    return e.what();
  }
  FAIL("expected a CheckpointError");
  return "";
}
}  // namespace

TEST_CASE("crafted checkpoint metadata: deep nesting and duplicate keys are refused in one line", "[checkpoint][json]") {
  const std::string deep = refusal(R"({"step": )" + std::string(100000, '[') + std::string(100000, ']') + "}");
  CHECK_THAT(deep, Catch::Contains("c.tdmckpt: malformed metadata: at step[0][0]") && Catch::Contains("nested at most 128 levels"));
  CHECK(deep.size() < 400);
  CHECK_THAT(refusal(R"({"step": 1, "step": 2})"), Catch::Contains("malformed metadata: at step (line 1 col 13)") &&
                                                       Catch::Contains("a second time (first at line 1 col 2)"));
  CHECK_THAT(refusal("{\"step\": "), Catch::Contains("malformed metadata") && Catch::Contains("truncated"));
}

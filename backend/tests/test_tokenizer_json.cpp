// The tokenizer model's JSON goes through io's bounded reader: hostile files (100,000 nested arrays,
// duplicate keys, huge values, devices) are refused with one short line, never a crash.
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include <catch2/catch.hpp>

#include "backend/training/data/bpe_tokenizer.h"
#include "backend/training/data/token_file.h"
#include "io/input_error.h"

using tandem::backend::BpeTokenizer;
using tandem::backend::DataError;
using tandem::io::InputError;

namespace {
std::string refusal(const std::string& text) {
  try {
    BpeTokenizer::from_json(text, "t.json");
  } catch (const InputError& e) {
    return e.what();
  } catch (const DataError& e) {
    return e.what();
  }
  FAIL("expected a refusal");
  return "";
}
}  // namespace

TEST_CASE("hostile tokenizer JSON is refused in one short line", "[data][tokenizer]") {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  CHECK_THROWS_AS(BpeTokenizer::from_json(R"({"format": "tandem-bpe", "version": 1, "merges": )" + deep + "}", "t.json"),
                  InputError);
  const std::string nested = refusal(R"({"format": "tandem-bpe", "version": 1, "merges": )" + deep + "}");
  CHECK_THAT(nested, Catch::Contains("t.json: at merges[0][0]") && Catch::Contains("nested at most 128 levels deep"));
  CHECK(nested.size() < 400);
  CHECK_THAT(refusal(R"({"format": "tandem-bpe", "version": 1, "merges": [], "merges": [[97, 98]]})"),
             Catch::Contains("t.json: at merges (line 1 col 54)") && Catch::Contains("first at line 1 col 40"));
  // A long or nested value in a field is shown cut.
  const std::string long_format = refusal(R"({"format": ")" + std::string(100000, 'x') + R"(", "version": 1, "merges": []})");
  CHECK_THAT(long_format, Catch::Contains("at format: expected \"tandem-bpe\""));
  CHECK(long_format.size() < 300);
  CHECK_THAT(refusal(R"({"format": "tandem-bpe", "version": 1, "merges": [[[[[1]]]]]})"),
             Catch::Contains("at merges[0]: expected a pair of earlier tokens (each < 256), found [[[[1]]]]"));
  CHECK_THAT(refusal(R"({"format": "tandem-bpe", "version": 1e999, "merges": []})"), Catch::Contains("range of a double"));
  CHECK_THAT(refusal("{\"format\": "), Catch::Contains("t.json: not valid JSON: at format (line 1 col 12)"));
}

TEST_CASE("a tokenizer file is read only when it is a regular file within the bound", "[data][tokenizer]") {
  CHECK_THROWS_WITH(BpeTokenizer::load("/dev/zero"), Catch::Contains("expected a tokenizer file, found a character device"));
  CHECK_THROWS_WITH(BpeTokenizer::load(std::filesystem::temp_directory_path().string()), Catch::Contains("found a directory"));
  const auto path = std::filesystem::temp_directory_path() / ("tandem-tok-" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << BpeTokenizer::train("abababab cdcdcd", 260).to_json();
  CHECK(BpeTokenizer::load(path.string()).vocab_size() >= 257);
  std::filesystem::remove(path);
}

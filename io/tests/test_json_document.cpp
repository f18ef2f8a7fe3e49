// parse_json_document: documents come back as nlohmann parses them; nesting past the cap, duplicate
// keys, syntax errors and out-of-range numbers are refused with InputError naming the place; excerpts
// of values in messages stay short and never recurse without end.
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include <catch2/catch.hpp>

#include "io/json_document.h"

using tandem::io::InputError;
using tandem::io::JsonSyntaxError;
using tandem::io::json_excerpt;
using tandem::io::kMaxJsonDepth;
using tandem::io::parse_json_document;
using nlohmann::json;

namespace {
std::string refusal(const std::string& text) {
  try {
    parse_json_document(text, "t.json", "a test document");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}
bool is_syntax_error(const std::string& text) {
  try {
    parse_json_document(text, "t.json", "a test document");
  } catch (const JsonSyntaxError&) {
    return true;
  } catch (const InputError&) {
    return false;
  }
  return false;
}
std::string nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }
}  // namespace

TEST_CASE("a document is read as nlohmann reads it", "[io][json]") {
  const std::string text = R"({"model": "tiny", "plan": {"pp": 2, "list": [1, 2.5, -3, true, null, "x", {"k": []}]},
                              "big": 18446744073709551615, "esc": "a\"b\\"})";
  CHECK(parse_json_document(text, "t.json", "a test document") == json::parse(text));
  CHECK(parse_json_document("  7 ", "t.json", "a number") == json(7));
}

TEST_CASE("nesting is capped before the deeper part is built", "[io][json]") {
  CHECK(parse_json_document(nested(kMaxJsonDepth), "t.json", "x").is_array());
  const std::string one_more = refusal(nested(kMaxJsonDepth + 1));
  CHECK_THAT(one_more, Catch::Contains("t.json: at [0][0]") && Catch::Contains("nested at most 128 levels deep") &&
                           Catch::Contains("line 1 col 129"));
  // 100,000 levels (what overflowed the stack of every reader): refused at level 129, message short.
  const std::string deep = refusal(nested(100000));
  CHECK_THAT(deep, Catch::Contains("nested at most 128 levels"));
  CHECK(deep.size() < 600);
  std::string open_objects;   // never closed: refused at level 129, long before the end
  for (int i = 0; i < 100000; ++i) open_objects += "{\"a\":";
  const std::string objects = refusal(open_objects);
  CHECK_THAT(objects, Catch::Contains("at a.a.a.a") && Catch::Contains("nested at most 128 levels"));
  CHECK(objects.size() < 600);
}

TEST_CASE("a key that its object already holds is refused, naming both places", "[io][json]") {
  const std::string two = refusal("{\"plan\": {\"pp\": 2,\n   \"ep\": 1,\n   \"pp\": 4}}");
  CHECK_THAT(two, Catch::Contains("t.json: at plan.pp (line 3 col 4)") && Catch::Contains("each key once") &&
                      Catch::Contains("the key \"pp\" a second time (first at line 1 col 11)"));
  // The same key in two different objects is fine; in an array of objects, the element is named.
  CHECK(parse_json_document(R"([{"a": 1}, {"a": 2}])", "t.json", "x").size() == 2);
  CHECK_THAT(refusal(R"([{"a": 1}, {"b": 1, "a": 2, "a": 3}])"),
             Catch::Contains("at [1].a (line 1 col 29)") && Catch::Contains("first at line 1 col 21"));
  // Keys with escaped quotes are located at their opening quote.
  CHECK_THAT(refusal(R"({"x\"y": 1, "x\"y": 2})"), Catch::Contains("(line 1 col 13)") && Catch::Contains("first at line 1 col 2"));
  // A long key is cut in the message.
  const std::string key(5000, 'k');
  const std::string long_key = refusal("{\"" + key + "\": 1, \"" + key + "\": 2}");
  CHECK_THAT(long_key, Catch::Contains("each key once"));
  CHECK(long_key.size() < 600);
}

TEST_CASE("syntax errors name the line and column, and a cut-off document says so", "[io][json]") {
  const std::string bad = refusal("{\"a\": 1,\n \"b\": tru}");
  CHECK_THAT(bad, Catch::Contains("t.json: at b (line 2 col 10)") && Catch::Contains("invalid JSON"));
  CHECK(is_syntax_error("{\"a\": 1,\n \"b\": tru}"));
  CHECK_THAT(refusal("{\"plan\": {\"pp\": "), Catch::Contains("truncated"));
  CHECK_THAT(refusal(""), Catch::Contains("an empty document"));
  CHECK_THAT(refusal("{} x"), Catch::Contains("invalid JSON"));
  CHECK(is_syntax_error("word"));
}

TEST_CASE("a number beyond a double is refused as out of range, not as a syntax error", "[io][json]") {
  const std::string text = "{\"points\": [{\"time_us\": 1e999}]}";
  CHECK_THAT(refusal(text), Catch::Contains("at points[0].time_us") && Catch::Contains("range of a double") &&
                                Catch::Contains("the number 1e999"));
  CHECK_FALSE(is_syntax_error(text));
  CHECK_FALSE(is_syntax_error("-1e400"));
}

TEST_CASE("read_json_document refuses what read_input_file refuses", "[io][json]") {
  const auto dir = std::filesystem::temp_directory_path() / ("tandem-json-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  CHECK_THROWS_AS(tandem::io::read_json_document(dir.string(), 1024, "a test document"), InputError);
  const auto file = dir / "big.json";
  std::ofstream(file) << "[" << std::string(2000, ' ') << "]";
  CHECK_THROWS_WITH(tandem::io::read_json_document(file.string(), 1024, "a test document"),
                    Catch::Contains("at most 1024 bytes"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("excerpts of values are short, whatever the value", "[io][json]") {
  CHECK(json_excerpt(json::parse(R"({"a":[1,2],"b":"x"})")) == R"({"a":[1,2],"b":"x"})");
  const std::string cut = json_excerpt(json(std::string(100000, 'z')), 60);
  CHECK(cut.size() <= 63);
  CHECK(cut.substr(cut.size() - 3) == "...");
  // A value deeper than any document the reader accepts (built here by hand) is shown, not walked.
  json deep = json::array();
  json* at = &deep;
  for (int i = 0; i < 20000; ++i) {
    at->push_back(json::array());
    at = &at->back();
  }
  CHECK(json_excerpt(deep, 1000).find("[...]") != std::string::npos);
  // A cut inside a UTF-8 character backs off to the character's start.
  const std::string accents = json_excerpt(json(std::string(100, 'a') + "\xc3\xa9\xc3\xa9\xc3\xa9"), 101);
  std::string requoted = accents.substr(0, accents.size() - 3);   // without the "..."
  requoted.push_back('"');
  CHECK(json::parse(requoted).is_string());
}

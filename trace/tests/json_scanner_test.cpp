// JsonScanner tests: exact number conversions (microseconds to nanoseconds, integers), string
// escapes, raw skipping, and the position in error messages.
#include <catch2/catch.hpp>

#include <limits>

#include "trace/json_scanner.h"

using namespace tandem::trace;

namespace {
int64_t ns_of(std::string_view num) {
  int64_t v = 0;
  const char* why = "";
  REQUIRE(micros_to_nanos(num, v, &why));
  return v;
}
bool ns_fails(std::string_view num) {
  int64_t v = 0;
  const char* why = "";
  return !micros_to_nanos(num, v, &why);
}
}  // namespace

TEST_CASE("microseconds convert to nanoseconds exactly", "[trace][json]") {
  CHECK(ns_of("0") == 0);
  CHECK(ns_of("-0") == 0);
  CHECK(ns_of("1") == 1000);
  CHECK(ns_of("12.5") == 12500);
  CHECK(ns_of("0.001") == 1);
  CHECK(ns_of("0.0004") == 0);             // 0.4 ns rounds down
  CHECK(ns_of("0.0005") == 1);             // 0.5 ns rounds away from zero
  CHECK(ns_of("-0.0015") == -2);
  CHECK(ns_of("1.5e3") == 1500000);        // 1500 µs
  CHECK(ns_of("25E-3") == 25);             // 0.025 µs
  CHECK(ns_of("1700000000000.250") == 1700000000000250);
  // A double would lose the last digits of this one: 1700000000123.4567 µs.
  CHECK(ns_of("1700000000123.4567") == 1700000000123457);
  CHECK(ns_of("9223372036854775.807") == std::numeric_limits<int64_t>::max());
  CHECK(ns_of("0.00000000000000000000000000000001") == 0);
  CHECK(ns_of("1e-999999999") == 0);
  CHECK(ns_fails("9223372036854775.808"));
  CHECK(ns_fails("1e16"));
  CHECK(ns_fails("1e999999999"));
  CHECK(ns_fails("123456789012345678901234567890123456789012345678901234567890"));
}

TEST_CASE("integers convert exactly or say why not", "[trace][json]") {
  int64_t v = 0;
  const char* why = "";
  CHECK(number_to_int64("42", v, &why));
  CHECK(v == 42);
  CHECK(number_to_int64("-7", v, &why));
  CHECK(v == -7);
  CHECK(number_to_int64("3.0", v, &why));   // integral value written as a decimal
  CHECK(v == 3);
  CHECK(number_to_int64("2e3", v, &why));
  CHECK(v == 2000);
  CHECK(number_to_int64("9223372036854775807", v, &why));
  CHECK(v == std::numeric_limits<int64_t>::max());
  CHECK_FALSE(number_to_int64("9223372036854775808", v, &why));
  CHECK(std::string(why) == "out of range");
  CHECK_FALSE(number_to_int64("1.5", v, &why));
  CHECK(std::string(why) == "not an integer");
  CHECK_FALSE(number_to_int64("1e-1", v, &why));
  double d = 0;
  CHECK(number_to_double("1.5e12", d, &why));
  CHECK(d == 1.5e12);
  CHECK_FALSE(number_to_double("1e400", d, &why));
}

TEST_CASE("scanner reads strings, skips values and reports positions", "[trace][json]") {
  JsonScanner sc(R"({"a\u00e9\"b": [1, {"x": [true, false, null]}, "s"], "c": "\ud83d\ude00\n"})", "mem");
  sc.begin_object();
  bool first = true;
  std::string_view key;
  REQUIRE(sc.next_member(first, key));
  CHECK(key == "a\xc3\xa9\"b");                              // é in UTF-8
  CHECK(sc.skip_value() == R"([1, {"x": [true, false, null]}, "s"])");
  REQUIRE(sc.next_member(first, key));
  CHECK(key == "c");
  CHECK(sc.read_string() == "\xf0\x9f\x98\x80\n");           // U+1F600 from its surrogate pair
  CHECK_FALSE(sc.next_member(first, key));
  sc.expect_end();

  JsonScanner bad("[1,\n  2,\n  x]", "f.json");
  bad.begin_array();
  bool f2 = true;
  REQUIRE(bad.next_element(f2));
  bad.read_number();
  REQUIRE(bad.next_element(f2));
  bad.read_number();
  REQUIRE(bad.next_element(f2));
  try {
    bad.skip_value();
    FAIL("no error");
  } catch (const TraceError& e) {
    CHECK(std::string(e.what()) == "f.json:3:3 (byte 11): expected a JSON value, found the character 'x'");
    CHECK(e.line == 3);
    CHECK(e.column == 3);
  }
}

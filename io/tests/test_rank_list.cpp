// Rank lists of the command line (io/rank_list.h): "all", ranks and ranges, sorted without repeats, and
// refusals that name the option, what was expected and what was found.
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "io/rank_list.h"

using tandem::io::parse_rank_list;

TEST_CASE("rank lists give sorted ranks without repeats", "[io][rank_list]") {
  CHECK(parse_rank_list("3", 8, "--ranks") == std::vector<int64_t>{3});
  CHECK(parse_rank_list("5,0-2,1", 8, "--ranks") == std::vector<int64_t>{0, 1, 2, 5});
  CHECK(parse_rank_list("all", 4, "--ranks") == std::vector<int64_t>{0, 1, 2, 3});
  CHECK(parse_rank_list("7-7", 0, "--ranks") == std::vector<int64_t>{7});
  CHECK(parse_rank_list("2147483647", 0, "--ranks") == std::vector<int64_t>{2147483647});
}

TEST_CASE("bad rank lists are refused naming the option and what was found", "[io][rank_list]") {
  struct Case {
    std::string text;
    int64_t num_ranks;
    std::string found;
  };
  for (const auto& c : {Case{"8", 8, "found rank 8"}, Case{"", 8, "found an empty item"},
                        Case{"1,,2", 8, "found an empty item"}, Case{"x", 8, "found 'x'"},
                        Case{"-1", 8, "(ranks are not negative)"}, Case{"5-2", 8, "the empty range '5-2'"},
                        Case{"all", 0, "found 'all'"}, Case{"0-2000000", 0, "of 2000001 ranks"},
                        Case{"99999999999999", 0, "found rank 99999999999999"}}) {
    INFO(c.text);
    try {
      parse_rank_list(c.text, c.num_ranks, "--stages");
      FAIL("accepted");
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      CHECK(what.rfind("--stages '" + c.text + "': expected", 0) == 0);
      CHECK_THAT(what, Catch::Contains(c.found));
    }
  }
}

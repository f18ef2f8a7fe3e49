// The one Catch2 main shared by all of tandem's test binaries (compiled once).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

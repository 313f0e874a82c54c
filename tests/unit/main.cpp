// The unit-test runner (Catch2 v2). Each tests/unit/<module>_test.cpp mirrors agent/.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include "gdbserver/gdb_connection.h"

#include <doctest/doctest.h>
TEST_CASE("placeholder") {
    CHECK(true);
}

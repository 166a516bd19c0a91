// The header compiles as C++17 with every warning an error, and its types work there.
#include "muxwire.h"

#include <cstring>

static_assert(MUXWIRE_RESULT_OK == 0, "OK is 0");
static_assert(MUXWIRE_RESULT_UNAUTHENTICATED == 16, "the wire codes keep their numbers");

int muxwire_cxx_check();

int muxwire_cxx_check() {
    muxwire_result r = muxwire_strerror(MUXWIRE_RESULT_OK) != nullptr ? MUXWIRE_RESULT_OK
                                                                      : MUXWIRE_RESULT_INTERNAL;
    muxwire_stats stats{};
    muxwire_completion done{};
    return static_cast<int>(r) + static_cast<int>(stats.calls_ok) + static_cast<int>(done.tag) +
           static_cast<int>(std::strlen(MUXWIRE_VERSION_STRING));
}

/* Assertions for the C tests: each failure names the file, line, expression and, for
 * muxwire results, the result's text and muxwire_last_error(). */
#ifndef MUXWIRE_TEST_CHECK_H
#define MUXWIRE_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "muxwire.h"

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stdout, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);            \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* Expects `expr` (a muxwire_result) to equal `want`. */
#define EXPECT_RESULT(expr, want)                                                      \
    do {                                                                               \
        muxwire_result got_ = (expr);                                                  \
        if (got_ != (want)) {                                                          \
            fprintf(stdout, "FAIL %s:%d: %s returned %d (%s), expected %d (%s); "      \
                            "last error: %s\n",                                        \
                    __FILE__, __LINE__, #expr, (int)got_, muxwire_strerror(got_),      \
                    (int)(want), muxwire_strerror(want), muxwire_last_error());        \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

#define EXPECT_OK(expr) EXPECT_RESULT(expr, MUXWIRE_RESULT_OK)

/* Expects the last error on this thread to contain `needle`. */
#define EXPECT_LAST_ERROR_HAS(needle)                                                  \
    do {                                                                               \
        if (strstr(muxwire_last_error(), (needle)) == NULL) {                          \
            fprintf(stdout, "FAIL %s:%d: last error \"%s\" lacks \"%s\"\n", __FILE__,  \
                    __LINE__, muxwire_last_error(), (needle));                         \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

#endif

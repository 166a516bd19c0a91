/* blocking_client: one call, waiting for its reply.
 *
 *   blocking_client URL METHOD [TEXT [TIMEOUT_MS]]
 *
 * Prints the reply on stdout. On failure prints the status on stderr and exits with the
 * muxwire_result number (4: deadline exceeded, 12: unimplemented, 14: unavailable...). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "muxwire.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: blocking_client URL METHOD [TEXT [TIMEOUT_MS]]\n");
        return 2;
    }
    const char *text = argc > 3 ? argv[3] : "";
    uint64_t timeout_ms = argc > 4 ? strtoull(argv[4], NULL, 10) : 0;

    muxwire_runtime *rt = NULL;
    muxwire_client *client = NULL;
    muxwire_reply *reply = NULL;
    muxwire_result r = muxwire_runtime_new(1, &rt);
    if (r == MUXWIRE_RESULT_OK) {
        r = muxwire_client_connect(rt, argv[1], NULL, &client);
    }
    if (r == MUXWIRE_RESULT_OK) {
        r = muxwire_client_call(client, argv[2], (const uint8_t *)text, strlen(text), timeout_ms,
                                &reply);
    }
    if (r == MUXWIRE_RESULT_OK) {
        fwrite(muxwire_reply_data(reply), 1, muxwire_reply_len(reply), stdout);
        putchar('\n');
    } else {
        fprintf(stderr, "blocking_client: %s (%d): %s\n", muxwire_strerror(r), (int)r,
                muxwire_last_error());
    }
    muxwire_reply_free(reply);
    muxwire_client_free(client);
    muxwire_runtime_free(rt);
    return r == MUXWIRE_RESULT_OK ? 0 : (r > 125 ? 125 : (int)r);
}

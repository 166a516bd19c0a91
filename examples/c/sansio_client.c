/* sansio_client: one call through the sans-IO layer, on a socket this program owns and
 * a poll(2) loop it runs: the shape of an integration into epoll, kqueue or libuv.
 *
 *   sansio_client [-m KEY=VALUE]... [--lz4] URL METHOD [TEXT]
 *
 * URL: tcp://127.0.0.1:PORT or unix:///path. -m adds request metadata entries; --lz4
 * sends the request LZ4-compressed and accepts compressed replies. Prints the reply; on
 * failure prints the status and exits with its code. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "muxwire.h"

/* The connection's clock: any monotonic microseconds. */
static uint64_t now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

/* Connects a blocking socket to tcp://host:port or unix:///path; -1 on failure. */
static int dial(const char *url) {
    if (strncmp(url, "unix://", 7) == 0) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(url + 7) >= sizeof sa.sun_path) {
            return -1;
        }
        strcpy(sa.sun_path, url + 7);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
            return fd;
        }
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    if (strncmp(url, "tcp://", 6) != 0) {
        return -1;
    }
    char host[256];
    snprintf(host, sizeof host, "%s", url + 6);
    char *colon = strrchr(host, ':');
    if (colon == NULL) {
        return -1;
    }
    *colon = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0) {
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = res; a != NULL && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

/* Writes everything the connection has to send. 0 on success. */
static int flush(muxwire_conn *conn, int fd) {
    const uint8_t *data;
    size_t len;
    if (muxwire_conn_poll_transmit(conn, now_us(), &data, &len) != MUXWIRE_RESULT_OK) {
        return -1;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        done += (size_t)n;
    }
    return muxwire_conn_transmitted(conn, len) == MUXWIRE_RESULT_OK ? 0 : -1;
}

#define MAX_ENTRIES 16

/* The request: METHOD and TEXT with -m entries (split at '=' in place), maybe LZ4. */
struct request {
    const char *method;
    const char *text;
    muxwire_entry entries[MAX_ENTRIES];
    size_t count;
    int lz4;
};

/* Parses the command line; the URL's index, or 0 for bad usage. */
static int parse(int argc, char **argv, struct request *req) {
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--lz4") == 0) {
            req->lz4 = 1;
        } else if (strcmp(argv[i], "-m") == 0 && i + 1 < argc && req->count < MAX_ENTRIES) {
            char *kv = argv[++i];
            char *eq = strchr(kv, '=');
            if (eq == NULL) {
                return 0;
            }
            *eq = '\0';
            req->entries[req->count++] = (muxwire_entry){
                .key = kv, .value = (const uint8_t *)(eq + 1), .value_len = strlen(eq + 1)};
        } else {
            return 0;
        }
    }
    if (argc - i < 2) {
        return 0;
    }
    req->method = argv[i + 1];
    req->text = argc - i > 2 ? argv[i + 2] : "";
    return i;
}

/* Opens the call. A compressed request must wait for the server's HELLO (it says which
 * codecs the server accepts), so this runs once the connection reports CONNECTED. */
static muxwire_result open_call(muxwire_conn *conn, const struct request *req, uint32_t *stream) {
    muxwire_conn_call call = {
        .method = req->method,
        .body = (const uint8_t *)req->text,
        .body_len = strlen(req->text),
        .timeout_us = 10 * 1000 * 1000,
        .metadata = req->entries,
        .metadata_count = req->count,
    };
    muxwire_reply *packed = NULL;
    if (req->lz4 && muxwire_compress(MUXWIRE_CODEC_LZ4, call.body, call.body_len, &packed) ==
                        MUXWIRE_RESULT_OK &&
        muxwire_reply_len(packed) < call.body_len) {
        call.body = muxwire_reply_data(packed);
        call.body_len = muxwire_reply_len(packed);
        call.codec = MUXWIRE_CODEC_LZ4;
    }
    muxwire_result r = muxwire_conn_open_call_with(conn, now_us(), &call, stream);
    muxwire_reply_free(packed);
    return r;
}

/* Prints a reply message, decompressing it if it came compressed. */
static muxwire_result print_reply(const muxwire_event *ev) {
    if (ev->codec == MUXWIRE_CODEC_IDENTITY) {
        fwrite(ev->message, 1, ev->message_len, stdout);
    } else {
        muxwire_reply *plain = NULL;
        muxwire_result r = muxwire_decompress(ev->codec, ev->message, ev->message_len,
                                              4 * 1024 * 1024, &plain);
        if (r != MUXWIRE_RESULT_OK) {
            return r;
        }
        fwrite(muxwire_reply_data(plain), 1, muxwire_reply_len(plain), stdout);
        muxwire_reply_free(plain);
    }
    putchar('\n');
    return MUXWIRE_RESULT_OK;
}

int main(int argc, char **argv) {
    struct request req = {.count = 0};
    int url = parse(argc, argv, &req);
    if (url == 0) {
        fprintf(stderr, "usage: sansio_client [-m KEY=VALUE]... [--lz4] URL METHOD [TEXT]\n");
        return 2;
    }
    int fd = dial(argv[url]);
    if (fd < 0) {
        fprintf(stderr, "sansio_client: cannot connect to %s\n", argv[url]);
        return 14;
    }
    muxwire_conn_config cfg;
    muxwire_conn *conn = NULL;
    muxwire_conn_config_init(&cfg, MUXWIRE_SIDE_CONNECTOR);
    cfg.compression = req.lz4 ? 1u << MUXWIRE_CODEC_LZ4 : 0; /* replies we can take */
    if (muxwire_conn_new(&cfg, now_us(), &conn) != MUXWIRE_RESULT_OK) {
        fprintf(stderr, "sansio_client: %s\n", muxwire_last_error());
        close(fd);
        return 1;
    }
    uint32_t stream = 0;
    muxwire_result r = MUXWIRE_RESULT_OK;
    int status = -1; /* the call's outcome, once known */
    uint8_t buf[64 * 1024];
    while (r == MUXWIRE_RESULT_OK && status < 0) {
        if (flush(conn, fd) != 0) {
            r = MUXWIRE_RESULT_UNAVAILABLE;
            break;
        }
        /* Sleep until the socket is readable or the connection's timer is due. */
        int timeout_ms = -1;
        uint64_t at;
        if (muxwire_conn_timeout(conn, &at) == MUXWIRE_RESULT_OK) {
            uint64_t now = now_us();
            timeout_ms = at > now ? (int)((at - now + 999) / 1000) : 0;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int ready = poll(&pfd, 1, timeout_ms);
        if (ready < 0 && errno != EINTR) {
            r = MUXWIRE_RESULT_UNAVAILABLE;
            break;
        }
        if (ready == 0) {
            muxwire_conn_on_timeout(conn, now_us());
        } else if (ready > 0) {
            ssize_t n = read(fd, buf, sizeof buf);
            if (n > 0) {
                r = muxwire_conn_feed(conn, now_us(), buf, (size_t)n);
            } else if (n == 0) {
                muxwire_conn_on_eof(conn, now_us());
            }
        }
        /* Take every event; views stay valid until the next call on `conn`. */
        muxwire_event ev;
        while (status < 0 && r == MUXWIRE_RESULT_OK &&
               muxwire_conn_poll_event(conn, &ev) == MUXWIRE_RESULT_OK) {
            if (ev.kind == MUXWIRE_EVENT_KIND_CONNECTED) {
                r = open_call(conn, &req, &stream);
                continue;
            }
            if (stream == 0 || ev.stream != stream) {
                continue;
            }
            if (ev.kind == MUXWIRE_EVENT_KIND_STATUS) {
                status = (int)ev.status;
                if (status == 0) {
                    r = print_reply(&ev);
                } else {
                    fprintf(stderr, "sansio_client: status %d: %.*s\n", status,
                            (int)ev.reason_len, ev.reason);
                }
            } else if (ev.kind == MUXWIRE_EVENT_KIND_CALL_FAILED) {
                status = (int)ev.status;
                fprintf(stderr, "sansio_client: call failed with status %d\n", status);
            }
        }
        if (muxwire_conn_is_closed(conn) && status < 0) {
            r = MUXWIRE_RESULT_UNAVAILABLE;
        }
    }
    if (r != MUXWIRE_RESULT_OK) {
        fprintf(stderr, "sansio_client: %s: %s\n", muxwire_strerror(r), muxwire_last_error());
        status = (int)r;
    }
    /* Leave politely: GOAWAY, then close. */
    muxwire_conn_close(conn, now_us());
    flush(conn, fd);
    muxwire_conn_free(conn);
    close(fd);
    return status > 125 ? 125 : status;
}

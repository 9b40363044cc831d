#ifndef WARDEN_CGRPCCORE_SHIM_H
#define WARDEN_CGRPCCORE_SHIM_H
// The C gRPC core, plus per-call state and batch assembly kept in C: the core holds
// pointers into a call's state until its tag completes, so that state must live at a
// stable address, and grpc_op's unions are easiest to fill here.
// System headers first, as Glibc's module defines them: gRPC's headers set feature macros
// (_GNU_SOURCE) before including <sys/select.h>, which would otherwise give fd_set a
// different definition in this module than in SwiftGlibc's, and the build fails.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <pthread.h>
#include <sys/prctl.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

enum { WARDEN_CALL_REGISTERED = 1, WARDEN_CALL_GENERIC = 2 };
enum { WARDEN_STAGE_REQUESTED = 1, WARDEN_STAGE_PREPARED = 2, WARDEN_STAGE_RESPONDING = 3 };

typedef struct warden_call {
    int kind;             // WARDEN_CALL_REGISTERED or WARDEN_CALL_GENERIC
    int stage;            // WARDEN_STAGE_*
    int method_index;     // which registered method (for re-posting)
    void *method;         // the registered method handle
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array metadata;
    grpc_call_details details;   // generic calls only
    grpc_byte_buffer *payload;   // the request message (registered calls)
    int cancelled;
    grpc_byte_buffer *response;
    grpc_slice status_details;
    grpc_op ops[4];
    size_t op_count;
    struct warden_call *next_prepared;   // answers handed back together, sent in order
} warden_call;

static inline warden_call *warden_call_create(int kind, int method_index, void *method) {
    warden_call *c = (warden_call *)calloc(1, sizeof(warden_call));
    if (c == NULL) return NULL;
    c->kind = kind;
    c->stage = WARDEN_STAGE_REQUESTED;
    c->method_index = method_index;
    c->method = method;
    grpc_metadata_array_init(&c->metadata);
    grpc_call_details_init(&c->details);
    c->status_details = grpc_empty_slice();
    return c;
}

static inline void warden_call_destroy(warden_call *c) {
    if (c == NULL) return;
    if (c->payload) grpc_byte_buffer_destroy(c->payload);
    if (c->response) grpc_byte_buffer_destroy(c->response);
    grpc_slice_unref(c->status_details);
    grpc_metadata_array_destroy(&c->metadata);
    grpc_call_details_destroy(&c->details);
    if (c->call) grpc_call_unref(c->call);
    free(c);
}

static inline grpc_call_error warden_call_request(grpc_server *server, grpc_completion_queue *cq, warden_call *c) {
    if (c->kind == WARDEN_CALL_REGISTERED) {
        return grpc_server_request_registered_call(server, c->method, &c->call, &c->deadline, &c->metadata,
                                                   &c->payload, cq, cq, c);
    }
    return grpc_server_request_call(server, &c->call, &c->details, &c->metadata, cq, cq, c);
}

/// The request message's length (0 when the call carried none).
static inline size_t warden_call_payload_length(const warden_call *c) {
    return c->payload ? grpc_byte_buffer_length(c->payload) : 0;
}

/// Copies the request message into `out` (of warden_call_payload_length bytes), slice by
/// slice, without gathering it into one slice first.
static inline int warden_call_payload_copy(warden_call *c, uint8_t *out, size_t len) {
    if (c->payload == NULL) return 1;
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, c->payload)) return 0;
    grpc_slice slice;
    size_t at = 0;
    while (grpc_byte_buffer_reader_next(&reader, &slice)) {
        size_t n = GRPC_SLICE_LENGTH(slice);
        if (n > len - at) n = len - at;
        memcpy(out + at, GRPC_SLICE_START_PTR(slice), n);
        at += n;
        grpc_slice_unref(slice);
    }
    grpc_byte_buffer_reader_destroy(&reader);
    return 1;
}

/// The method path of a generic call, for logs.
static inline size_t warden_call_method(const warden_call *c, char *out, size_t len) {
    size_t n = GRPC_SLICE_LENGTH(c->details.method);
    if (n > len) n = len;
    memcpy(out, GRPC_SLICE_START_PTR(c->details.method), n);
    return n;
}

/// Prepares the answer to a unary call as one batch: initial metadata, the message (if
/// any), status, and waiting for the client's close. Touches only the call's own state, so
/// any thread may prepare it; `warden_call_start_response` sends it.
static inline void warden_call_prepare_response(warden_call *c, const uint8_t *message, size_t message_len, int has_message,
                                                grpc_status_code status, const char *details, size_t details_len) {
    memset(c->ops, 0, sizeof(c->ops));
    size_t n = 0;
    c->ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
    c->ops[n].data.send_initial_metadata.count = 0;
    n++;
    if (has_message) {
        grpc_slice s = grpc_slice_from_copied_buffer((const char *)message, message_len);
        c->response = grpc_raw_byte_buffer_create(&s, 1);
        grpc_slice_unref(s);
        c->ops[n].op = GRPC_OP_SEND_MESSAGE;
        c->ops[n].data.send_message.send_message = c->response;
        n++;
    }
    grpc_slice_unref(c->status_details);
    c->status_details = grpc_slice_from_copied_buffer(details, details_len);
    c->ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    c->ops[n].data.send_status_from_server.trailing_metadata_count = 0;
    c->ops[n].data.send_status_from_server.status = status;
    c->ops[n].data.send_status_from_server.status_details = &c->status_details;
    n++;
    c->ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    c->ops[n].data.recv_close_on_server.cancelled = &c->cancelled;
    n++;
    c->op_count = n;
    c->stage = WARDEN_STAGE_PREPARED;
}

/// Sends the prepared answer. Its tag completes, on the call's queue, when all four
/// operations are done.
static inline grpc_call_error warden_call_start_response(warden_call *c) {
    c->stage = WARDEN_STAGE_RESPONDING;
    return grpc_call_start_batch(c->call, c->ops, c->op_count, c, NULL);
}

/// Hands a prepared answer back to the call's queue thread: an empty batch, whose tag the
/// core posts to the call's queue at once.
static inline grpc_call_error warden_call_return_to_queue(warden_call *c) {
    return grpc_call_start_batch(c->call, NULL, 0, c, NULL);
}

static inline grpc_channel_args *warden_server_args(int max_message_bytes) {
    grpc_channel_args *args = (grpc_channel_args *)calloc(1, sizeof(grpc_channel_args));
    grpc_arg *a = (grpc_arg *)calloc(3, sizeof(grpc_arg));
    a[0].type = GRPC_ARG_INTEGER;
    a[0].key = (char *)"grpc.so_reuseport";   // a clash on the port must fail loudly
    a[0].value.integer = 0;
    a[1].type = GRPC_ARG_INTEGER;
    a[1].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    a[1].value.integer = max_message_bytes;
    a[2].type = GRPC_ARG_INTEGER;
    a[2].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    a[2].value.integer = max_message_bytes;
    args->num_args = 3;
    args->args = a;
    return args;
}

static inline void warden_server_args_free(grpc_channel_args *args) {
    free(args->args);
    free(args);
}

static inline int warden_server_add_insecure_port(grpc_server *server, const char *addr) {
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    int port = grpc_server_add_http2_port(server, addr, creds);
    grpc_server_credentials_release(creds);
    return port;
}

static inline gpr_timespec warden_deadline_ms(int64_t ms) {
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

/// Names the calling thread (at most 15 bytes are kept), for `top -H` and `perf`.
static inline void warden_name_thread(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }

static inline gpr_timespec warden_infinite(void) { return gpr_inf_future(GPR_CLOCK_MONOTONIC); }

/// A deadline already passed: `grpc_completion_queue_next` returns what is ready without waiting.
static inline gpr_timespec warden_now_or_never(void) { return gpr_inf_past(GPR_CLOCK_MONOTONIC); }
#endif

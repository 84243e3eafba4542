/* fuzz_multipart.c -- libFuzzer target: POST /predict as routes.c sees it,
 * without sockets: the Content-Type value, the ?explain flag and the body go
 * through the real handler (media type, boundary, multipart splitting, every
 * image part through decode, preprocessing and the shipped model, the JSON
 * answer). Fast and deterministic; fuzz_request covers the HTTP layer above.
 *
 * Input: byte 0 is flags (bit 0: explain, bit 1: no Content-Type at all),
 * then the Content-Type value up to the first '\n', then the body.
 *
 * Properties: the answer is one a client may get (never 5xx), its body is a
 * JSON object of the documented shape, and multipart parts always lie inside
 * the body.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "model_store.h"
#include "multipart.h"
#include "routes.h"

#include "fuzz_server.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static server_state state;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    config_defaults(&state.cfg);
    state.cfg.max_pixels = 1024 * 1024;
    metrics_init(&state.metrics);
    atomic_init(&state.draining, false);
    log_configure(LOG_FORMAT_TEXT, -1);
    char err[1024];
    if (model_store_init(&state.store, MLP_WEIGHTS_AUTO) != 0 ||
        model_store_load(&state.store, fuzz_model_path((*argv)[0]), err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_multipart: %s\n", err);
        exit(1);
    }
    return 0;
}

static void check_parts(const char *ct, const uint8_t *body, size_t len)
{
    char boundary[MULTIPART_MAX_BOUNDARY + 1];
    if (multipart_boundary(ct, boundary) != MULTIPART_OK)
        return;
    size_t blen = strlen(boundary);
    if (blen == 0 || blen > MULTIPART_MAX_BOUNDARY)
        abort();
    static multipart_part parts[PREDICT_MAX_PARTS];
    size_t n = 0;
    multipart_status st = multipart_parse(body, len, boundary, parts, PREDICT_MAX_PARTS, &n);
    if (n > PREDICT_MAX_PARTS)
        abort();
    if (st != MULTIPART_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        const multipart_part *p = &parts[i];
        if (p->data < body || p->len > len || p->data + p->len > body + len ||
            !memchr(p->name, '\0', sizeof p->name) || !memchr(p->filename, '\0', sizeof p->filename) ||
            !memchr(p->content_type, '\0', sizeof p->content_type))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    data++;
    size--;
    const uint8_t *nl = memchr(data, '\n', size);
    size_t ct_len = nl ? (size_t)(nl - data) : size;
    char *ct = malloc(ct_len + 1);
    memcpy(ct, data, ct_len);
    ct[ct_len] = '\0';
    size_t body_len = nl ? size - ct_len - 1 : 0;
    /* An exact-size copy, so that ASan catches a read one byte past the end. */
    uint8_t *body = malloc(body_len ? body_len : 1);
    if (body_len)
        memcpy(body, nl + 1, body_len);

    const char *content_type = (flags & 2) ? NULL : ct;
    (void)media_type_is(content_type, "multipart/form-data");
    check_parts(content_type, body, body_len);

    route_match m = routes_match("POST", "/predict");
    if (!m.route)
        abort();
    route_request req = {
        .method = "POST",
        .path = "/predict",
        .content_type = content_type,
        .body = body,
        .body_len = body_len,
        .explain = (flags & 1) != 0,
    };
    route_reply rep = {0};
    if (!routes_predict_accepts(content_type)) {
        /* http.c answers 415 before reading such a body; the handler must
         * agree if it is ever called anyway. */
        m.route->handler(&state, &req, &rep);
        if (rep.status != 415)
            abort();
    } else {
        m.route->handler(&state, &req, &rep);
    }
    if (!fuzz_client_status(rep.status)) {
        fprintf(stderr, "fuzz_multipart: status %u: %.*s\n", rep.status, (int)rep.body_len,
                rep.body ? rep.body : "");
        abort();
    }
    fuzz_check_json(rep.status, rep.body, rep.body_len);
    route_reply_free(&rep);
    free(body);
    free(ct);
    return 0;
}

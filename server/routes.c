/* routes.c -- the endpoints. Reading order: the route table at the bottom,
 * then route_predict(), which follows an upload from the buffered body,
 * through multipart splitting and the inference pipeline, to the JSON answer.
 *
 * JSON is written with strbuf rather than built as a cJSON tree: the answer
 * has a fixed shape, the hot path then allocates one buffer instead of a
 * node per number, and strbuf_json_string() replaces invalid UTF-8 so that
 * metadata or paths from outside can never produce invalid JSON.
 */
#include "routes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "image.h"
#include "inference.h"
#include "multipart.h"
#include "page.h"
#include "png_io.h"
#include "strbuf.h"

void route_reply_free(route_reply *rep)
{
    free(rep->body);
    rep->body = NULL;
    rep->body_len = 0;
}

/* Takes sb's contents as the reply body; out of memory becomes a 500 with a
 * static body (which cannot fail). */
static void reply_with(route_reply *rep, unsigned status, const char *content_type, strbuf *sb)
{
    route_reply_free(rep);
    size_t len = 0;
    char *body = strbuf_steal(sb, &len);
    if (!body) {
        static const char oom[] = "{\"error\":\"out of memory\",\"code\":\"out_of_memory\"}";
        body = malloc(sizeof oom);
        if (body)
            memcpy(body, oom, sizeof oom);
        len = body ? sizeof oom - 1 : 0;
        status = 500;
        content_type = CONTENT_TYPE_JSON;
        rep->error_code = "out_of_memory";
    }
    rep->status = status;
    rep->content_type = content_type;
    rep->body = body;
    rep->body_len = len;
}

void route_reply_error(route_reply *rep, unsigned status, const char *code, int part,
                       const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    strbuf sb;
    strbuf_init(&sb, 128 + strlen(msg));
    strbuf_puts(&sb, "{\"error\":");
    strbuf_json_string(&sb, msg);
    strbuf_puts(&sb, ",\"code\":");
    strbuf_json_string(&sb, code);
    if (part >= 0)
        strbuf_printf(&sb, ",\"part\":%d", part);
    strbuf_putc(&sb, '}');
    reply_with(rep, status, CONTENT_TYPE_JSON, &sb);
    if (rep->status == status)
        rep->error_code = code;
}

/* "key":milliseconds with four decimals, from nanoseconds (rounded). */
static void put_ms(strbuf *sb, const char *key, uint64_t ns)
{
    strbuf_putc(sb, '"');
    strbuf_puts(sb, key);
    strbuf_puts(sb, "\":");
    strbuf_fixed(sb, (ns + 50) / 100, 4);
}

/* --- POST /predict ------------------------------------------------------ */

/* Media types /predict takes as a raw body. No Content-Type at all is taken
 * as raw bytes too (RFC 9110 lets a server assume application/octet-stream);
 * the PNG signature check then decides. */
static bool raw_image_type(const char *ct)
{
    return !ct || media_type_is(ct, "image/png") || media_type_is(ct, "application/octet-stream");
}

/* What curl sends with --data-binary unless told otherwise. Its bodies are
 * taken as raw bytes when they start with the PNG signature (a form body
 * never does: byte 0x89 would be percent-encoded), so the README's command
 * without its -H still works; anything else is a 415 that says why. */
#define CURL_DEFAULT_TYPE "application/x-www-form-urlencoded"

void routes_reply_unsupported_type(const char *content_type, route_reply *rep)
{
    if (content_type && strncasecmp(content_type, "image/", 6) == 0)   /* a JPEG, say */
        route_reply_error(rep, 415, "unsupported_media_type", -1,
                          "only PNG images are read; got %.100s: convert the picture to PNG "
                          "first and send it as image/png",
                          content_type);
    else
        route_reply_error(rep, 415, "unsupported_media_type", -1,
                          "send the PNG as image/png (raw body) or multipart/form-data; got %.100s",
                          content_type);
}

/* Puts one result's fields (without braces) into sb. */
static void put_result_fields(strbuf *sb, const infer_result *r, bool explain)
{
    strbuf_puts(sb, "\"digit\":");
    strbuf_uint(sb, r->digit >= 0 ? (uint64_t)r->digit : 0);
    strbuf_puts(sb, ",\"confidence\":");
    strbuf_json_float(sb, r->confidence);
    strbuf_puts(sb, ",\"probabilities\":[");
    for (int i = 0; i < 10; i++) {
        if (i)
            strbuf_putc(sb, ',');
        strbuf_json_float(sb, r->probabilities[i]);
    }
    strbuf_putc(sb, ']');
    if (!explain)
        return;

    /* ?explain=1: what the network actually saw, as a PNG a browser can show,
     * and what preprocessing decided on the way. */
    strbuf_puts(sb, ",\"explain\":{\"input_png\":\"");
    image img = {MNIST_SIDE, MNIST_SIDE, 1, (uint8_t *)r->input};
    uint8_t *png = NULL;
    size_t png_len = 0;
    if (png_encode_memory(&img, &png, &png_len) == PNG_IO_OK)
        strbuf_base64(sb, png, png_len);
    free(png);
    strbuf_printf(sb,
                  "\",\"source\":{\"width\":%d,\"height\":%d},"
                  "\"preprocess\":{\"inverted\":%s,\"box\":{\"x\":%d,\"y\":%d,\"width\":%d,"
                  "\"height\":%d},\"background\":",
                  r->source_width, r->source_height, r->info.inverted ? "true" : "false",
                  r->info.box_x, r->info.box_y, r->info.box_w, r->info.box_h);
    strbuf_json_float(sb, r->info.background);
    strbuf_puts(sb, ",\"threshold\":");
    strbuf_json_float(sb, r->info.threshold);
    strbuf_puts(sb, ",\"skew\":");
    strbuf_json_float(sb, r->info.skew);
    strbuf_printf(sb, ",\"shadow\":%s,\"faint\":%s,\"ring\":%s,\"field\":%s}}",
                  r->info.shadow ? "true" : "false", r->info.faint ? "true" : "false",
                  r->info.ring ? "true" : "false", r->info.field ? "true" : "false");
}

static void put_stage_timings(strbuf *sb, const infer_result *r, uint64_t total_ns)
{
    strbuf_puts(sb, "\"timings\":{");
    put_ms(sb, "decode_ms", r->decode_ns);
    strbuf_putc(sb, ',');
    put_ms(sb, "preprocess_ms", r->preprocess_ns);
    strbuf_putc(sb, ',');
    put_ms(sb, "forward_ms", r->forward_ns);
    strbuf_putc(sb, ',');
    put_ms(sb, "total_ms", total_ns);
    strbuf_putc(sb, '}');
}

static void fail_inference(route_reply *rep, infer_status s, const infer_result *r,
                           const uint8_t *upload, size_t len, int part)
{
    char advice[160];
    switch (s) {
    case INFER_NOT_PNG:
        if (png_describe_other_format(upload, len, advice, sizeof advice))
            route_reply_error(rep, 400, "not_png", part, "the image is %s", advice);
        else
            route_reply_error(rep, 400, "not_png", part, "the image is not a PNG (no PNG signature)");
        break;
    case INFER_CORRUPT_PNG:
        route_reply_error(rep, 400, "corrupt_png", part, "the PNG could not be decoded: %s",
                          r->detail);
        break;
    case INFER_TOO_MANY_PIXELS:
        route_reply_error(rep, 413, "too_many_pixels", part, "%s", r->detail);
        break;
    case INFER_NO_INK:
        route_reply_error(rep, 422, "no_ink", part,
                          "the image has no ink: there is no digit to classify");
        break;
    case INFER_FAINT_INK:
        route_reply_error(rep, 422, "faint_ink", part,
                          "the only ink is faint (under 40 grey levels above the paper), too "
                          "faint to read by default: send it again with ?faint=1 to read it");
        break;
    case INFER_NO_MEMORY:
        route_reply_error(rep, 500, "out_of_memory", part, "out of memory decoding the image");
        break;
    default:
        route_reply_error(rep, 500, "internal_error", part, "%s", r->detail);
        break;
    }
}

/* Finds the images of a request: the whole body, or every multipart part
 * named "image", in order. Returns the count, or -1 after filling rep. */
static int collect_images(const route_request *req, route_reply *rep,
                          const uint8_t **images, size_t *lens, bool *multipart)
{
    *multipart = !raw_image_type(req->content_type);
    if (media_type_is(req->content_type, CURL_DEFAULT_TYPE)) {
        char advice[160];
        if (png_describe_other_format(req->body, req->body_len, advice, sizeof advice)) {
            route_reply_error(rep, 415, "unsupported_media_type", -1, "the image is %s", advice);
            return -1;
        }
        if (!png_has_signature(req->body, req->body_len)) {
            route_reply_error(rep, 415, "unsupported_media_type", -1,
                              "got " CURL_DEFAULT_TYPE ", which is what curl --data-binary "
                              "sends unless told otherwise: add -H 'Content-Type: image/png'");
            return -1;
        }
        *multipart = false;
    }
    if (*multipart && !media_type_is(req->content_type, "multipart/form-data")) {
        routes_reply_unsupported_type(req->content_type, rep);
        return -1;
    }
    /* Raw or multipart, an empty body has nothing to read: say so rather
     * than "not a PNG" or "malformed". */
    if (req->body_len == 0) {
        route_reply_error(rep, 400, "empty_body", -1, "the request body is empty");
        return -1;
    }
    if (!*multipart) {
        images[0] = req->body;
        lens[0] = req->body_len;
        return 1;
    }
    char boundary[MULTIPART_MAX_BOUNDARY + 1];
    if (multipart_boundary(req->content_type, boundary) != MULTIPART_OK) {
        route_reply_error(rep, 400, "bad_multipart", -1,
                          "multipart/form-data needs a boundary parameter");
        return -1;
    }
    multipart_part *parts = malloc(PREDICT_MAX_PARTS * sizeof *parts);
    if (!parts) {
        route_reply_error(rep, 500, "out_of_memory", -1, "out of memory");
        return -1;
    }
    size_t n_parts = 0;
    multipart_status ms =
        multipart_parse(req->body, req->body_len, boundary, parts, PREDICT_MAX_PARTS, &n_parts);
    int n = 0;
    if (ms == MULTIPART_TOO_MANY_PARTS) {
        route_reply_error(rep, 413, "too_many_parts", -1,
                          "the multipart body has more than %d parts", PREDICT_MAX_PARTS);
        n = -1;
    } else if (ms != MULTIPART_OK) {
        route_reply_error(rep, 400, "bad_multipart", -1, "%s", multipart_status_text(ms));
        n = -1;
    } else {
        for (size_t i = 0; i < n_parts && n >= 0; i++) {
            if (strcmp(parts[i].name, "image") != 0)
                continue;   /* other form fields are allowed and ignored */
            if (n == PREDICT_MAX_IMAGES) {
                route_reply_error(rep, 413, "too_many_images", -1,
                                  "at most %d image parts per request", PREDICT_MAX_IMAGES);
                n = -1;
                break;
            }
            images[n] = parts[i].data;
            lens[n] = parts[i].len;
            n++;
        }
        if (n == 0) {
            route_reply_error(rep, 400, "no_image_part", -1,
                              "the multipart body has no part named \"image\"");
            n = -1;
        }
    }
    free(parts);
    return n;
}

bool routes_predict_accepts(const char *content_type)
{
    return raw_image_type(content_type) || media_type_is(content_type, "multipart/form-data") ||
           media_type_is(content_type, CURL_DEFAULT_TYPE);
}

static void route_predict(server_state *st, const route_request *req, route_reply *rep)
{
    const uint8_t *images[PREDICT_MAX_IMAGES];
    size_t lens[PREDICT_MAX_IMAGES];
    bool multipart;
    int n = collect_images(req, rep, images, lens, &multipart);
    if (n < 0)
        return;
    for (int i = 0; i < n; i++) {
        if (lens[i] == 0) {   /* only a part can be: collect_images refuses an empty body */
            route_reply_error(rep, 400, "empty_body", i, "the image part is empty");
            return;
        }
    }

    served_model *sm = model_store_acquire(&st->store);
    if (!sm) {
        route_reply_error(rep, 503, "no_model", -1, "no model is loaded");
        return;
    }
    /* One allocation for the results and the forward pass's scratch. */
    size_t scratch_floats = sm->scratch_floats ? sm->scratch_floats : 1;
    size_t results_bytes = (size_t)n * sizeof(infer_result);
    char *mem = malloc(results_bytes + scratch_floats * sizeof(float));
    if (!mem) {
        served_model_release(sm);
        route_reply_error(rep, 500, "out_of_memory", -1, "out of memory");
        return;
    }
    infer_result *results = (infer_result *)(void *)mem;
    /* results_bytes is a multiple of infer_result's alignment, which is at
     * least a float's, so the scratch that follows is aligned. */
    float *scratch = (float *)(void *)(mem + results_bytes);

    for (int i = 0; i < n; i++) {
        /* A stop's drain timeout bounds a batch too: its images can take
         * seconds, and the process would wait for them past the deadline.
         * Checked between images, so a request the drain waited for gets
         * at least its first one read, and the overrun is one image's. */
        if (i > 0 && drain_deadline_passed(st)) {
            route_reply_error(rep, 503, "draining", -1,
                              "the server is shutting down: it stopped after %d of %d images", i,
                              n);
            free(mem);
            served_model_release(sm);
            return;
        }
        infer_status s = infer_png(sm, images[i], lens[i], st->cfg.max_pixels, req->faint,
                                   scratch, &results[i]);
        if (results[i].decode_ns)
            metrics_stage(&st->metrics, METRIC_STAGE_DECODE, results[i].decode_ns);
        if (results[i].preprocess_ns)
            metrics_stage(&st->metrics, METRIC_STAGE_PREPROCESS, results[i].preprocess_ns);
        if (s != INFER_OK) {
            fail_inference(rep, s, &results[i], images[i], lens[i], multipart ? i : -1);
            free(mem);
            served_model_release(sm);
            return;
        }
        metrics_stage(&st->metrics, METRIC_STAGE_FORWARD, results[i].forward_ns);
    }

    strbuf sb;
    strbuf_init(&sb, req->explain ? 2048 + 1400 * (size_t)n : 320 + 300 * (size_t)n);
    if (n == 1) {
        strbuf_putc(&sb, '{');
        put_result_fields(&sb, &results[0], req->explain);
        strbuf_puts(&sb, ",\"model_id\":");
        strbuf_json_string(&sb, sm->id);
        strbuf_putc(&sb, ',');
        put_stage_timings(&sb, &results[0], mono_ns() - req->start_ns);
        strbuf_putc(&sb, '}');
    } else {
        strbuf_puts(&sb, "{\"model_id\":");
        strbuf_json_string(&sb, sm->id);
        strbuf_printf(&sb, ",\"count\":%d,\"results\":[", n);
        for (int i = 0; i < n; i++) {
            const infer_result *r = &results[i];
            strbuf_puts(&sb, i ? ",{" : "{");
            put_result_fields(&sb, r, req->explain);
            strbuf_putc(&sb, ',');
            put_stage_timings(&sb, r, r->decode_ns + r->preprocess_ns + r->forward_ns);
            strbuf_putc(&sb, '}');
        }
        strbuf_puts(&sb, "],\"timings\":{");
        put_ms(&sb, "total_ms", mono_ns() - req->start_ns);
        strbuf_puts(&sb, "}}");
    }

    for (int i = 0; i < n; i++) {
        metrics_prediction(&st->metrics, results[i].digit);
        rep->digits[i] = results[i].digit;
    }
    rep->n_digits = n;
    free(mem);
    served_model_release(sm);
    reply_with(rep, 200, CONTENT_TYPE_JSON, &sb);
}

/* --- GET /model --------------------------------------------------------- */

static void put_rfc3339(strbuf *sb, double unix_seconds)
{
    time_t t = (time_t)unix_seconds;
    struct tm tm;
    gmtime_r(&t, &tm);
    strbuf_printf(sb, "\"%04d-%02d-%02dT%02d:%02d:%02dZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void route_model(server_state *st, const route_request *req, route_reply *rep)
{
    (void)req;
    served_model *sm = model_store_acquire(&st->store);
    if (!sm) {
        route_reply_error(rep, 503, "no_model", -1, "no model is loaded");
        return;
    }
    const model *m = &sm->m;
    strbuf sb;
    strbuf_init(&sb, 1024);
    strbuf_puts(&sb, "{\"id\":");
    strbuf_json_string(&sb, sm->id);
    strbuf_puts(&sb, ",\"arch\":");
    strbuf_json_string(&sb, sm->arch);
    strbuf_puts(&sb, ",\"layers\":[");
    for (int i = 0; i <= m->n_layers; i++)
        strbuf_printf(&sb, i ? ",%d" : "%d", m->sizes[i]);
    strbuf_printf(&sb,
                  "],\"parameters\":%zu,\"activation\":\"relu\",\"output\":\"softmax\","
                  "\"input\":{\"width\":%d,\"height\":%d,\"scale\":",
                  m->n_params, m->input_width, m->input_height);
    strbuf_json_number(&sb, m->input_scale);
    strbuf_puts(&sb, ",\"offset\":");
    strbuf_json_number(&sb, m->input_offset);
    strbuf_puts(&sb, "},\"preprocess\":");
    strbuf_json_string(&sb, preprocess_options_name(&sm->preprocess));
    strbuf_puts(&sb, ",\"weights\":");
    strbuf_json_string(&sb, mlp_weights_format_name(sm->weights.format));
    strbuf_puts(&sb, ",\"kernel\":");
    strbuf_json_string(&sb, mlp_kernel_name(sm->weights.kernel));
    strbuf_puts(&sb, ",\"test_accuracy\":");
    if (sm->has_test_accuracy)
        strbuf_json_number(&sb, sm->test_accuracy);
    else
        strbuf_puts(&sb, "null");
    strbuf_puts(&sb, ",\"loaded_at\":");
    put_rfc3339(&sb, sm->loaded_at);
    strbuf_puts(&sb, ",\"metadata\":{");
    for (int i = 0; i < m->n_meta; i++) {
        if (i)
            strbuf_putc(&sb, ',');
        strbuf_json_string(&sb, m->meta[i].key);
        strbuf_putc(&sb, ':');
        strbuf_json_string(&sb, m->meta[i].value);
    }
    strbuf_puts(&sb, "}}");
    served_model_release(sm);
    reply_with(rep, 200, CONTENT_TYPE_JSON, &sb);
}

/* --- GET /metrics ------------------------------------------------------- */

static void route_metrics(server_state *st, const route_request *req, route_reply *rep)
{
    (void)req;
    served_model *sm = model_store_acquire(&st->store);
    metrics_model_info info = {0};
    if (sm) {
        info.id = sm->id;
        info.arch = sm->arch;
        info.has_test_accuracy = sm->has_test_accuracy;
        info.test_accuracy = sm->test_accuracy;
        info.loaded_at = sm->loaded_at;
    }
    strbuf sb;
    strbuf_init(&sb, 16384);
    metrics_render(&st->metrics, sm ? &info : NULL, &sb);
    served_model_release(sm);
    reply_with(rep, 200, CONTENT_TYPE_PROMETHEUS, &sb);
}

/* --- GET /healthz and /readyz ------------------------------------------- */

static void reply_static(route_reply *rep, unsigned status, const char *json)
{
    strbuf sb;
    strbuf_init(&sb, strlen(json) + 1);
    strbuf_puts(&sb, json);
    reply_with(rep, status, CONTENT_TYPE_JSON, &sb);
}

/* Liveness: the process answers. Deliberately checks nothing else, so that
 * an orchestrator never restarts a server that is merely draining. */
static void route_healthz(server_state *st, const route_request *req, route_reply *rep)
{
    (void)st;
    (void)req;
    reply_static(rep, 200, "{\"status\":\"ok\"}");
}

/* Readiness: a validated model is loaded and we are not shutting down. */
static void route_readyz(server_state *st, const route_request *req, route_reply *rep)
{
    (void)req;
    if (atomic_load(&st->draining)) {
        route_reply_error(rep, 503, "draining", -1, "the server is shutting down");
        return;
    }
    served_model *sm = model_store_acquire(&st->store);
    if (!sm) {
        route_reply_error(rep, 503, "no_model", -1, "no model is loaded");
        return;
    }
    strbuf sb;
    strbuf_init(&sb, 64 + strlen(sm->id));
    strbuf_puts(&sb, "{\"status\":\"ready\",\"model_id\":");
    strbuf_json_string(&sb, sm->id);
    strbuf_putc(&sb, '}');
    served_model_release(sm);
    reply_with(rep, 200, CONTENT_TYPE_JSON, &sb);
}

/* --- GET / and the page's script and style ------------------------------ */

/* The drawing page (web/, compiled in by scripts/embed.sh). Its HTML gets a
 * policy that lets it load its own script and style and call /predict;
 * everything else keeps the API's default-src 'none'. */
static void route_page(server_state *st, const route_request *req, route_reply *rep)
{
    (void)st;
    const page_asset *a = page_find(req->path);
    if (!a) {   /* a route in the table without its file in web/ */
        route_reply_error(rep, 500, "internal_error", -1, "%.200s is not in this build",
                          req->path);
        return;
    }
    strbuf sb;
    strbuf_init(&sb, a->len + 1);
    strbuf_append(&sb, a->data, a->len);
    const char *type = page_content_type(a);
    reply_with(rep, 200, type, &sb);
    if (rep->status == 200 && strncmp(type, "text/html", 9) == 0)
        rep->csp = PAGE_CSP;
}

/* --- the table ---------------------------------------------------------- */

static const route route_table[] = {
    {"/predict", "POST", route_predict, METRIC_HANDLER_PREDICT, true},
    {"/model", "GET", route_model, METRIC_HANDLER_MODEL, false},
    {"/metrics", "GET", route_metrics, METRIC_HANDLER_METRICS, false},
    {"/healthz", "GET", route_healthz, METRIC_HANDLER_HEALTHZ, false},
    {"/readyz", "GET", route_readyz, METRIC_HANDLER_READYZ, false},
    /* The drawing page; its script and style count as the page in metrics. */
    {"/", "GET", route_page, METRIC_HANDLER_INDEX, false},
    {"/app.js", "GET", route_page, METRIC_HANDLER_INDEX, false},
    {"/style.css", "GET", route_page, METRIC_HANDLER_INDEX, false},
};

route_match routes_match(const char *method, const char *path)
{
    route_match m = {NULL, 404, NULL, METRIC_HANDLER_OTHER};
    bool head = strcmp(method, "HEAD") == 0;
    for (size_t i = 0; i < sizeof route_table / sizeof route_table[0]; i++) {
        const route *r = &route_table[i];
        if (strcmp(path, r->path) != 0)
            continue;
        m.metric = r->metric;
        if (strcmp(method, r->method) == 0 || (head && strcmp(r->method, "GET") == 0)) {
            m.route = r;
            m.status = 200;
            m.allow = NULL;
            return m;
        }
        m.status = 405;
        m.allow = strcmp(r->method, "GET") == 0 ? "GET, HEAD" : r->method;
    }
    return m;
}

void routes_reply_unrouted(const route_match *m, const route_request *req, route_reply *rep)
{
    if (m->status == 405) {
        route_reply_error(rep, 405, "method_not_allowed", -1, "%.16s is not allowed on %.200s; use %s",
                          req->method, req->path, m->allow);
        rep->allow = m->allow;
    } else {
        route_reply_error(rep, 404, "not_found", -1, "no such endpoint: %.200s", req->path);
    }
}

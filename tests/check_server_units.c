/* check_server_units.c -- unit tests for the server's parts that need no
 * socket: the multipart parser, configuration parsing, the JSON/Prometheus/
 * base64 writers, the router, the metrics renderer and the health-check URL
 * parser. The HTTP-level behaviour is in check_server.c.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../server/config.h"
#include "../server/cors.h"
#include "../server/healthcheck.h"
#include "../server/metrics.h"
#include "../server/multipart.h"
#include "../server/request_id.h"
#include "../server/routes.h"
#include "../server/strbuf.h"

/* --- multipart ------------------------------------------------------------ */

START_TEST(test_boundary_parameter)
{
    char b[MULTIPART_MAX_BOUNDARY + 1];
    ck_assert_int_eq(multipart_boundary("multipart/form-data; boundary=abc123", b), MULTIPART_OK);
    ck_assert_str_eq(b, "abc123");
    ck_assert_int_eq(multipart_boundary("multipart/form-data;boundary=\"a b:c\"", b), MULTIPART_OK);
    ck_assert_str_eq(b, "a b:c");
    ck_assert_int_eq(multipart_boundary("multipart/form-data; charset=utf-8; BOUNDARY=x;", b),
                     MULTIPART_OK);
    ck_assert_str_eq(b, "x");
    const char *bad[] = {
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\"\"",
        "multipart/form-data; boundary=\"open",
        "multipart/form-data; boundary=\"ends in space \"",
        "multipart/form-data; boundary=a\001b",
        "multipart/form-data; =x",
        "multipart/form-data; boundary=0123456789012345678901234567890123456789012345678901234567890123456789X",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(multipart_boundary(bad[i], b) == MULTIPART_NO_BOUNDARY, "accepted %s", bad[i]);
}
END_TEST

START_TEST(test_media_type)
{
    ck_assert(media_type_is("image/png", "image/png"));
    ck_assert(media_type_is("  IMAGE/PNG ; x=y", "image/png"));
    ck_assert(!media_type_is("image/pngx", "image/png"));
    ck_assert(!media_type_is("image/jpeg", "image/png"));
    ck_assert(!media_type_is(NULL, "image/png"));
}
END_TEST

static multipart_status parse(const char *body, multipart_part *parts, size_t max, size_t *n)
{
    return multipart_parse((const uint8_t *)body, strlen(body), "XyZ", parts, max, n);
}

START_TEST(test_multipart_parts_in_order)
{
    const char *body =
        "preamble to ignore\r\n"
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
        "Content-Type: image/png\r\n"
        "\r\n"
        "AAA\r\n--XyZ-not-a-delimiter\r\n"   /* the boundary then more: a delimiter (MALFORMED below) */
        "\r\n"
        "--XyZ  \r\n"                        /* transport padding after the boundary */
        "content-disposition: FORM-DATA; name=note\r\n"
        "\r\n"
        "\r\n"
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"image\"\r\n"
        "\r\n"
        "\r\n--XyZ--\r\n"
        "epilogue";
    multipart_part parts[4];
    size_t n;
    /* "--XyZ-not..." does contain the delimiter, so the first part ends there
     * and what follows is malformed: RFC 2046 forbids the boundary in data. */
    ck_assert_int_eq(parse(body, parts, 4, &n), MULTIPART_MALFORMED);

    const char *good =
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"image\"; filename=\"a \\\"q\\\".png\"\r\n"
        "Content-Type: image/png\r\n"
        "\r\n"
        "A\r\nA\r\n"
        "--XyZ  \r\n"
        "content-disposition: FORM-DATA; name=note\r\n"
        "\r\n"
        "hello\r\n"
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"image\"\r\n"
        "\r\n"
        "\r\n--XyZ--\r\n"
        "epilogue";
    ck_assert_int_eq(parse(good, parts, 4, &n), MULTIPART_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(parts[0].name, "image");
    ck_assert_str_eq(parts[0].filename, "a \"q\".png");
    ck_assert_str_eq(parts[0].content_type, "image/png");
    ck_assert_uint_eq(parts[0].len, 4);
    ck_assert(memcmp(parts[0].data, "A\r\nA", 4) == 0);
    ck_assert_str_eq(parts[1].name, "note");
    ck_assert_uint_eq(parts[1].len, 5);
    ck_assert_str_eq(parts[2].name, "image");
    ck_assert_uint_eq(parts[2].len, 0);

    /* A file name ending in a backslash, as browsers and curl 7.81+ send it
     * (no escapes), is not an unterminated string. */
    const char *trailing =
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"image\"; filename=\"digit\\\"\r\n"
        "\r\n"
        "PNG\r\n"
        "--XyZ--\r\n";
    ck_assert_int_eq(parse(trailing, parts, 4, &n), MULTIPART_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(parts[0].filename, "digit\\");
    ck_assert_str_eq(parts[0].name, "image");
}
END_TEST

START_TEST(test_multipart_rejects_malformed)
{
    const char *bad[] = {
        "",
        "--XyZ--\r\n",                                   /* no parts at all */
        "no delimiter anywhere",
        "--XyZ\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\ndata",   /* truncated */
        "--XyZ\r\nContent-Disposition: form-data; name=\"image\"\r\n",           /* no blank line */
        "--XyZ\r\nContent-Disposition: attachment; name=\"image\"\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: form-data; name=\"unterminated\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\nNo colon here\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\nBad Name: x\r\n\r\nx\r\n--XyZ--",
        "--XyZjunk\r\n\r\nx\r\n--XyZ--",
        "--XyZ\nContent-Disposition: form-data; name=a\n\nx\n--XyZ--",            /* bare LF */
    };
    multipart_part parts[4];
    size_t n;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(parse(bad[i], parts, 4, &n) != MULTIPART_OK, "accepted #%zu", i);

    /* a field name longer than we keep is refused, not truncated */
    char body[512];
    char name[MULTIPART_MAX_NAME + 2];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    snprintf(body, sizeof body,
             "--XyZ\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\nx\r\n--XyZ--", name);
    ck_assert_int_eq(parse(body, parts, 4, &n), MULTIPART_MALFORMED);
    /* an oversized header block */
    size_t big = MULTIPART_MAX_HEADER_BYTES + 100;
    char *huge = malloc(big + 64);
    int k = snprintf(huge, big + 64, "--XyZ\r\nX-Pad: ");
    memset(huge + k, 'p', big);
    strcpy(huge + k + big, "\r\n\r\nx\r\n--XyZ--");
    ck_assert_int_eq(parse(huge, parts, 4, &n), MULTIPART_MALFORMED);
    free(huge);
    /* embedded NUL bytes in the headers */
    const char nul[] = "--XyZ\r\nContent-Disposition: form-data; name=\"a\0b\"\r\n\r\nx\r\n--XyZ--";
    ck_assert_int_eq(multipart_parse((const uint8_t *)nul, sizeof nul - 1, "XyZ", parts, 4, &n),
                     MULTIPART_MALFORMED);
}
END_TEST

START_TEST(test_multipart_part_limit)
{
    const char *body = "--XyZ\r\n\r\na\r\n--XyZ\r\n\r\nb\r\n--XyZ\r\n\r\nc\r\n--XyZ--";
    multipart_part parts[3];
    size_t n;
    ck_assert_int_eq(parse(body, parts, 3, &n), MULTIPART_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(parts[0].name, "");   /* no Content-Disposition: no name */
    ck_assert_int_eq(parse(body, parts, 2, &n), MULTIPART_TOO_MANY_PARTS);
}
END_TEST

START_TEST(test_multipart_never_reads_past_the_end)
{
    /* Every prefix of a valid body, in an exactly-sized heap buffer, so
     * ASan flags any read past its end. */
    const char *good = "--XyZ\r\nContent-Disposition: form-data; name=\"image\"\r\n"
                       "Content-Type: image/png\r\n\r\n0123456789\r\n--XyZ--\r\n";
    size_t len = strlen(good);
    multipart_part parts[2];
    size_t n;
    for (size_t cut = 0; cut <= len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, good, cut);
        multipart_status s = multipart_parse(copy, cut, "XyZ", parts, 2, &n);
        ck_assert(s == MULTIPART_OK || s == MULTIPART_MALFORMED);
        if (s == MULTIPART_OK)
            ck_assert_uint_ge(cut, len - 2);   /* only the trailing CRLF may be missing */
        free(copy);
    }
}
END_TEST

/* --- configuration -------------------------------------------------------- */

START_TEST(test_parse_numbers)
{
    unsigned long long v;
    ck_assert_int_eq(config_parse_uint("8080", 0, 65535, &v), 0);
    ck_assert_uint_eq(v, 8080);
    const char *bad[] = {"", "-1", " 1", "1 ", "0x10", "65536", "1e3", "+5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(config_parse_uint(bad[i], 0, 65535, &v) != 0, "accepted '%s'", bad[i]);

    ck_assert_int_eq(config_parse_size("4M", 1ULL << 30, &v), 0);
    ck_assert_uint_eq(v, 4u << 20);
    ck_assert_int_eq(config_parse_size("512KiB", 1ULL << 30, &v), 0);
    ck_assert_uint_eq(v, 512u << 10);
    ck_assert_int_eq(config_parse_size("1g", 1ULL << 30, &v), 0);
    ck_assert_uint_eq(v, 1u << 30);
    ck_assert_int_eq(config_parse_size("123", 1ULL << 30, &v), 0);
    ck_assert_uint_eq(v, 123);
    /* The suffix in any case, as README says. */
    const char *kib2[] = {"2k", "2K", "2kb", "2KB", "2kB", "2Kb", "2kib", "2KiB", "2KIB"};
    for (size_t i = 0; i < sizeof kib2 / sizeof kib2[0]; i++) {
        ck_assert_msg(config_parse_size(kib2[i], 1ULL << 30, &v) == 0, "refused '%s'", kib2[i]);
        ck_assert_uint_eq(v, 2048);
    }
    const char *bad_sizes[] = {"", "M", "4X", "4MB5", "2G", "99999999999999999999", "-4M",
                               "4Mi", "4MiBB", "4 M"};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++)
        ck_assert_msg(config_parse_size(bad_sizes[i], 1ULL << 30, &v) != 0, "accepted '%s'",
                      bad_sizes[i]);
}
END_TEST

START_TEST(test_config_defaults)
{
    server_config c;
    config_defaults(&c);
    ck_assert_str_eq(c.model_path, "models/mnist-mlp.bin");
    ck_assert_uint_eq(c.port, 8080);
    ck_assert_uint_eq(c.max_upload, 4u << 20);
    ck_assert_uint_eq(c.max_pixels, 4096u * 4096u);
    ck_assert_uint_eq(c.threads, 0);
    ck_assert_uint_ge(config_effective_threads(&c), 1);
    ck_assert_int_eq(c.mode, CONFIG_MODE_SERVE);
    ck_assert_int_eq(c.weights, MLP_WEIGHTS_AUTO);
    ck_assert_uint_eq(c.admin_port, CONFIG_ADMIN_PORT_OFF);   /* opt-in, as the README says */
}
END_TEST

START_TEST(test_config_flags_beat_environment)
{
    setenv("DIGITS_PORT", "9000", 1);
    setenv("DIGITS_LOG_FORMAT", "json", 1);
    setenv("DIGITS_MAX_UPLOAD", "2M", 1);
    setenv("DIGITS_THREADS", "", 1);   /* empty means unset */
    setenv("DIGITS_WEIGHTS", "f32", 1);
    server_config c;
    config_defaults(&c);
    char err[256];
    char *no_flags[] = {"digits-server", NULL};
    ck_assert_int_eq(config_from_args(&c, 1, no_flags, err, sizeof err), 0);
    ck_assert_int_eq(config_from_env(&c, err, sizeof err), 0);
    ck_assert_uint_eq(c.port, 9000);
    ck_assert_int_eq(c.log_format, LOG_FORMAT_JSON);
    ck_assert_uint_eq(c.max_upload, 2u << 20);
    ck_assert_int_eq(c.weights, MLP_WEIGHTS_F32);

    /* A flag wins over its variable, even one that would not parse. */
    setenv("DIGITS_TIMEOUT", "soon", 1);
    config_defaults(&c);
    char *argv[] = {"digits-server", "--port", "9100", "--log-format=text", "--bind", "::1",
                    "--model", "m.bin", "--max-pixels=100", "--timeout", "5",
                    "--weights=bf16", NULL};
    ck_assert_int_eq(config_from_args(&c, 12, argv, err, sizeof err), 0);
    ck_assert_int_eq(config_from_env(&c, err, sizeof err), 0);
    ck_assert_uint_eq(c.max_upload, 2u << 20);   /* no flag: the variable's */
    ck_assert_int_eq(c.weights, MLP_WEIGHTS_BF16);
    ck_assert_uint_eq(c.port, 9100);
    ck_assert_int_eq(c.log_format, LOG_FORMAT_TEXT);
    ck_assert_str_eq(c.bind_addr, "::1");
    ck_assert_str_eq(c.model_path, "m.bin");
    ck_assert_uint_eq(c.max_pixels, 100);
    ck_assert_uint_eq(c.timeout_s, 5);
    unsetenv("DIGITS_PORT");
    unsetenv("DIGITS_LOG_FORMAT");
    unsetenv("DIGITS_MAX_UPLOAD");
    unsetenv("DIGITS_THREADS");
    unsetenv("DIGITS_WEIGHTS");
    unsetenv("DIGITS_TIMEOUT");
}
END_TEST

/* Every variable README's flag table names sets its own field: the
 * Dockerfile, compose and Kubernetes files set them by these names. */
START_TEST(test_config_every_variable)
{
    static const char *const vars[][2] = {
        {"DIGITS_MODEL", "/models/x.bin"}, {"DIGITS_PORT", "9001"},
        {"DIGITS_BIND", "::1"},            {"DIGITS_THREADS", "3"},
        {"DIGITS_MAX_UPLOAD", "3M"},       {"DIGITS_MAX_PIXELS", "12345"},
        {"DIGITS_TIMEOUT", "7"},           {"DIGITS_DRAIN_TIMEOUT", "9"},
        {"DIGITS_MAX_CONNECTIONS", "77"},  {"DIGITS_MAX_PER_IP", "5"},
        {"DIGITS_LOG_FORMAT", "json"},     {"DIGITS_WEIGHTS", "bf16"},
        {"DIGITS_CORS_ORIGIN", "https://app.example.com"},
    };
    const size_t n = sizeof vars / sizeof vars[0];
    for (size_t i = 0; i < n; i++)
        setenv(vars[i][0], vars[i][1], 1);
    server_config c;
    config_defaults(&c);
    char err[256];
    char *no_flags[] = {"digits-server", NULL};
    ck_assert_int_eq(config_from_args(&c, 1, no_flags, err, sizeof err), 0);
    ck_assert_msg(config_from_env(&c, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(c.model_path, "/models/x.bin");
    ck_assert_uint_eq(c.port, 9001);
    ck_assert_str_eq(c.bind_addr, "::1");
    ck_assert_uint_eq(c.threads, 3);
    ck_assert_uint_eq(c.max_upload, 3u << 20);
    ck_assert_uint_eq(c.max_pixels, 12345);
    ck_assert_uint_eq(c.timeout_s, 7);
    ck_assert_uint_eq(c.drain_timeout_s, 9);
    ck_assert_uint_eq(c.max_connections, 77);
    ck_assert_uint_eq(c.max_per_ip, 5);
    ck_assert_int_eq(c.log_format, LOG_FORMAT_JSON);
    ck_assert_int_eq(c.weights, MLP_WEIGHTS_BF16);
    ck_assert_str_eq(c.cors_origins, "https://app.example.com");
    for (size_t i = 0; i < n; i++)
        unsetenv(vars[i][0]);
}
END_TEST

START_TEST(test_config_errors_name_the_source)
{
    server_config c;
    char err[256];
    config_defaults(&c);
    setenv("DIGITS_PORT", "eighty", 1);
    ck_assert_int_eq(config_from_env(&c, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "DIGITS_PORT"));
    unsetenv("DIGITS_PORT");

    struct {
        int argc;
        char *argv[4];
        const char *mention;
    } cases[] = {
        {2, {"x", "--port"}, "--port"},
        {3, {"x", "--port", "70000"}, "--port"},
        {3, {"x", "--bind", "localhost"}, "--bind"},
        {3, {"x", "--log-format", "xml"}, "--log-format"},
        {3, {"x", "--weights", "fp16"}, "--weights"},
        {2, {"x", "--frobnicate"}, "--frobnicate"},
        {3, {"x", "--max-upload", "0"}, "--max-upload"},
        {3, {"x", "--timeout", "0"}, "--timeout"},
        {3, {"x", "--model", ""}, "--model"},
        {3, {"x", "--cors-origin", "example.com"}, "--cors-origin"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        config_defaults(&c);
        ck_assert_int_eq(config_from_args(&c, cases[i].argc, cases[i].argv, err, sizeof err), -1);
        ck_assert_msg(strstr(err, cases[i].mention) != NULL, "'%s' lacks %s", err,
                      cases[i].mention);
    }
}
END_TEST

START_TEST(test_config_modes)
{
    server_config c;
    char err[256];
    char *help[] = {"x", "--help"};
    config_defaults(&c);
    ck_assert_int_eq(config_from_args(&c, 2, help, err, sizeof err), 0);
    ck_assert_int_eq(c.mode, CONFIG_MODE_HELP);
    char *version[] = {"x", "--version"};
    config_defaults(&c);
    ck_assert_int_eq(config_from_args(&c, 2, version, err, sizeof err), 0);
    ck_assert_int_eq(c.mode, CONFIG_MODE_VERSION);
    char *hc[] = {"x", "--healthcheck", "--port", "81"};
    config_defaults(&c);
    ck_assert_int_eq(config_from_args(&c, 4, hc, err, sizeof err), 0);
    ck_assert_int_eq(c.mode, CONFIG_MODE_HEALTHCHECK);
    ck_assert_ptr_null(c.healthcheck_url);
    ck_assert_uint_eq(c.port, 81);
}
END_TEST

/* What --healthcheck takes as its URL, and which URLs are a usage error
 * (exit 2) naming the fault rather than "unknown option" or a failed
 * check (exit 1) later. */
START_TEST(test_config_healthcheck_url)
{
    static struct {   /* not const: config_from_args takes char ** */
        int argc;
        char *argv[4];
        int rc;
        const char *url;   /* NULL: the default URL; on error, part of err */
    } cases[] = {
        {3, {"x", "--healthcheck", "http://127.0.0.1:9/readyz"}, 0, "http://127.0.0.1:9/readyz"},
        {2, {"x", "--healthcheck=http://127.0.0.1:9/readyz"}, 0, "http://127.0.0.1:9/readyz"},
        /* a scheme has no case */
        {3, {"x", "--healthcheck", "HTTP://127.0.0.1:9/healthz"}, 0, "HTTP://127.0.0.1:9/healthz"},
        /* "=" and nothing is the default URL, as an empty variable is unset */
        {2, {"x", "--healthcheck="}, 0, NULL},
        /* an option after it stays an option, even with a scheme in it */
        {3, {"x", "--healthcheck", "--cors-origin=https://a.example"}, 0, NULL},
        {3, {"x", "--healthcheck", "https://127.0.0.1:9/healthz"}, -1, "only http://"},
        {2, {"x", "--healthcheck=https://127.0.0.1:9/healthz"}, -1, "only http://"},
        {2, {"x", "--healthcheck=http://127.0.0.1:0/healthz"}, -1, "bad port"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        server_config c;
        char err[256] = "";
        config_defaults(&c);
        int rc = config_from_args(&c, cases[i].argc, cases[i].argv, err, sizeof err);
        ck_assert_msg(rc == cases[i].rc, "%s: rc %d (%s)", cases[i].argv[1], rc, err);
        if (rc != 0) {
            ck_assert_msg(strstr(err, cases[i].url) != NULL, "%s: '%s'", cases[i].argv[1], err);
            continue;
        }
        ck_assert_int_eq(c.mode, CONFIG_MODE_HEALTHCHECK);
        if (cases[i].url)
            ck_assert_str_eq(c.healthcheck_url, cases[i].url);
        else
            ck_assert_ptr_null(c.healthcheck_url);
    }
    server_config c;
    char err[256];
    char *then_cors[] = {"x", "--healthcheck", "--cors-origin=https://a.example"};
    config_defaults(&c);
    ck_assert_int_eq(config_from_args(&c, 3, then_cors, err, sizeof err), 0);
    ck_assert_str_eq(c.cors_origins, "https://a.example");
    /* --help given last is help, whatever URL came before it. */
    char *then_help[] = {"x", "--healthcheck=ftp://x/", "--help"};
    config_defaults(&c);
    ck_assert_int_eq(config_from_args(&c, 3, then_help, err, sizeof err), 0);
    ck_assert_int_eq(c.mode, CONFIG_MODE_HELP);
}
END_TEST

/* --- writers -------------------------------------------------------------- */

START_TEST(test_json_string_escaping)
{
    strbuf sb;
    strbuf_init(&sb, 0);
    strbuf_json_string(&sb, "a\"b\\c\n\t\x01\x7f");
    ck_assert_str_eq(sb.data, "\"a\\\"b\\\\c\\n\\t\\u0001\\u007f\"");
    strbuf_free(&sb);

    /* valid UTF-8 passes through; invalid bytes become U+FFFD */
    strbuf_init(&sb, 0);
    strbuf_json_string(&sb, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    ck_assert_str_eq(sb.data, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    strbuf_free(&sb);
    const char *bad[] = {"\xff", "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                         "\xe2\x82"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        strbuf_init(&sb, 0);
        strbuf_json_string(&sb, bad[i]);
        ck_assert_msg(strstr(sb.data, "\\ufffd") != NULL, "#%zu: %s", i, sb.data);
        for (const unsigned char *p = (const unsigned char *)sb.data; *p; p++)
            ck_assert_uint_lt(*p, 0x80);
        strbuf_free(&sb);
    }
}
END_TEST

/* strbuf_json_float writes what printf("%.9g") writes, and it reads back as
 * the very same float: edge cases, then random bit patterns (every binade,
 * subnormals included) and random probabilities. */
static void assert_float_text(float f)
{
    char want[64];
    snprintf(want, sizeof want, "%.9g", (double)f);
    strbuf sb;
    strbuf_init(&sb, 0);
    strbuf_json_float(&sb, f);
    strbuf_putc(&sb, '\0');
    ck_assert_msg(strcmp(sb.data, want) == 0, "%a: wrote %s, printf %s", (double)f, sb.data, want);
    float back = strtof(sb.data, NULL);
    ck_assert_msg(memcmp(&back, &f, sizeof f) == 0, "%s does not read back as %a", sb.data,
                  (double)f);
    strbuf_free(&sb);
}

START_TEST(test_json_float_matches_printf)
{
    const float edge[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 0.1f, 1e-4f, 9.99999975e-5f, 1e-5f,
                          123456789.0f, 999999999.0f, 1e9f, 1e10f, FLT_MAX, -FLT_MAX,
                          FLT_MIN, 1.40129846e-45f, 0.999999940f, 0.99999994f, 1.00000012f,
                          3.4e-7f, 2.5f, 1e38f, 65536.0f, 0.000123456789f};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++)
        assert_float_text(edge[i]);
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 200000; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        uint32_t bits = (uint32_t)s;
        float f;
        memcpy(&f, &bits, sizeof f);
        if (i % 2)
            f = (float)((double)(s >> 11) / 9007199254740992.0);   /* a probability */
        if (isfinite(f))
            assert_float_text(f);
    }
    strbuf sb;
    strbuf_init(&sb, 0);
    strbuf_json_float(&sb, NAN);
    strbuf_putc(&sb, ' ');
    strbuf_json_float(&sb, -INFINITY);
    strbuf_putc(&sb, '\0');
    ck_assert_str_eq(sb.data, "null null");
    strbuf_free(&sb);
}
END_TEST

START_TEST(test_json_numbers)
{
    strbuf sb;
    strbuf_init(&sb, 0);
    strbuf_json_number(&sb, 0.25);
    strbuf_putc(&sb, ' ');
    strbuf_json_number(&sb, NAN);
    strbuf_putc(&sb, ' ');
    strbuf_json_number(&sb, INFINITY);
    ck_assert_str_eq(sb.data, "0.25 null null");
    strbuf_free(&sb);
}
END_TEST

/* strbuf_uint and strbuf_fixed print what printf's "%llu" and "%.Nf" of
 * the exact quotient print. */
START_TEST(test_integer_and_fixed_point)
{
    const uint64_t values[] = {0, 1, 9, 10, 99, 100, 12345, 1000000, 4294967296ull,
                               18446744073709551615ull};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        strbuf sb;
        strbuf_init(&sb, 0);
        strbuf_uint(&sb, values[i]);
        char want[64];
        snprintf(want, sizeof want, "%llu", (unsigned long long)values[i]);
        ck_assert_str_eq(sb.data, want);
        for (int d = 0; d <= 4; d++) {
            strbuf_free(&sb);
            strbuf_init(&sb, 0);
            strbuf_fixed(&sb, values[i] % 100000000ull, d);
            uint64_t scale = 1;
            for (int k = 0; k < d; k++)
                scale *= 10;
            uint64_t v = values[i] % 100000000ull;
            if (d == 0)
                snprintf(want, sizeof want, "%llu", (unsigned long long)v);
            else
                snprintf(want, sizeof want, "%llu.%0*llu", (unsigned long long)(v / scale), d,
                         (unsigned long long)(v % scale));
            ck_assert_str_eq(sb.data, want);
            /* and it is the number: "%.Nf" of the quotient agrees */
            char viaf[64];
            snprintf(viaf, sizeof viaf, "%.*f", d, (double)v / (double)scale);
            ck_assert_str_eq(sb.data, viaf);
        }
        strbuf_free(&sb);
    }
}
END_TEST

START_TEST(test_base64_vectors)
{
    /* RFC 4648 section 10 */
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        strbuf sb;
        strbuf_init(&sb, 0);
        strbuf_base64(&sb, (const uint8_t *)in[i], strlen(in[i]));
        ck_assert_str_eq(sb.data ? sb.data : "", out[i]);
        strbuf_free(&sb);
    }
}
END_TEST

START_TEST(test_prometheus_label_escaping)
{
    strbuf sb;
    strbuf_init(&sb, 0);
    strbuf_prom_label(&sb, "a\\b\"c\nd");
    ck_assert_str_eq(sb.data, "a\\\\b\\\"c\\nd");
    strbuf_free(&sb);
    /* UTF-8 kept; a byte that is not (a model id from a file) would make
     * Prometheus drop the whole scrape, so it becomes U+FFFD */
    strbuf_init(&sb, 0);
    strbuf_prom_label(&sb, "caf\xc3\xa9 mlp-\xff" "84 \xe2\x82");
    ck_assert_str_eq(sb.data, "caf\xc3\xa9 mlp-\xef\xbf\xbd" "84 \xef\xbf\xbd\xef\xbf\xbd");
    strbuf_free(&sb);
}
END_TEST

START_TEST(test_fixed_buffer_truncates_safely)
{
    char buf[16];
    strbuf sb;
    strbuf_init_fixed(&sb, buf, sizeof buf);
    strbuf_puts(&sb, "0123456789");
    ck_assert(!strbuf_failed(&sb));
    strbuf_printf(&sb, "%s", "abcdefghij");
    ck_assert(strbuf_failed(&sb));
    ck_assert_uint_eq(strlen(buf), sizeof buf - 1);
    ck_assert_str_eq(buf, "0123456789abcde");
    /* long printf output into a fixed buffer */
    strbuf_init_fixed(&sb, buf, sizeof buf);
    char longer[600];
    memset(longer, 'z', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    strbuf_printf(&sb, "%s", longer);
    ck_assert(strbuf_failed(&sb));
    ck_assert_uint_eq(strlen(buf), sizeof buf - 1);
    /* output over the 256-byte stack buffer that still fits a large fixed
     * buffer: its length is the text's, not the buffer's (it was, taking in
     * the bytes beyond the NUL) */
    char big[1024];
    memset(big, 'Q', sizeof big);
    strbuf_init_fixed(&sb, big, sizeof big);
    longer[300] = '\0';
    strbuf_printf(&sb, "%s", longer);
    ck_assert(!strbuf_failed(&sb));
    ck_assert_uint_eq(sb.len, 300);
    ck_assert_uint_eq(strlen(big), 300);
}
END_TEST

START_TEST(test_growing_buffer)
{
    strbuf sb;
    strbuf_init(&sb, 0);
    for (int i = 0; i < 10000; i++)
        strbuf_printf(&sb, "%d,", i);
    char longer[1000];
    memset(longer, 'y', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    strbuf_printf(&sb, "%s", longer);
    ck_assert(!strbuf_failed(&sb));
    size_t len;
    char *s = strbuf_steal(&sb, &len);
    ck_assert_uint_eq(strlen(s), len);
    ck_assert(strncmp(s, "0,1,2,", 6) == 0);
    ck_assert_uint_eq(s[len - 1], 'y');
    free(s);
}
END_TEST

/* --- router, metrics, health-check URLs ------------------------------------ */

START_TEST(test_router)
{
    route_match m = routes_match("POST", "/predict");
    ck_assert_ptr_nonnull(m.route);
    ck_assert_int_eq(m.metric, METRIC_HANDLER_PREDICT);
    m = routes_match("HEAD", "/metrics");
    ck_assert_ptr_nonnull(m.route);
    m = routes_match("GET", "/predict");
    ck_assert_ptr_null(m.route);
    ck_assert_uint_eq(m.status, 405);
    ck_assert_str_eq(m.allow, "POST");
    ck_assert_int_eq(m.metric, METRIC_HANDLER_PREDICT);
    m = routes_match("PUT", "/healthz");
    ck_assert_uint_eq(m.status, 405);
    ck_assert_str_eq(m.allow, "GET, HEAD");
    m = routes_match("GET", "/healthz/");
    ck_assert_uint_eq(m.status, 404);
    ck_assert_int_eq(m.metric, METRIC_HANDLER_OTHER);
    ck_assert(routes_predict_accepts(NULL));
    ck_assert(routes_predict_accepts("image/png"));
    ck_assert(routes_predict_accepts("multipart/form-data; boundary=x"));
    ck_assert(!routes_predict_accepts("image/jpeg"));
}
END_TEST

START_TEST(test_metrics_render)
{
    metrics *m = calloc(1, sizeof *m);
    metrics_init(m);
    metrics_request_started(m);
    metrics_request_finished(m, METRIC_HANDLER_PREDICT, 200, 700000);      /* 0.7 ms */
    metrics_request_started(m);
    metrics_request_finished(m, METRIC_HANDLER_PREDICT, 422, 20000000000ULL); /* 20 s */
    metrics_request_started(m);
    metrics_request_finished(m, METRIC_HANDLER_OTHER, 9999, 1);           /* odd status */
    metrics_request_started(m);
    metrics_request_finished(m, METRIC_HANDLER_OTHER, 404, 1000000);      /* 1 ms exactly */
    metrics_stage(m, METRIC_STAGE_FORWARD, 5000);
    metrics_prediction(m, 7);
    metrics_prediction(m, 12);   /* ignored */
    metrics_reload(m, false);
    metrics_model_info info = {"id \"q\"", "784-10", true, 0.97, 1.5e9};
    strbuf sb;
    strbuf_init(&sb, 0);
    ck_assert_int_eq(metrics_render(m, &info, &sb), 0);
    const char *t = sb.data;
    ck_assert_ptr_nonnull(strstr(t, "digits_model_info{id=\"id \\\"q\\\"\",arch=\"784-10\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "digits_model_test_accuracy 0.970000\n"));
    ck_assert_ptr_nonnull(strstr(t, "digits_http_requests_total{handler=\"/predict\",code=\"200\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "digits_http_requests_total{handler=\"/predict\",code=\"422\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "digits_http_requests_total{handler=\"other\",code=\"500\"} 1\n"));
    /* buckets are cumulative and +Inf holds the 20 s request */
    ck_assert_ptr_nonnull(strstr(t, "digits_http_request_duration_seconds_bucket{handler=\"/predict\",le=\"0.0005\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(t, "digits_http_request_duration_seconds_bucket{handler=\"/predict\",le=\"0.001\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "digits_http_request_duration_seconds_bucket{handler=\"/predict\",le=\"10\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "digits_http_request_duration_seconds_bucket{handler=\"/predict\",le=\"+Inf\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(t, "digits_http_request_duration_seconds_count{handler=\"/predict\"} 2\n"));
    /* a bucket's bound is inclusive (le): 1 ms exactly is in le="0.001" */
    ck_assert_ptr_nonnull(strstr(t, "digits_http_request_duration_seconds_bucket{handler=\"other\",le=\"0.0005\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "digits_http_request_duration_seconds_bucket{handler=\"other\",le=\"0.001\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(t, "digits_predict_stage_duration_seconds_bucket{stage=\"forward\",le=\"1e-05\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "digits_predictions_total{digit=\"7\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "digits_model_reloads_total{result=\"failure\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "digits_http_requests_in_flight 0\n"));
    /* every sample line's family has HELP and TYPE lines before it */
    char *copy = strdup(t);
    char *save = NULL;
    char family[128] = "";
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "# TYPE ", 7) == 0) {
            sscanf(line + 7, "%127s", family);
            continue;
        }
        if (line[0] == '#')
            continue;
        ck_assert_msg(family[0] && strncmp(line, family, strlen(family)) == 0,
                      "sample outside its family: %s", line);
    }
    free(copy);
    strbuf_free(&sb);
    /* without a model there is no model info */
    strbuf_init(&sb, 0);
    ck_assert_int_eq(metrics_render(m, NULL, &sb), 0);
    ck_assert_ptr_null(strstr(sb.data, "digits_model_info"));
    strbuf_free(&sb);
    free(m);
}
END_TEST

/* Every bucket of a histogram counts exactly the observations at or under
 * the bound its le label says: observations spread from 4 us to 3 s, 1.25x
 * apart, land on both sides of every bound, so a label that names another
 * bucket's bound, or bounds out of order, show. */
static void check_histogram_labels(const char *text, const char *prefix, const double *obs_s,
                                   int n_obs)
{
    size_t plen = strlen(prefix);
    double last_le = -1;
    int buckets = 0;
    for (const char *p = text; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, prefix, plen) != 0)
            continue;
        const char *le = p + plen;
        char *end;
        double bound = strncmp(le, "+Inf\"", 5) == 0 ? INFINITY : strtod(le, &end);
        ck_assert_msg(bound > last_le, "le labels out of order at %.60s", p);
        last_le = bound;
        const char *value = strstr(le, "} ");
        ck_assert_ptr_nonnull(value);
        long want = 0;
        for (int i = 0; i < n_obs; i++)
            want += obs_s[i] <= bound * (1 + 1e-9);
        ck_assert_msg(strtol(value + 2, NULL, 10) == want, "%.80s: want %ld", p, want);
        buckets++;
    }
    ck_assert_int_ge(buckets, 10);
    ck_assert(isinf(last_le));
}

START_TEST(test_metrics_buckets_match_their_labels)
{
    metrics *m = calloc(1, sizeof *m);
    ck_assert_ptr_nonnull(m);
    metrics_init(m);
    double obs[64];
    int n = 0;
    for (double d = 4e-6; d < 3.0 && n < 64; d *= 1.25) {
        obs[n++] = d;
        uint64_t ns = (uint64_t)(d * 1e9 + 0.5);
        metrics_stage(m, METRIC_STAGE_FORWARD, ns);
        metrics_request_started(m);
        metrics_request_finished(m, METRIC_HANDLER_PREDICT, 200, ns);
    }
    strbuf sb;
    strbuf_init(&sb, 0);
    ck_assert_int_eq(metrics_render(m, NULL, &sb), 0);
    check_histogram_labels(sb.data,
                           "digits_predict_stage_duration_seconds_bucket{stage=\"forward\",le=\"",
                           obs, n);
    check_histogram_labels(sb.data,
                           "digits_http_request_duration_seconds_bucket{handler=\"/predict\",le=\"",
                           obs, n);
    strbuf_free(&sb);
    free(m);
}
END_TEST

START_TEST(test_healthcheck_urls)
{
    healthcheck_url u;
    char err[256];
    ck_assert_int_eq(healthcheck_parse_url("http://127.0.0.1:8080/healthz", &u, err, sizeof err), 0);
    ck_assert_str_eq(u.host, "127.0.0.1");
    ck_assert_str_eq(u.port, "8080");
    ck_assert_str_eq(u.path, "/healthz");
    ck_assert_int_eq(healthcheck_parse_url("http://[::1]:81", &u, err, sizeof err), 0);
    ck_assert_str_eq(u.host, "::1");
    ck_assert_str_eq(u.port, "81");
    ck_assert_str_eq(u.path, "/");
    ck_assert_int_eq(healthcheck_parse_url("http://localhost/readyz?x=1", &u, err, sizeof err), 0);
    ck_assert_str_eq(u.port, "80");
    const char *bad[] = {"https://127.0.0.1/", "127.0.0.1:80", "http://", "http://:80/",
                         "http://h:0/", "http://h:99999/", "http://h:80x", "http://[::1/",
                         "http://h/a b", "http://h/a\r\nX: y"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(healthcheck_parse_url(bad[i], &u, err, sizeof err) == -1, "accepted %s",
                      bad[i]);
}
END_TEST

START_TEST(test_request_id_kept_or_made)
{
    char id[REQUEST_ID_MAX + 1];
    const char *kept[] = {"abc-123", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "trace:42",
                          "a+b/c=@d_e.f", "x"};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        request_id_assign(kept[i], id);
        ck_assert_str_eq(id, kept[i]);
    }
    char longest[REQUEST_ID_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[REQUEST_ID_MAX] = '\0';
    ck_assert(request_id_acceptable(longest));
    longest[REQUEST_ID_MAX] = 'a';
    longest[REQUEST_ID_MAX + 1] = '\0';
    /* what a log parser or a header could trip over is replaced */
    const char *replaced[] = {NULL, "", "two words", "quote\"", "new\nline", "semi;colon",
                              "caf\xc3\xa9", "tab\t", "back\\slash", longest};
    for (size_t i = 0; i < sizeof replaced / sizeof replaced[0]; i++) {
        ck_assert(!request_id_acceptable(replaced[i]));
        request_id_assign(replaced[i], id);
        ck_assert_uint_eq(strlen(id), REQUEST_ID_GENERATED_LEN);
        ck_assert_uint_eq(strspn(id, "0123456789abcdef"), REQUEST_ID_GENERATED_LEN);
        ck_assert(request_id_acceptable(id));
    }
    /* Every byte, one at a time: exactly letters, digits and - _ . : + / = @
     * are kept (',' would split a header list, '<' '>' '%' '&' would need
     * escaping somewhere). */
    const char *allowed = "-_.:+/=@";
    for (int c = 1; c < 256; c++) {
        char one[4] = {'a', (char)c, 'z', '\0'};
        int want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   strchr(allowed, c) != NULL;
        ck_assert_msg(request_id_acceptable(one) == want, "byte %d: %s", c,
                      want ? "refused" : "kept");
    }
}
END_TEST

enum { IDS_PER_THREAD = 500 };

static void *make_ids(void *arg)
{
    char(*ids)[REQUEST_ID_MAX + 1] = arg;
    for (int i = 0; i < IDS_PER_THREAD; i++)
        request_id_assign(NULL, ids[i]);
    return NULL;
}

static int compare_ids(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Generated IDs differ, also between threads (each seeds its own
 * generator: two seeded alike would repeat each other's IDs). */
START_TEST(test_request_ids_unique_across_threads)
{
    enum { THREADS = 4 };
    static char ids[THREADS * IDS_PER_THREAD][REQUEST_ID_MAX + 1];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, make_ids, ids[i * IDS_PER_THREAD]), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    qsort(ids, THREADS * IDS_PER_THREAD, sizeof ids[0], compare_ids);
    for (int i = 1; i < THREADS * IDS_PER_THREAD; i++)
        ck_assert_msg(strcmp(ids[i - 1], ids[i]) != 0, "repeated ID %s", ids[i]);
}
END_TEST

START_TEST(test_cors_origin_lists)
{
    char err[512];
    const char *good[] = {"*", " * ", "https://app.example.com", "http://localhost:3000",
                          "https://a.example, http://b.example:8080", "http://[::1]:8080",
                          "HTTPS://App.Example.COM", "http://127.0.0.1", "http://a_b.example",
                          "https://a.example,\thttps://b.example ", "https://xn--caf-dma.example",
                          "http://[2001:db8::1]", "https://a.example:8443"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ck_assert_msg(cors_check_origins(good[i], err, sizeof err) == 0, "%s: %s", good[i], err);
    /* and what a browser would never send, so could never match */
    const char *bad[] = {NULL, "", " ", "example.com", "ftp://example.com", "https://",
                         "https://a.com/", "https://a.com/path", "https://a.com:0",
                         "https://a.com:65536", "https://a.com:", "https://a b.com",
                         "*, https://a.com", "https://a.com, *", "*,", "https://a.com,",
                         "https://a.com,,https://b.com", "http://[::1", "null",
                         "https://a.com\r\nX-Evil: 1", "https://user@a.com",
                         "https://a.example:443", "http://a.example:80", "http://a.example:00080",
                         "http://[zz]", "http://[:]", "http://[1.2.3.4]", "http://[0:0::1]",
                         "http://.", "http://-", "http://a..b", "http://-a.example",
                         "http://a-.example", "http://1.2.3", "http://01.2.3.4",
                         "https://caf\xc3\xa9.example"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(cors_check_origins(bad[i], err, sizeof err) == -1, "accepted '%s'",
                      bad[i] ? bad[i] : "(null)");
    char many[1024] = "";
    for (int i = 0; i <= CORS_MAX_ORIGINS; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%shttps://h%d.example",
                 i ? "," : "", i);
    ck_assert_int_eq(cors_check_origins(many, err, sizeof err), -1);
    *strrchr(many, ',') = '\0';   /* the most allowed */
    ck_assert_int_eq(cors_check_origins(many, err, sizeof err), 0);

    /* the answer: '*', the origin itself, or nothing */
    const char *list = "https://a.example, http://localhost:3000";
    ck_assert_str_eq(cors_allowed_origin(list, "https://a.example"), "https://a.example");
    ck_assert_str_eq(cors_allowed_origin(list, "HTTPS://A.EXAMPLE"), "HTTPS://A.EXAMPLE");
    ck_assert_str_eq(cors_allowed_origin(list, "http://localhost:3000"), "http://localhost:3000");
    ck_assert_ptr_null(cors_allowed_origin(list, "http://localhost:30"));
    ck_assert_ptr_null(cors_allowed_origin(list, "https://a.example.evil"));
    ck_assert_ptr_null(cors_allowed_origin(list, "http://a.example"));
    ck_assert_ptr_null(cors_allowed_origin(list, NULL));
    ck_assert_ptr_null(cors_allowed_origin(NULL, "https://a.example"));
    ck_assert_str_eq(cors_allowed_origin("*", "null"), "*");
    ck_assert_str_eq(cors_allowed_origin(" * ", "https://x.example"), "*");
    ck_assert_ptr_null(cors_allowed_origin("*", NULL));   /* not a browser: nothing due */
    ck_assert(cors_varies_by_origin(list));
    ck_assert(!cors_varies_by_origin("*"));
    ck_assert(!cors_varies_by_origin(NULL));

    ck_assert(cors_method_listed("GET, HEAD", "HEAD"));
    ck_assert(cors_method_listed("GET, HEAD", "GET"));
    ck_assert(cors_method_listed("POST", "POST"));
    ck_assert(!cors_method_listed("POST", "PUT"));
    ck_assert(!cors_method_listed("GET, HEAD", "GE"));
    ck_assert(!cors_method_listed("GET, HEAD", "get"));
    ck_assert(!cors_method_listed("POST", NULL));
}
END_TEST

static Suite *units_suite(void)
{
    Suite *s = suite_create("server-units");
    TCase *tc = tcase_create("multipart");
    tcase_add_test(tc, test_boundary_parameter);
    tcase_add_test(tc, test_media_type);
    tcase_add_test(tc, test_multipart_parts_in_order);
    tcase_add_test(tc, test_multipart_rejects_malformed);
    tcase_add_test(tc, test_multipart_part_limit);
    tcase_add_test(tc, test_multipart_never_reads_past_the_end);
    suite_add_tcase(s, tc);
    tc = tcase_create("config");
    tcase_add_test(tc, test_parse_numbers);
    tcase_add_test(tc, test_config_defaults);
    tcase_add_test(tc, test_config_healthcheck_url);
    tcase_add_test(tc, test_config_flags_beat_environment);
    tcase_add_test(tc, test_config_every_variable);
    tcase_add_test(tc, test_config_errors_name_the_source);
    tcase_add_test(tc, test_config_modes);
    tcase_add_test(tc, test_cors_origin_lists);
    suite_add_tcase(s, tc);
    tc = tcase_create("writers");
    tcase_add_test(tc, test_json_string_escaping);
    tcase_add_test(tc, test_json_numbers);
    tcase_add_test(tc, test_integer_and_fixed_point);
    tcase_add_test(tc, test_json_float_matches_printf);
    tcase_add_test(tc, test_base64_vectors);
    tcase_add_test(tc, test_prometheus_label_escaping);
    tcase_add_test(tc, test_fixed_buffer_truncates_safely);
    tcase_add_test(tc, test_growing_buffer);
    suite_add_tcase(s, tc);
    tc = tcase_create("misc");
    tcase_add_test(tc, test_router);
    tcase_add_test(tc, test_metrics_render);
    tcase_add_test(tc, test_metrics_buckets_match_their_labels);
    tcase_add_test(tc, test_healthcheck_urls);
    tcase_add_test(tc, test_request_id_kept_or_made);
    tcase_add_test(tc, test_request_ids_unique_across_threads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(units_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

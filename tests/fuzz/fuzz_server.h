/* fuzz_server.h -- what the two request-path fuzz targets share: finding the
 * model to serve and checking that an answer is a well-formed JSON reply.
 * Header-only (static functions) so that each target stays one file. */
#ifndef DIGITS_FUZZ_SERVER_H
#define DIGITS_FUZZ_SERVER_H

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* DIGITS_MODEL, or the shipped model relative to the working directory or
 * to the program (build-fuzz/fuzz_x -> ../models/). */
static inline const char *fuzz_model_path(const char *argv0)
{
    const char *env = getenv("DIGITS_MODEL");
    if (env && *env)
        return env;
    if (access("models/mnist-mlp.bin", R_OK) == 0)
        return "models/mnist-mlp.bin";
    static char path[4096];
    if (argv0) {
        const char *slash = strrchr(argv0, '/');
        int dir = slash ? (int)(slash - argv0) : 1;
        snprintf(path, sizeof path, "%.*s/../models/mnist-mlp.bin", dir, slash ? argv0 : ".");
        if (access(path, R_OK) == 0)
            return path;
    }
    fprintf(stderr, "fuzz: no model: set DIGITS_MODEL or run from the project root\n");
    exit(1);
}

/* The statuses /predict may answer a stranger with. A 5xx means the server
 * blamed itself for a client's bytes: that is a bug, so the target aborts. */
static inline int fuzz_client_status(unsigned status)
{
    switch (status) {
    case 200: case 400: case 404: case 405: case 413: case 415: case 422:
        return 1;
    }
    return 0;
}

/* An error body is {"error": string, "code": string[, "part": n]}; a 200 has
 * a digit or a results array. Aborts otherwise. */
static inline void fuzz_check_json(unsigned status, const char *body, size_t len)
{
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (!j || !cJSON_IsObject(j)) {
        fprintf(stderr, "fuzz: status %u with a body that is not a JSON object: %.*s\n", status,
                (int)(len > 300 ? 300 : len), body);
        abort();
    }
    if (status >= 400) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "code");
        if (!cJSON_IsString(e) || !cJSON_IsString(c)) {
            fprintf(stderr, "fuzz: error %u without error/code: %.*s\n", status, (int)len, body);
            abort();
        }
    } else if (!cJSON_GetObjectItemCaseSensitive(j, "digit") &&
               !cJSON_GetObjectItemCaseSensitive(j, "results") &&
               !cJSON_GetObjectItemCaseSensitive(j, "status") &&
               !cJSON_GetObjectItemCaseSensitive(j, "id")) {
        fprintf(stderr, "fuzz: 200 without a result: %.*s\n", (int)len, body);
        abort();
    }
    cJSON_Delete(j);
}

#endif

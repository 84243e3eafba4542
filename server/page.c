/* page.c -- finding the embedded page files by URL path. */
#include "page.h"

#include <string.h>

const page_asset *page_find(const char *path)
{
    if (!path || path[0] != '/')
        return NULL;
    const char *name = path[1] ? path + 1 : "index.html";
    for (size_t i = 0; i < page_assets_count; i++)
        if (strcmp(page_assets[i].name, name) == 0)
            return &page_assets[i];
    return NULL;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

const char *page_content_type(const page_asset *a)
{
    if (ends_with(a->name, ".html"))
        return "text/html; charset=utf-8";
    if (ends_with(a->name, ".js"))
        return "text/javascript; charset=utf-8";
    if (ends_with(a->name, ".css"))
        return "text/css; charset=utf-8";
    if (ends_with(a->name, ".svg"))
        return "image/svg+xml";
    if (ends_with(a->name, ".png"))
        return "image/png";
    return "application/octet-stream";
}

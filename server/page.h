/* page.h -- the drawing page served at GET / (and its script and style),
 * compiled into the server.
 *
 * The page's source is web/ (index.html, app.js, style.css). At build time
 * scripts/embed.sh turns every file there into a byte array in
 * $(BUILD)/gen/page_data.c, which defines page_assets[] below; nothing is
 * read from disk at run time and nothing is fetched from anywhere else.
 */
#ifndef DIGITS_PAGE_H
#define DIGITS_PAGE_H

#include <stddef.h>

typedef struct {
    const char *name;               /* file name under web/, e.g. "app.js" */
    const unsigned char *data;
    size_t len;
} page_asset;

/* Defined by the generated page_data.c, in file-name order. */
extern const page_asset page_assets[];
extern const size_t page_assets_count;

/* The policy for the page's HTML: its own script, style, pictures (the
 * network input arrives as a data: URL, an upload is previewed from a blob:)
 * and requests to this server; nothing else, no inline script or style. The
 * API answers keep http.c's "default-src 'none'". */
#define PAGE_CSP                                                                          \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " \
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

/* The asset served at a URL path: "/" is index.html, "/app.js" is app.js.
 * NULL for anything else. */
const page_asset *page_find(const char *path);

/* The Content-Type for an asset, from its file extension. */
const char *page_content_type(const page_asset *a);

#endif

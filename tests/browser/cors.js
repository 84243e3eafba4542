#!/usr/bin/env node
/* cors.js OPEN_URL APP_URL PNG -- --cors-origin in a real browser.
 *
 * A web app served from another origin calls the API the way its users'
 * browsers would: a fetch() POST of image/png with an X-Request-Id, which
 * the browser sends only after an OPTIONS preflight says it may. APP_URL
 * is a digits-server without the flag, whose page stands in for the app
 * (its own policy, which allows calls to itself only, is bypassed here);
 * OPEN_URL is a digits-server started with --cors-origin set to APP_URL's
 * origin. The same app page reached as localhost rather than 127.0.0.1 is
 * an origin not listed. Both are on loopback, as chromium lets a page call
 * loopback only from loopback (Local Network Access), and chromium itself
 * decides what the page may read.
 *
 * Prints "ok: ..." / "FAIL: ..." lines; exits 0 when nothing failed.
 */
"use strict";

const fs = require("node:fs");
const { launchChromium } = require("./launch.js");

const [openUrl, appUrl, pngPath] = process.argv.slice(2);
if (!openUrl || !appUrl || !pngPath) {
  console.error("usage: cors.js OPEN_URL APP_URL PNG");
  process.exit(2);
}
const png = fs.readFileSync(pngPath);

let failures = 0;
const ok = (cond, msg, detail) => {
  if (cond) console.log(`ok: ${msg}`);
  else {
    failures++;
    console.log(`FAIL: ${msg}${detail === undefined ? "" : `: ${JSON.stringify(detail)}`}`);
  }
};

// What the app's page does: POST the PNG, read the answer and its ID.
async function callFrom(page, api, body) {
  return page.evaluate(async ({ api, bytes }) => {
    try {
      const r = await fetch(api + "/predict", {
        method: "POST",
        headers: { "Content-Type": "image/png", "X-Request-Id": "from-the-app-1" },
        body: new Uint8Array(bytes),
      });
      const json = await r.json();
      return { status: r.status, digit: json.digit, id: r.headers.get("X-Request-Id") };
    } catch (e) {
      return { blocked: String(e) };
    }
  }, { api, bytes: Array.from(body) });
}

async function main() {
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({ bypassCSP: true });
    const page = await context.newPage();

    await page.goto(appUrl + "/");
    let r = await callFrom(page, openUrl, png);
    ok(r.status === 200 && Number.isInteger(r.digit),
      "a listed origin's page reads /predict's answer after the preflight", r);
    ok(r.id === "from-the-app-1", "and the X-Request-Id it sent, echoed and exposed", r);

    const unlisted = new URL(appUrl);
    unlisted.hostname = "localhost";
    await page.goto(unlisted.origin + "/");
    r = await callFrom(page, openUrl, png);
    ok(r.blocked !== undefined, "an origin not listed: the browser blocks the call", r);

    await page.goto(openUrl + "/");
    r = await callFrom(page, appUrl, png);
    ok(r.blocked !== undefined, "a server without --cors-origin: the browser blocks the call", r);
    await context.close();
  } finally {
    await browser.close();
  }
  process.exit(failures ? 1 : 0);
}

main().catch((e) => {
  console.log(`FAIL: ${e.stack || e}`);
  process.exit(1);
});

/* launch.js -- the one way the browser tests start chromium: Debian's
 * (or $CHROMIUM), headless, with nothing of its own reaching the network
 * (no sync, updates or background fetches) and no sandbox (tests run as
 * root in CI). Playwright gives every launch a fresh, temporary
 * --user-data-dir.
 */
"use strict";

const { chromium } = require("playwright-core");

function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--disable-dev-shm-usage"],
    timeout: 60000,
  });
}

module.exports = { launchChromium };

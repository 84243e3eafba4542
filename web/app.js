/* digits drawing page: pointer strokes on a canvas, POST /predict?explain=1
 * (debounced) and the answer: the digit, ten bars and the 28x28 input.
 *
 * The drawing is kept as a list of actions (strokes in coordinates relative
 * to the square, and at most a few uploaded pictures), so that Undo can
 * replay it, the screen canvas can follow its size and the pixel density,
 * and what is sent is always the same 280x280 PNG whatever the screen. */
"use strict";

(() => {
  const EXPORT_SIDE = 280;        // pixels of the PNG sent; pen widths are in these
  const DEBOUNCE_MS = 150;        // quiet time after the last change before asking
  const MAX_WAIT_MS = 450;        // while drawing, ask at least this often
  const INK = "#111111";
  // Light ink on a transparent picture (chalk-white strokes exported from a
  // canvas) is shown, and drawn on, the way the server reads it: on dark
  // paper, with a light pen.
  const DARK_PAPER = "#000000";
  const LIGHT_INK = "#f2f2f2";
  // Longest side of the PNG a photo in another format is sent as: the
  // server shrinks every digit to 20 px, and a full-size photo as a PNG
  // would be over its 4 MiB upload limit (800x800 RGBA is at most 2.5 MB).
  const CONVERT_SIDE = 800;
  const MAX_UPLOAD_BYTES = 4 * 1024 * 1024;   // the server's default --max-upload
  // How long an answer may take before the page says it is waiting (the
  // old answer is dimmed), and before it gives up on the request and tries
  // again: a 280x280 drawing is read in milliseconds, an upload may have to
  // cross a slow link first.
  const SLOW_MS = 800;
  const DRAWING_TIMEOUT_MS = 10000;
  const UPLOAD_TIMEOUT_MS = 30000;
  // A server that is down, busy or restarting is asked again after its
  // Retry-After (or 2 s), then twice as long each time up to this, for as
  // long as the page is open and visible.
  const MAX_RETRY_WAIT_S = 30;
  // Strokes whose whole path fits in this share of the square are a tap or
  // a smudge, not a digit: the network would answer a dot with a confident
  // "1", so the page asks for a digit instead.
  const MIN_DIGIT_EXTENT = 10 / EXPORT_SIDE;

  const $ = (id) => document.getElementById(id);
  const app = $("app");
  const pad = $("pad");
  const penInput = $("pen-width");
  const penValue = $("pen-value");
  const penDot = $("pen-dot");
  const undoButton = $("undo");
  const clearButton = $("clear");
  const uploadButton = $("upload");
  const fileInput = $("file");
  const digitOut = $("digit");
  const padAnswer = $("pad-answer");   // the digit again, on the square (phones)
  const confidenceOut = $("confidence");
  const statusOut = $("status");
  const nextBestOut = $("next-best");
  const bars = Array.from($("bars").children);
  const seen = $("seen");
  const seenInfo = $("seen-info");

  const HINT = "Draw a digit in the white square, or upload a picture of one.";
  const SEEN_HINT = seenInfo.textContent;

  /** @type {Array<{type:"stroke", width:number, points:number[][]} |
   *              {type:"image", blob:Blob, bitmap:ImageBitmap|null, name:string, dark:boolean}>} */
  let actions = [];
  let stroke = null;              // the stroke being drawn
  let strokePointer = null;       // the pointer drawing it

  let timer = null;
  let pendingSince = null;
  let inFlight = null;            // AbortController of the request on its way
  let seq = 0;                    // the newest request; older answers are dropped
  let uploadSeq = 0;              // the newest upload being read
  let retries = 0;                // automatic retries of the current drawing

  // --- drawing ---------------------------------------------------------------

  function penWidth() {
    return Number(penInput.value) / EXPORT_SIDE;
  }

  /** Whether the square is dark paper now: an upload of light ink on
   *  transparency, and whatever is drawn over it. */
  function darkPaper() {
    return actions.length > 0 && actions[0].type === "image" && actions[0].dark;
  }

  function traceStroke(ctx, s, side) {
    const pts = s.points;
    const ink = darkPaper() ? LIGHT_INK : INK;
    ctx.strokeStyle = ink;
    ctx.fillStyle = ink;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.lineWidth = s.width * side;
    if (pts.length === 1) {
      ctx.beginPath();
      ctx.arc(pts[0][0] * side, pts[0][1] * side, (s.width * side) / 2, 0, 2 * Math.PI);
      ctx.fill();
      return;
    }
    ctx.beginPath();
    ctx.moveTo(pts[0][0] * side, pts[0][1] * side);
    for (let i = 1; i < pts.length; i++) ctx.lineTo(pts[i][0] * side, pts[i][1] * side);
    ctx.stroke();
  }

  function drawPicture(ctx, bitmap, side) {
    if (!bitmap) return;
    const scale = Math.min(side / bitmap.width, side / bitmap.height);
    const w = bitmap.width * scale;
    const h = bitmap.height * scale;
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(bitmap, (side - w) / 2, (side - h) / 2, w, h);
  }

  /** Paints every action onto a canvas of any size, on white paper (dark
   *  under an upload of light ink on transparency). */
  function paint(canvas) {
    const ctx = canvas.getContext("2d");
    const side = canvas.width;
    ctx.fillStyle = darkPaper() ? DARK_PAPER : "#ffffff";
    ctx.fillRect(0, 0, side, side);
    for (const a of actions) {
      if (a.type === "stroke") traceStroke(ctx, a, side);
      else drawPicture(ctx, a.bitmap, side);
    }
  }

  /** Keeps the screen canvas at its displayed size times the pixel ratio. */
  function fitCanvas() {
    const rect = pad.getBoundingClientRect();
    const side = Math.max(1, Math.round(rect.width * (window.devicePixelRatio || 1)));
    if (pad.width !== side || pad.height !== side) {
      pad.width = side;
      pad.height = side;
    }
    paint(pad);
    placeBadge();
  }

  // Not clamped to the square: a stroke that leaves it is cut off at the
  // edge by the canvas, as on paper. Clamping drew a line along the border
  // that nobody drew (a 1 that ran off the bottom became an L).
  function pointAt(e) {
    const rect = pad.getBoundingClientRect();
    return [(e.clientX - rect.left) / rect.width, (e.clientY - rect.top) / rect.height];
  }

  function extendStroke(e) {
    const events = typeof e.getCoalescedEvents === "function" ? e.getCoalescedEvents() : [];
    const ctx = pad.getContext("2d");
    const side = pad.width;
    for (const ev of events.length ? events : [e]) {
      const p = pointAt(ev);
      const last = stroke.points[stroke.points.length - 1];
      if (Math.abs(p[0] - last[0]) + Math.abs(p[1] - last[1]) < 0.5 / EXPORT_SIDE) continue;
      stroke.points.push(p);
      traceStroke(ctx, { width: stroke.width, points: [last, p] }, side);
    }
  }

  function beginStroke(e) {
    e.preventDefault();
    pad.setPointerCapture(e.pointerId);
    strokePointer = e.pointerId;
    stroke = { type: "stroke", width: penWidth(), points: [pointAt(e)] };
    actions.push(stroke);
    traceStroke(pad.getContext("2d"), stroke, pad.width);
    changed();
  }

  // Only the main button draws: a mouse's right button, a pen's barrel
  // button (2) and its eraser end (5) do not.
  pad.addEventListener("pointerdown", (e) => {
    if (stroke || e.button !== 0) return;
    beginStroke(e);
  });

  pad.addEventListener("pointermove", (e) => {
    if (!stroke) {
      // A stroke begun just outside the square draws from where it comes
      // in, as a pen coming in from beyond a sheet's edge would. (A finger
      // stays with the element it first touched, so this is a mouse or a
      // pen.)
      if (e.buttons === 1 && e.isPrimary) beginStroke(e);
      return;
    }
    if (e.pointerId !== strokePointer) return;
    e.preventDefault();
    extendStroke(e);
    changed();
  });

  function endStroke(e) {
    if (!stroke || e.pointerId !== strokePointer) return;
    stroke = null;
    strokePointer = null;
    changed(true);
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);
  pad.addEventListener("lostpointercapture", endStroke);
  pad.addEventListener("contextmenu", (e) => e.preventDefault());

  // --- controls --------------------------------------------------------------

  function showPen() {
    const px = Number(penInput.value);
    penValue.textContent = `${px} px`;
    // The dot shows the pen as it will look on the square on this screen.
    const onScreen = (px / EXPORT_SIDE) * pad.getBoundingClientRect().width;
    const d = Math.max(2, Math.min(40, onScreen));
    penDot.style.width = `${d}px`;
    penDot.style.height = `${d}px`;
  }
  penInput.addEventListener("input", showPen);

  function updateButtons() {
    const empty = actions.length === 0;
    // A disabled button loses the keyboard focus to the page: hand it on.
    if (empty && (document.activeElement === undoButton || document.activeElement === clearButton)) {
      uploadButton.focus();
    }
    undoButton.disabled = empty;
    clearButton.disabled = empty;
  }

  function undo() {
    if (stroke || actions.length === 0) return;
    actions.pop();
    paint(pad);
    changed(true);
  }

  undoButton.addEventListener("click", undo);
  clearButton.addEventListener("click", () => {
    if (stroke) return;
    actions = [];
    uploadSeq++;                  // an upload still being read is dropped too
    paint(pad);
    changed(true);
  });
  document.addEventListener("keydown", (e) => {
    // By the letter on Latin layouts (Z sits where Y does on a German
    // keyboard); by the key's place only where it types no Latin letter
    // ("я" on a Russian one).
    const z = /^[a-z]$/i.test(e.key) ? e.key.toLowerCase() === "z" : e.code === "KeyZ";
    if ((e.ctrlKey || e.metaKey) && !e.shiftKey && !e.altKey && z) {
      e.preventDefault();
      undo();
    }
  });

  uploadButton.addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", async () => {
    const file = fileInput.files && fileInput.files[0];
    fileInput.value = "";         // choosing the same file again fires again
    if (!file) return;
    const mine = ++uploadSeq;     // a slower earlier upload must not land last
    let bitmap = await decodePicture(file);
    // The server reads PNGs; a PNG under its upload limit goes as it is. A
    // picture in a format the browser reads and the server does not (a
    // phone's JPEG, or HEIC where the browser reads it), or a PNG too large
    // to send, goes as a PNG of what the browser shows, shrunk; only the
    // shrunk picture is kept, not a photo's full-size pixels.
    let blob = file;
    if (bitmap && (file.size > MAX_UPLOAD_BYTES || !(await isPng(file)))) {
      try {
        blob = await pngOf(bitmap, CONVERT_SIDE);
        const small = await createImageBitmap(blob);
        bitmap.close();
        bitmap = small;
      } catch (_) {
        blob = file;
      }
    }
    if (mine !== uploadSeq) {
      if (bitmap) bitmap.close();
      return;
    }
    // An upload replaces the drawing. Strokes drawn afterwards go on top of
    // the picture; Undo takes them away, then the picture itself.
    actions = [{ type: "image", blob, bitmap, name: file.name, dark: Boolean(bitmap && lightOnTransparent(bitmap)) }];
    paint(pad);
    changed(true);
  });

  // --- the answer on the square (phones) -------------------------------------

  /** Whether a drawn stroke passes through the box x0..x1, y0..y1
   *  (fractions of the square), pen width included. Uploads are not looked
   *  into. */
  function inkIn(x0, y0, x1, y1) {
    for (const a of actions) {
      if (a.type !== "stroke") continue;
      const r = a.width / 2;
      const step = Math.max(r, 0.005);
      const p = a.points;
      for (let i = 0; i < p.length; i++) {
        const [ax, ay] = p[i];
        const [bx, by] = p[Math.min(i + 1, p.length - 1)];
        const n = Math.max(1, Math.ceil(Math.hypot(bx - ax, by - ay) / step));
        for (let k = 0; k <= n; k++) {
          const x = ax + ((bx - ax) * k) / n, y = ay + ((by - ay) * k) / n;
          if (x + r > x0 && x - r < x1 && y + r > y0 && y - r < y1) return true;
        }
      }
    }
    return false;
  }

  /** On phones the answer also sits on the square, in a top corner: the
   *  one the drawing leaves free, so that it does not hide the ink it
   *  reads. With ink in both, it stays right and lets the ink show through. */
  function placeBadge() {
    const side = pad.getBoundingClientRect().width;
    const b = padAnswer.getBoundingClientRect();
    if (!side || !b.width) return;      // not shown: a wide screen, or no answer
    const w = (b.width + 12) / side, h = (b.height + 12) / side;   // with its 6 px inset
    const right = inkIn(1 - w, 0, 1, h);
    const left = inkIn(0, 0, w, h);
    padAnswer.dataset.corner = right && !left ? "left" : "right";
    padAnswer.toggleAttribute("data-faded", right && left);
  }

  // --- asking the server -----------------------------------------------------

  /** Something changed: schedule a prediction (now-ish when done is true). */
  function changed(done) {
    retries = 0;
    updateButtons();
    placeBadge();
    if (actions.length === 0) {
      cancelPending();
      showHint(HINT);
      return;
    }
    if (done && isTap()) {
      cancelPending();
      showHint("That is a dot, not a digit yet: draw the whole digit, larger.");
      return;
    }
    const now = performance.now();
    if (pendingSince === null) pendingSince = now;
    clearTimeout(timer);
    const wait = done ? 0 : Math.max(0, Math.min(DEBOUNCE_MS, pendingSince + MAX_WAIT_MS - now));
    timer = setTimeout(predict, wait);
    app.dataset.pending = "1";
  }

  /** Whether the drawing is strokes only, all of them within a tiny box. */
  function isTap() {
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const a of actions) {
      if (a.type !== "stroke") return false;
      for (const [x, y] of a.points) {
        x0 = Math.min(x0, x); y0 = Math.min(y0, y);
        x1 = Math.max(x1, x); y1 = Math.max(y1, y);
      }
    }
    return Math.max(x1 - x0, y1 - y0) < MIN_DIGIT_EXTENT;
  }

  function cancelPending() {
    clearTimeout(timer);
    timer = null;
    pendingSince = null;
    seq++;
    if (inFlight) inFlight.abort();
    inFlight = null;
    app.dataset.pending = "0";
    app.dataset.slow = "0";
  }

  /** The picture as a viewer shows it (a photo's Exif orientation applied),
   *  or null when the browser cannot read it (the server then says why).
   *  Engines from before the "from-image" option refuse it with a
   *  TypeError; their default applies the orientation too. */
  async function decodePicture(file) {
    try {
      return await createImageBitmap(file, { imageOrientation: "from-image" });
    } catch (err) {
      if (!err || err.name !== "TypeError") return null;
    }
    try {
      return await createImageBitmap(file);
    } catch (_) {
      return null;
    }
  }

  /** Whether a picture is light ink on transparency: some of it see-through
   *  and its visible pixels light on average, as the server judges ink
   *  under transparency (it puts such ink on dark paper). */
  function lightOnTransparent(bitmap) {
    const side = 64;
    const canvas = document.createElement("canvas");
    canvas.width = side;
    canvas.height = side;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(bitmap, 0, 0, side, side);
    const d = ctx.getImageData(0, 0, side, side).data;
    let clear = 0, weight = 0, light = 0;
    for (let i = 0; i < d.length; i += 4) {
      const a = d[i + 3] / 255;
      if (a < 0.06) clear++;
      weight += a;
      light += a * (0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2]);
    }
    return clear > 0.05 * side * side && weight > 0 && light / weight > 128;
  }

  /** Whether a file starts with the PNG signature (its name and type may lie). */
  async function isPng(file) {
    const head = new Uint8Array(await file.slice(0, 8).arrayBuffer());
    const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
    return head.length === 8 && sig.every((b, i) => head[i] === b);
  }

  /** A PNG of the bitmap, shrunk to at most maxSide pixels a side. */
  function pngOf(bitmap, maxSide) {
    const scale = Math.min(1, maxSide / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    return new Promise((resolve, reject) =>
      canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("the picture could not be converted"))), "image/png"));
  }

  function exportPng() {
    const canvas = document.createElement("canvas");
    canvas.width = EXPORT_SIDE;
    canvas.height = EXPORT_SIDE;
    paint(canvas);
    return new Promise((resolve, reject) =>
      canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("the canvas could not be exported"))), "image/png"));
  }

  async function predict() {
    timer = null;
    pendingSince = null;
    if (actions.length === 0) return;
    const mine = ++seq;
    if (inFlight) inFlight.abort();
    const controller = new AbortController();
    inFlight = controller;
    app.dataset.pending = "1";
    // A lone upload goes as it is; anything drawn goes as the canvas.
    const only = actions.length === 1 && actions[0].type === "image" ? actions[0] : null;
    const timeoutMs = only ? UPLOAD_TIMEOUT_MS : DRAWING_TIMEOUT_MS;
    let timedOut = false;
    const giveUp = setTimeout(() => { timedOut = true; controller.abort(); }, timeoutMs);
    const slow = setTimeout(() => {
      if (mine !== seq) return;
      app.dataset.slow = "1";   // the answer shown is for an older drawing
      confidenceOut.textContent = "Waiting for the server\u2026";
    }, SLOW_MS);
    try {
      const body = only ? only.blob : await exportPng();
      // An uploaded photo whose only ink is faint (pencil in dim light) is
      // read as such: someone who uploads a picture means a digit is in it.
      // The server does not do this by default, since at that depth a ring
      // or a printed box is read as a digit too. Once known, a retry (a busy
      // server) asks for it at once.
      let { res, json, text } = await send(body, Boolean(only && only.faint), controller.signal);
      if (mine !== seq) return;
      if (only && !only.faint && res.status === 422 && json && json.code === "faint_ink") {
        only.faint = true;
        ({ res, json, text } = await send(body, true, controller.signal));
        if (mine !== seq) return;
      }
      if (res.ok && json && Array.isArray(json.probabilities)) {
        showResult(json, only);
      } else if (res.status === 422 && json && json.code === "no_ink") {
        showHint(only ? "There is no digit in this picture: it is blank (no ink)."
                      : "Nothing to read yet: the drawing has no ink. Draw a bit more.");
      } else {
        const [headline, sentence] = describeError(res, json, text);
        const passing = res.status >= 500 || res.status === 429;
        showError([headline, sentence + retryLater(passing ? retryAfter(res) : null)]);
      }
    } catch (err) {
      if (mine !== seq) return;
      if (timedOut) {
        showError(["No answer", `The server did not answer within ${timeoutMs / 1000} s.` + retryLater(2)]);
        return;
      }
      if (err && err.name === "AbortError") return;
      const why = `Could not reach the server: ${err && err.message ? err.message : err}.`;
      showError(["No connection", why + retryLater(2)]);
    } finally {
      clearTimeout(giveUp);
      clearTimeout(slow);
      if (mine === seq) {
        inFlight = null;
        app.dataset.slow = "0";
        if (timer === null) app.dataset.pending = "0";
      }
    }
  }

  /** POSTs the PNG to /predict (with ?faint=1 when faint) and reads the
   *  answer: { res, json (null when not JSON), text }. */
  async function send(body, faint, signal) {
    const res = await fetch(`/predict?explain=1${faint ? "&faint=1" : ""}`, {
      method: "POST",
      headers: { "Content-Type": "image/png" },
      body,
      signal,
      cache: "no-store",
    });
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch (_) { json = null; }
    return { res, json, text };
  }

  /** Seconds the server asks us to wait (Retry-After), 1 to 10. */
  function retryAfter(res) {
    const s = Number(res.headers.get("Retry-After"));
    return Number.isFinite(s) && s > 0 ? Math.min(10, s) : 1;
  }

  /** Schedules another try of the same drawing after a passing failure (a
   *  busy or restarting server, a dropped connection), waiting twice as
   *  long each time up to MAX_RETRY_WAIT_S; returns the words that say so,
   *  or "" when it will not. */
  function retryLater(seconds) {
    // A request already waiting (the drawing changed meanwhile) goes first.
    if (seconds === null || timer !== null) return "";
    const wait = Math.min(MAX_RETRY_WAIT_S, seconds * 2 ** Math.min(retries, 5));
    retries++;
    timer = setTimeout(retryWhenVisible, wait * 1000);
    app.dataset.pending = "1";
    return ` Trying again in ${wait} s.`;
  }

  // A hidden tab does not ask: it asks when it is looked at again.
  function retryWhenVisible() {
    if (document.hidden) {
      document.addEventListener("visibilitychange", retryWhenVisible, { once: true });
      return;
    }
    predict();
  }

  // Back on the network: ask at once rather than at the next retry.
  window.addEventListener("online", () => {
    if (app.dataset.state !== "error" || actions.length === 0 || stroke) return;
    clearTimeout(timer);
    timer = null;
    predict();
  });

  /** The server's own words, with a plain lead-in: [headline, sentence]. A
   *  body that is not our JSON (a proxy's HTML page) is not shown. */
  function describeError(res, json, text) {
    // A success that is no prediction: something else answered for the
    // server (a captive portal's sign-in page, a proxy).
    if (res.ok) {
      return [`Unexpected answer (${res.status})`,
        "What answered is not a digits server: a proxy or a sign-in page may be in the way."];
    }
    const ours = json && typeof json.error === "string";
    const what = ours ? json.error : "";
    const code = ours && typeof json.code === "string" ? json.code : "";
    const lead = code === "server_busy" ? "The server is busy with other uploads"
      : {
        400: "The server could not read the picture",
        413: "The picture is too large for the server",
        415: "The server does not take this kind of file",
        429: "The server is getting too many requests",
        503: "The server is not ready",
      }[res.status] || "The server answered with an error";
    const headline = `Error ${res.status}${code ? ` ${code}` : ""}`;
    return [headline, `${lead}: ${what || res.statusText || (text ? "no details" : "an empty answer")}.`];
  }

  // --- showing the answer ----------------------------------------------------

  // Whole percent under a bar (its width allows no more): rounded.
  function pct(p) {
    const v = p * 100;
    if (v >= 0.5) return `${Math.round(v)}%`;
    return v >= 0.05 ? "<1%" : "0%";
  }

  // In words, never 100%: a softmax does not reach certainty (a 1 is the
  // float rounding of 0.99999995 and up).
  function pctExact(p) {
    return p >= 0.9995 ? ">99.9%" : `${(p * 100).toFixed(1)}%`;
  }

  function setBars(probs, top) {
    bars.forEach((li, i) => {
      const p = probs ? Math.min(1, Math.max(0, Number(probs[i]) || 0)) : 0;
      li.querySelector(".fill").style.transform = `scaleY(${p})`;
      li.querySelector(".pct").textContent = pct(p);
      li.classList.toggle("top", i === top);
      li.dataset.p = String(p);
      li.setAttribute("aria-label", `${i}: ${pctExact(p)}`);
    });
  }

  function setSeen(src, info) {
    if (src) {
      seen.src = src;
      seen.classList.remove("empty");
    } else {
      seen.removeAttribute("src");
      seen.classList.add("empty");
    }
    seenInfo.textContent = info;
  }

  function showHint(text) {
    app.dataset.state = "hint";
    digitOut.textContent = "?";
    padAnswer.textContent = "";
    confidenceOut.textContent = "\u00a0";
    statusOut.textContent = text;
    nextBestOut.textContent = "\u00a0";
    setBars(null, -1);
    setSeen(null, SEEN_HINT);
  }

  function showError([headline, text]) {
    app.dataset.state = "error";
    digitOut.textContent = "!";
    padAnswer.textContent = "!";
    placeBadge();
    confidenceOut.textContent = headline;
    statusOut.textContent = text;
    nextBestOut.textContent = "\u00a0";
    setBars(null, -1);
    setSeen(null, SEEN_HINT);
  }

  function showResult(r, upload) {
    app.dataset.state = "result";
    const d = r.digit;
    digitOut.textContent = String(d);
    padAnswer.textContent = String(d);
    placeBadge();
    confidenceOut.textContent = `${pctExact(r.confidence)} sure it is ${d === 8 ? "an" : "a"} ${d}`;
    const ms = r.timings && typeof r.timings.total_ms === "number" ? ` Read in ${r.timings.total_ms.toFixed(1)} ms.` : "";
    const second = secondBest(r.probabilities, d);
    // The status is the one live region: it says only what a listener
    // needs, so that it changes (and is read out) when the answer does, not
    // with every timing, percentage or runner-up while a stroke goes on.
    const faint = Boolean(r.explain && r.explain.preprocess && r.explain.preprocess.faint);
    const text = upload ? `Read as ${d} from ${upload.name}${faint ? ", whose ink is faint" : ""}.`
                        : `Read as ${d} from your drawing.`;
    if (statusOut.textContent !== text) statusOut.textContent = text;
    nextBestOut.textContent = second >= 0 && r.probabilities[second] >= 0.05
      ? `Next best: ${second} (${pct(r.probabilities[second])})` : "\u00a0";
    setBars(r.probabilities, d);
    const ex = r.explain;
    if (ex && typeof ex.input_png === "string") {
      const pre = ex.preprocess || {};
      const box = pre.box || {};
      const src = ex.source || {};
      const parts = [
        `Digit found in a ${box.width}\u00d7${box.height} px box of the ${src.width}\u00d7${src.height} picture`,
        pre.inverted ? "dark ink on light paper, so the colours were inverted" : "light ink on dark, kept as it is",
      ];
      if (typeof pre.skew === "number" && Math.abs(pre.skew) >= 0.005) parts.push(`slant straightened by ${pre.skew.toFixed(2)}`);
      if (pre.faint) parts.push("the ink is very faint (under 40 grey levels), read as pencil");
      if (pre.ring) parts.push("a ring or box drawn round the digit was taken out");
      if (pre.field) parts.push("a shaded field behind the digit was taken for paper");
      setSeen(`data:image/png;base64,${ex.input_png}`, parts.join("; ") + "." + ms);
    } else {
      setSeen(null, SEEN_HINT);
    }
  }

  function secondBest(probs, best) {
    let k = -1;
    for (let i = 0; i < probs.length; i++) if (i !== best && (k < 0 || probs[i] > probs[k])) k = i;
    return k;
  }

  // --- start -----------------------------------------------------------------

  new ResizeObserver(() => { fitCanvas(); showPen(); }).observe(pad);
  // The badge shows only on narrow screens (style.css). A window narrowed
  // past that width need not resize the square, so place it as it appears.
  matchMedia("(max-width: 720px)").addEventListener("change", placeBadge);
  // The pixel ratio also changes without a resize (browser zoom, a move to
  // another screen): keep the canvas sharp then too.
  function watchPixelRatio() {
    const query = matchMedia(`(resolution: ${window.devicePixelRatio || 1}dppx)`);
    const refit = () => {
      if (query.removeEventListener) query.removeEventListener("change", refit);
      else query.removeListener(refit);
      fitCanvas();
      showPen();
      watchPixelRatio();
    };
    // addListener: Safari before 14 has no addEventListener here.
    if (query.addEventListener) query.addEventListener("change", refit);
    else query.addListener(refit);
  }
  watchPixelRatio();
  fitCanvas();
  showPen();
  updateButtons();
  showHint(HINT);
  app.dataset.ready = "1";
})();

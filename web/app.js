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
  const confidenceOut = $("confidence");
  const statusOut = $("status");
  const bars = Array.from($("bars").children);
  const seen = $("seen");
  const seenInfo = $("seen-info");

  const HINT = "Draw a digit in the white square, or upload a PNG.";
  const SEEN_HINT = seenInfo.textContent;

  /** @type {Array<{type:"stroke", width:number, points:number[][]} |
   *              {type:"image", blob:Blob, bitmap:ImageBitmap|null, name:string}>} */
  let actions = [];
  let stroke = null;              // the stroke being drawn
  let strokePointer = null;       // the pointer drawing it

  let timer = null;
  let pendingSince = null;
  let inFlight = null;            // AbortController of the request on its way
  let seq = 0;                    // the newest request; older answers are dropped

  // --- drawing ---------------------------------------------------------------

  function penWidth() {
    return Number(penInput.value) / EXPORT_SIDE;
  }

  function traceStroke(ctx, s, side) {
    const pts = s.points;
    ctx.strokeStyle = INK;
    ctx.fillStyle = INK;
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

  /** Paints every action onto a canvas of any size, on white paper. */
  function paint(canvas) {
    const ctx = canvas.getContext("2d");
    const side = canvas.width;
    ctx.fillStyle = "#ffffff";
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
  }

  function pointAt(e) {
    const rect = pad.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, v));
    return [clamp((e.clientX - rect.left) / rect.width), clamp((e.clientY - rect.top) / rect.height)];
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

  pad.addEventListener("pointerdown", (e) => {
    if (stroke || (e.pointerType === "mouse" && e.button !== 0)) return;
    e.preventDefault();
    pad.setPointerCapture(e.pointerId);
    strokePointer = e.pointerId;
    stroke = { type: "stroke", width: penWidth(), points: [pointAt(e)] };
    actions.push(stroke);
    traceStroke(pad.getContext("2d"), stroke, pad.width);
    changed();
  });

  pad.addEventListener("pointermove", (e) => {
    if (!stroke || e.pointerId !== strokePointer) return;
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
    undoButton.disabled = actions.length === 0;
    clearButton.disabled = actions.length === 0;
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
    paint(pad);
    changed(true);
  });
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && !e.shiftKey && !e.altKey && e.key.toLowerCase() === "z") {
      e.preventDefault();
      undo();
    }
  });

  uploadButton.addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", async () => {
    const file = fileInput.files && fileInput.files[0];
    fileInput.value = "";         // choosing the same file again fires again
    if (!file) return;
    let bitmap = null;
    try {
      bitmap = await createImageBitmap(file);
    } catch (_) {
      bitmap = null;              // not a picture the browser reads: the server says why
    }
    // An upload replaces the drawing. Strokes drawn afterwards go on top of
    // the picture; Undo takes them away, then the picture itself.
    actions = [{ type: "image", blob: file, bitmap, name: file.name }];
    paint(pad);
    changed(true);
  });

  // --- asking the server -----------------------------------------------------

  /** Something changed: schedule a prediction (now-ish when done is true). */
  function changed(done) {
    updateButtons();
    if (actions.length === 0) {
      cancelPending();
      showHint(HINT);
      return;
    }
    const now = performance.now();
    if (pendingSince === null) pendingSince = now;
    clearTimeout(timer);
    const wait = done ? 0 : Math.max(0, Math.min(DEBOUNCE_MS, pendingSince + MAX_WAIT_MS - now));
    timer = setTimeout(predict, wait);
    app.dataset.pending = "1";
  }

  function cancelPending() {
    clearTimeout(timer);
    timer = null;
    pendingSince = null;
    seq++;
    if (inFlight) inFlight.abort();
    inFlight = null;
    app.dataset.pending = "0";
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
    try {
      // A lone upload goes as it is; anything drawn goes as the canvas.
      const only = actions.length === 1 && actions[0].type === "image" ? actions[0] : null;
      const body = only ? only.blob : await exportPng();
      const res = await fetch("/predict?explain=1", {
        method: "POST",
        headers: { "Content-Type": "image/png" },
        body,
        signal: controller.signal,
        cache: "no-store",
      });
      const text = await res.text();
      if (mine !== seq) return;
      let json = null;
      try { json = JSON.parse(text); } catch (_) { json = null; }
      if (res.ok && json && Array.isArray(json.probabilities)) {
        showResult(json, only);
      } else if (res.status === 422 && json && json.code === "no_ink") {
        showHint(only ? "There is no digit in this picture: it is blank (no ink)."
                      : "Nothing to read yet: the drawing has no ink. Draw a bit more.");
      } else {
        showError(describeError(res, json, text));
      }
    } catch (err) {
      if (mine !== seq || (err && err.name === "AbortError")) return;
      showError(["No connection", `Could not reach the server: ${err && err.message ? err.message : err}.`]);
    } finally {
      if (mine === seq) {
        inFlight = null;
        if (timer === null) app.dataset.pending = "0";
      }
    }
  }

  /** The server's own words, with a plain lead-in: [headline, sentence]. */
  function describeError(res, json, text) {
    const what = json && typeof json.error === "string" ? json.error : text.trim().slice(0, 160);
    const code = json && typeof json.code === "string" ? ` ${json.code}` : "";
    const lead = {
      400: "The server could not read the picture",
      413: "The picture is too large for the server",
      415: "The server does not take this kind of file",
      503: "The server is not ready",
    }[res.status] || "The server answered with an error";
    return [`Error ${res.status}${code}`, `${lead}: ${what || res.statusText || "no details"}.`];
  }

  // --- showing the answer ----------------------------------------------------

  function pct(p) {
    const v = p * 100;
    if (v >= 0.5) return `${Math.round(v)}%`;
    return v >= 0.05 ? "<1%" : "0%";
  }

  function setBars(probs, top) {
    bars.forEach((li, i) => {
      const p = probs ? Math.min(1, Math.max(0, Number(probs[i]) || 0)) : 0;
      li.querySelector(".fill").style.transform = `scaleY(${p})`;
      li.querySelector(".pct").textContent = pct(p);
      li.classList.toggle("top", i === top);
      li.dataset.p = String(p);
      li.setAttribute("aria-label", `${i}: ${(p * 100).toFixed(1)}%`);
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
    confidenceOut.textContent = "\u00a0";
    statusOut.textContent = text;
    setBars(null, -1);
    setSeen(null, SEEN_HINT);
  }

  function showError([headline, text]) {
    app.dataset.state = "error";
    digitOut.textContent = "!";
    confidenceOut.textContent = headline;
    statusOut.textContent = text;
    setBars(null, -1);
    setSeen(null, SEEN_HINT);
  }

  function showResult(r, upload) {
    app.dataset.state = "result";
    const d = r.digit;
    digitOut.textContent = String(d);
    confidenceOut.textContent = `${(r.confidence * 100).toFixed(1)}% sure it is a ${d}`;
    const ms = r.timings && typeof r.timings.total_ms === "number" ? ` in ${r.timings.total_ms.toFixed(1)} ms` : "";
    const second = secondBest(r.probabilities, d);
    statusOut.textContent =
      (upload ? `Read from ${upload.name}${ms}.` : `Read from your drawing${ms}.`) +
      (second >= 0 && r.probabilities[second] >= 0.05 ? ` Next best: ${second} (${pct(r.probabilities[second])}).` : "");
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
      setSeen(`data:image/png;base64,${ex.input_png}`, parts.join("; ") + ".");
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
  fitCanvas();
  showPen();
  updateButtons();
  showHint(HINT);
  app.dataset.ready = "1";
})();

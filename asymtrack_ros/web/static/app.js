// asymtrack operator page: MJPEG stream read with fetch (to learn each frame's stamp
// from its part header), drag/tap selection on the frame on screen, stop, follower,
// status. No build step, no dependencies.
"use strict";

const $ = (id) => document.getElementById(id);
const canvas = $("video");
const ctx = canvas.getContext("2d");
const params = new URLSearchParams(location.search);
const TAP_PX = 8; // a press and release closer than this (CSS px) is a tap

// The token arrives once in the URL (?token=...), then lives in sessionStorage only.
if (params.has("token")) {
  sessionStorage.setItem("asymtrack_token", params.get("token"));
  params.delete("token");
  history.replaceState(null, "", location.pathname + (params.toString() ? "?" + params : ""));
}
const state = {
  token: sessionStorage.getItem("asymtrack_token") || "",
  shown: null, // {bitmap, stamp: "sec.nanosec", seq} of the frame on screen
  drag: null, // {x0, y0, x1, y1} in canvas pixels, frame frozen meanwhile
  frameTimes: [],
  engaged: false,
};

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (state.token) h.Authorization = "Bearer " + state.token;
  return h;
}

function askToken(status) {
  const t = window.prompt(status === 401 ? "Access token" : "Wrong access token. Access token");
  if (t !== null) {
    state.token = t.trim();
    sessionStorage.setItem("asymtrack_token", state.token);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function say(text) {
  $("message").textContent = text;
}

// -- the stream --------------------------------------------------------------------

function indexOfCrlfCrlf(buf, from) {
  for (let i = from; i + 3 < buf.length; i++) {
    if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) return i;
  }
  return -1;
}

function concat(a, b) {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

async function showFrame(jpeg, stamp, seq) {
  const bitmap = await createImageBitmap(new Blob([jpeg], { type: "image/jpeg" }));
  if (state.drag) { // frozen: the operator is drawing on the frame on screen
    bitmap.close();
    return;
  }
  if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    canvas.style.maxWidth = `calc(78vh * ${bitmap.width / bitmap.height})`;
  }
  if (state.shown) state.shown.bitmap.close();
  state.shown = { bitmap, stamp, seq };
  canvas.dataset.stamp = stamp;
  canvas.dataset.seq = String(seq);
  draw();
  $("overlay-msg").textContent = "";
  $("frame-stamp").textContent = stamp;
  const now = performance.now();
  state.frameTimes.push(now);
  while (state.frameTimes.length && now - state.frameTimes[0] > 2000) state.frameTimes.shift();
}

function draw() {
  if (!state.shown) return;
  ctx.drawImage(state.shown.bitmap, 0, 0);
  const d = state.drag;
  if (d && !isTap(d)) {
    ctx.lineWidth = Math.max(2, canvas.width / canvas.getBoundingClientRect().width * 2);
    ctx.strokeStyle = "#ffeb3b";
    ctx.setLineDash([8, 6]);
    ctx.strokeRect(Math.min(d.x0, d.x1), Math.min(d.y0, d.y1), Math.abs(d.x1 - d.x0), Math.abs(d.y1 - d.y0));
    ctx.setLineDash([]);
  }
}

async function runStream() {
  const query = new URLSearchParams();
  for (const key of ["fps", "quality", "width"]) if (params.has(key)) query.set(key, params.get(key));
  for (;;) {
    try {
      const resp = await fetch("/stream.mjpg?" + query, { headers: headers(), cache: "no-store" });
      if (resp.status === 401 || resp.status === 403) {
        askToken(resp.status);
        await sleep(1000);
        continue;
      }
      if (!resp.ok) throw new Error("stream: HTTP " + resp.status);
      const reader = resp.body.getReader();
      let buf = new Uint8Array(0);
      const more = async () => {
        const { value, done } = await reader.read();
        if (done) throw new Error("stream ended");
        buf = concat(buf, value);
      };
      for (;;) {
        let end;
        while ((end = indexOfCrlfCrlf(buf, 0)) < 0) await more();
        const fields = {};
        for (const line of new TextDecoder().decode(buf.subarray(0, end)).split("\r\n")) {
          const colon = line.indexOf(":");
          if (colon > 0) fields[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        const length = parseInt(fields["content-length"], 10);
        if (!(length >= 0)) throw new Error("stream: part without Content-Length");
        buf = buf.subarray(end + 4);
        while (buf.length < length) await more();
        const jpeg = buf.slice(0, length);
        buf = buf.subarray(length);
        await showFrame(jpeg, fields["x-stamp"] || "0.000000000", parseInt(fields["x-frame-seq"] || "0", 10));
      }
    } catch (err) {
      $("overlay-msg").textContent = "image stream interrupted, reconnecting\u2026";
      await sleep(1000);
    }
  }
}

// -- selection ---------------------------------------------------------------------

function toCanvas(ev) {
  const r = canvas.getBoundingClientRect();
  const x = Math.min(Math.max(ev.clientX - r.left, 0), r.width);
  const y = Math.min(Math.max(ev.clientY - r.top, 0), r.height);
  return [(x * canvas.width) / r.width, (y * canvas.height) / r.height];
}

function isTap(d) {
  const scale = canvas.getBoundingClientRect().width / canvas.width; // CSS px per canvas px
  return Math.hypot(d.x1 - d.x0, d.y1 - d.y0) * scale < TAP_PX;
}

function stampObject(text) {
  const [sec, nanosec] = text.split(".");
  return { sec: parseInt(sec, 10), nanosec: parseInt((nanosec || "0").padEnd(9, "0"), 10) };
}

async function command(body) {
  try {
    const resp = await fetch("/api/command", {
      method: "POST",
      headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify(body),
    });
    const data = await resp.json().catch(() => ({}));
    if (resp.status === 401 || resp.status === 403) askToken(resp.status);
    if (!resp.ok) say(`${body.command}: ${data.error || data.message || "HTTP " + resp.status}`);
    return { ok: resp.ok, data };
  } catch (err) {
    say(`${body.command}: ${err.message}`);
    return { ok: false, data: {} };
  }
}

canvas.addEventListener("pointerdown", (ev) => {
  if (!state.shown || (ev.pointerType === "mouse" && ev.button !== 0)) return;
  canvas.setPointerCapture(ev.pointerId);
  const [x, y] = toCanvas(ev);
  state.drag = { x0: x, y0: y, x1: x, y1: y, stamp: state.shown.stamp };
  ev.preventDefault();
});

canvas.addEventListener("pointermove", (ev) => {
  if (!state.drag) return;
  [state.drag.x1, state.drag.y1] = toCanvas(ev);
  draw();
});

canvas.addEventListener("pointercancel", () => {
  state.drag = null;
  draw();
});

canvas.addEventListener("pointerup", async (ev) => {
  const d = state.drag;
  if (!d) return;
  [d.x1, d.y1] = toCanvas(ev);
  state.drag = null;
  draw();
  const w = canvas.width;
  const h = canvas.height;
  const stamp = stampObject(d.stamp);
  const clamp = (v) => Math.min(Math.max(v, 0), 1);
  let body;
  if (isTap(d)) {
    body = { command: "point", x: clamp(d.x0 / w), y: clamp(d.y0 / h), stamp };
  } else {
    const x = clamp(Math.min(d.x0, d.x1) / w);
    const y = clamp(Math.min(d.y0, d.y1) / h);
    const bw = Math.min(Math.abs(d.x1 - d.x0) / w, 1 - x);
    const bh = Math.min(Math.abs(d.y1 - d.y0) / h, 1 - y);
    if (bw <= 0 || bh <= 0) return;
    body = { command: "box", x, y, width: bw, height: bh, stamp };
  }
  const r = await command(body);
  if (r.ok) say(`${body.command} sent on frame ${d.stamp}`);
});

$("stop").addEventListener("click", async () => {
  const r = await command({ command: "stop" });
  if (r.ok) say("stop sent");
});

$("follow").addEventListener("click", async () => {
  const r = await command({ command: "follow", enable: !state.engaged });
  if (r.ok) say(`follower: ${r.data.message}`);
});

// -- status ------------------------------------------------------------------------

const fmt = (v, digits, unit) => (v === null || v === undefined ? "\u2013" : v.toFixed(digits) + (unit || ""));

function showStatus(s) {
  const t = s.tracker;
  const badge = $("state");
  const name = t ? (t.fresh ? t.state : "NO DATA") : "NO DATA";
  badge.textContent = name;
  badge.className = "badge state-" + (t && t.fresh ? t.state : "none");
  $("target").textContent = t ? String(t.target_id) : "\u2013";
  $("score").textContent = t && t.state !== "IDLE" ? fmt(t.score, 2) : "\u2013";
  $("fps").textContent = fmt(s.fps, 1);
  const lat = t ? `${fmt(t.latency_ms, 1, " ms")}` : "\u2013";
  const median = s.latency_ms_median !== null ? ` \u00b7 median ${fmt(s.latency_ms_median, 1, " ms")}` : "";
  $("latency").textContent = lat + median;
  const f = s.follow;
  state.engaged = Boolean(f && f.engaged);
  const fb = $("follow-state");
  fb.textContent = f ? `follower: ${f.state}${f.engaged ? " (engaged)" : ""}` : "follower: not running";
  fb.title = f ? f.message : "";
  fb.className = "badge " + (state.engaged ? "follow-engaged" : "follow-none");
  const button = $("follow");
  button.textContent = state.engaged ? "Disengage follower" : "Engage follower";
  button.classList.toggle("engaged", state.engaged);
  const n = state.frameTimes.length;
  const span = n > 1 ? (state.frameTimes[n - 1] - state.frameTimes[0]) / 1000 : 0;
  $("stream-fps").textContent = span > 0 ? ((n - 1) / span).toFixed(1) : "\u2013";
}

async function runStatus() {
  for (;;) {
    try {
      const resp = await fetch("/api/status", { headers: headers(), cache: "no-store" });
      if (resp.ok) showStatus(await resp.json());
    } catch (err) {
      $("state").textContent = "OFFLINE";
      $("state").className = "badge state-none";
    }
    await sleep(250);
  }
}

runStream();
runStatus();

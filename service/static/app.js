// dlserve playground: plain JavaScript, no external resources, talks to the same server's REST API.
"use strict";

const $ = (id) => document.getElementById(id);

async function apiError(response) {
  // The API answers errors as {"error", "detail", "request_id"}; show the detail, never swallow it.
  let text = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    text = `${response.status}: ${body.detail || body.error || JSON.stringify(body)}`;
    if (body.request_id) text += ` (request ${body.request_id})`;
  } catch (e) { /* not JSON: keep the status line */ }
  return text;
}

function showError(section, message) {
  const el = $(`${section}-error`);
  el.textContent = message;
  el.hidden = !message;
}

// With DLSERVE_API_KEYS set, every API call carries the key typed above (kept for this browser tab only).
const keyInput = $("api-key");
keyInput.value = sessionStorage.getItem("dlserve-api-key") || "";
keyInput.addEventListener("change", () => { sessionStorage.setItem("dlserve-api-key", keyInput.value); loadModels(); });

function withKey(options) {
  const headers = new Headers((options && options.headers) || {});
  if (keyInput.value) headers.set("X-API-Key", keyInput.value);
  return { ...(options || {}), headers };
}

async function call(section, url, options) {
  showError(section, "");
  let response;
  try {
    response = await fetch(url, withKey(options));
  } catch (e) {
    showError(section, `the server could not be reached: ${e.message}`);
    return null;
  }
  if (!response.ok) {
    showError(section, await apiError(response));
    return null;
  }
  return response;
}

// ---- Digits: draw on a canvas, classify while drawing --------------------------------------------------
const canvas = $("digit-canvas");
const ctx = canvas.getContext("2d");
let drawing = false, last = null, pending = false, dirty = false, inkCount = 0;
let drawingId = 0;  // bumped by Clear: a prediction for the drawing before it is dropped when it comes back

function clearCanvas() {
  drawingId += 1;
  dirty = false;
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  inkCount = 0;
  $("digit-prediction").textContent = "none yet";
  $("digit-bars").replaceChildren();
}

function point(event) {
  const r = canvas.getBoundingClientRect();
  return { x: (event.clientX - r.left) * canvas.width / r.width, y: (event.clientY - r.top) * canvas.height / r.height };
}

function stroke(to) {
  ctx.strokeStyle = "#fff";
  ctx.lineWidth = 20;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(last.x, last.y);
  ctx.lineTo(to.x, to.y);
  ctx.stroke();
  last = to;
  inkCount += 1;
}

canvas.addEventListener("pointerdown", (e) => {
  drawing = true;
  last = point(e);
  canvas.setPointerCapture(e.pointerId);
  stroke({ x: last.x + 0.1, y: last.y + 0.1 });
});
canvas.addEventListener("pointermove", (e) => {
  if (!drawing) return;
  stroke(point(e));
  classifyCanvasSoon();
});
canvas.addEventListener("pointerup", () => { drawing = false; classifyCanvasSoon(); });
canvas.addEventListener("pointercancel", () => { drawing = false; });
$("digit-clear").addEventListener("click", clearCanvas);

function classifyCanvasSoon() {
  // At most one request in flight; the latest drawing is sent when it returns ("live as you draw").
  dirty = true;
  if (!pending) classifyCanvas();
}

function classifyCanvas() {
  if (!inkCount) return;
  pending = true;
  dirty = false;
  const id = drawingId;
  canvas.toBlob(async (blob) => {
    await classifyBlob(blob, "drawing.png", () => id === drawingId);
    pending = false;
    if (dirty) classifyCanvas();
  }, "image/png");
}

async function classifyBlob(blob, name, current = () => true) {
  const form = new FormData();
  form.append("files", blob, name);
  const url = `/v1/classify?top_k=10${modelQuery("digit-model")}`;
  const response = await call("digits", url, { method: "POST", body: form });
  if (!response || !current()) return;
  const body = await response.json();
  if (!current()) return;
  renderBars("digit", body.results[0].predictions, (ps) => [...ps].sort((a, b) => a.index - b.index));
}

// One bar per prediction, in `order`; the top one highlighted. Used by the digit and the photo panels.
function renderBars(panel, predictions, order) {
  const top = predictions[0];
  $(`${panel}-prediction`).textContent = `${top.label} (${(100 * top.probability).toFixed(1)}%)`;
  $(`${panel}-bars`).replaceChildren(...order(predictions).map((p) => {
    const row = document.createElement("div");
    row.className = "bar-row" + (p.label === top.label ? " top" : "");
    row.dataset.label = p.label;
    row.dataset.probability = String(p.probability);
    row.setAttribute("role", "meter");
    row.setAttribute("aria-valuemin", "0");
    row.setAttribute("aria-valuemax", "1");
    row.setAttribute("aria-valuenow", String(p.probability));
    row.setAttribute("aria-label", p.label);
    row.innerHTML = `<span class="label"></span><span class="track"><span class="fill"></span></span><span class="value"></span>`;
    row.querySelector(".label").textContent = p.label;
    row.querySelector(".fill").style.display = "block";
    row.querySelector(".fill").style.width = `${(100 * p.probability).toFixed(1)}%`;
    row.querySelector(".value").textContent = `${(100 * p.probability).toFixed(1)}%`;
    return row;
  }));
}

$("digit-file").addEventListener("change", (e) => {
  const file = e.target.files[0];
  if (file) classifyBlob(file, file.name);
});

// ---- Classify photos: the top five classes of any served classifier -----------------------------------
$("classify-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const file = $("classify-file").files[0];
  if (!file) return;
  const preview = $("classify-preview");
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
  const form = new FormData();
  form.append("files", file, file.name);
  const response = await call("classify", `/v1/classify?top_k=5${modelQuery("classify-model")}`,
                              { method: "POST", body: form });
  if (!response) { $("classify-prediction").textContent = "none yet"; $("classify-bars").replaceChildren(); return; }
  renderBars("classify", (await response.json()).results[0].predictions, (ps) => ps);
});

// ---- Photos: caption with beam alternatives ------------------------------------------------------------
$("photo-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const file = $("photo-file").files[0];
  if (!file) return;
  const preview = $("photo-preview");
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
  $("photo-caption").textContent = "…";
  const beam = Number($("photo-beam").value);
  const alternatives = Math.min(3, Math.max(0, beam - 1));
  const form = new FormData();
  form.append("files", file, file.name);
  const url = `/v1/caption?beam_size=${encodeURIComponent(beam)}&num_alternatives=${alternatives}`
    + modelQuery("photo-model");
  const response = await call("photos", url, { method: "POST", body: form });
  if (!response) { $("photo-caption").textContent = ""; return; }
  const result = (await response.json()).results[0];
  $("photo-caption").textContent = result.caption;
  $("photo-alternatives").replaceChildren(...result.alternatives.map((a) => {
    const li = document.createElement("li");
    li.textContent = `${a.caption} (score ${a.score.toFixed(3)})`;
    return li;
  }));
});

// ---- Translation with an attention heatmap -------------------------------------------------------------
$("translate-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = { text: $("translate-text").value, source: "en", target: $("translate-target").value,
                 return_attention: true };
  const response = await call("translation", "/v1/translate", {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  });
  const table = $("translate-heatmap");
  if (!response) { table.hidden = true; return; }
  const t = (await response.json()).translations[0];
  $("translate-output").textContent = t.text;
  renderHeatmap(table, t.attention);
});

function renderHeatmap(table, attention) {
  const caption = table.querySelector("caption");
  table.replaceChildren(caption);
  if (!attention) { table.hidden = true; return; }
  const clean = (s) => s.replace(/^\u2581/, "");
  const head = table.createTHead().insertRow();
  head.appendChild(document.createElement("td"));
  for (const s of attention.source_tokens) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = clean(s);
    head.appendChild(th);
  }
  const tbody = table.createTBody();
  attention.weights.forEach((row, i) => {
    const tr = tbody.insertRow();
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = clean(attention.target_tokens[i]);
    tr.appendChild(th);
    row.forEach((w, j) => {
      const td = tr.insertCell();
      td.style.background = `rgba(43, 108, 176, ${Math.min(1, w).toFixed(3)})`;
      td.title = `${clean(attention.target_tokens[i])} ← ${clean(attention.source_tokens[j])}: ${w.toFixed(3)}`;
    });
  });
  table.dataset.rows = String(attention.weights.length);
  table.dataset.cols = String(attention.source_tokens.length);
  table.hidden = false;
}

// ---- Generation, streamed over server-sent events ------------------------------------------------------
let generation = null;

$("generate-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (generation) generation.abort();
  generation = new AbortController();
  const out = $("generate-output");
  out.textContent = $("generate-prompt").value;
  const body = { prompt: $("generate-prompt").value, temperature: Number($("generate-temperature").value),
                 max_tokens: Number($("generate-length").value), stream: true,
                 model: $("generate-model").value || null };
  $("generate-stop").disabled = false;
  try {
    const response = await call("generation", "/v1/generate", {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
      signal: generation.signal,
    });
    if (response) await readEvents(response, out);
  } catch (err) {
    if (err.name !== "AbortError") showError("generation", `stream interrupted: ${err.message}`);
  } finally {
    $("generate-stop").disabled = true;
    generation = null;
  }
});

$("generate-stop").addEventListener("click", () => { if (generation) generation.abort(); });

async function readEvents(response, out) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const kind = (event.match(/^event: (.*)$/m) || [null, "message"])[1];
      const data = event.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      if (data === "[DONE]") return;
      if (!data) continue;
      const payload = JSON.parse(data);
      if (kind === "error") { showError("generation", payload.detail || payload.error); return; }
      if (payload.text) out.textContent += payload.text;
    }
  }
}

// ---- Models: status table and training curves ----------------------------------------------------------
// `&model=<name>` for the model chosen in a panel's select; nothing (the server's default) before the list loads.
function modelQuery(selectId) {
  const name = $(selectId).value;
  return name ? `&model=${encodeURIComponent(name)}` : "";
}

// Each panel names the model it calls: its task's ready models, the server's default one selected.
function fillModelSelects(models) {
  for (const select of document.querySelectorAll("select[data-task]")) {
    const mine = models.filter((m) => m.task === select.dataset.task && m.status === "ready");
    const preferred = mine.find((m) => m.name === select.dataset.prefer);  // a panel's natural model, if served
    const chosen = select.value || (preferred || mine.find((m) => m.default) || mine[0] || {}).name;
    select.replaceChildren(...mine.map((m) => new Option(`${m.name} v${m.version}`, m.name)));
    if (chosen) select.value = chosen;
  }
}

async function loadModels() {
  const response = await call("models", "/v1/models");
  if (!response) return;
  const { models } = await response.json();
  fillModelSelects(models);
  const tbody = $("models-table").querySelector("tbody");
  tbody.replaceChildren(...models.map((m) => {
    const tr = document.createElement("tr");
    tr.dataset.model = m.name;
    const metrics = Object.entries(m.metrics || {}).filter(([k]) => !k.includes("baseline")).slice(0, 4)
      .map(([k, v]) => `${k}: ${typeof v === "number" ? +v.toFixed(4) : v}`).join(", ");
    for (const text of [m.name, m.version ?? "", m.task ?? "", m.status + (m.reason ? ` (${m.reason})` : ""),
                        m.provider ?? "", metrics]) {
      const td = tr.insertCell();
      td.textContent = text;
    }
    return tr;
  }));
  $("models-curves").replaceChildren(...models.filter((m) => m.status === "ready").map((m) => {
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = `Training curves: ${m.name}`;
    const img = document.createElement("img");
    img.alt = `loss and metric per epoch while training ${m.name}`;
    details.addEventListener("toggle", async () => {
      if (!details.open || img.src) return;  // fetched (with the key, if any) the first time it opens
      const r = await call("models", `/v1/models/${encodeURIComponent(m.name)}/curves.png`);
      if (r) img.src = URL.createObjectURL(await r.blob());
    });
    details.append(summary, img);
    return details;
  }));
}

$("models-refresh").addEventListener("click", loadModels);
clearCanvas();
loadModels();

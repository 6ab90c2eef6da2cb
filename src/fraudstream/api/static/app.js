// fraudstream live dashboard: plain JavaScript, no dependencies, works offline (common.js first).
"use strict";

const FEED_ROWS = 60;
const MAP_POINTS = 1500;
const POINT_LIFETIME_MS = 90_000;
const COLORS = { approve: "#3fb68b", review: "#f5a524", decline: "#e5484d", land: "#243041", coast: "#34445a", grid: "#2a313c", muted: "#8b96a5", accent: "#5b8def" };

const state = {
  points: [],
  thresholds: { review: 0.5, decline: 0.9 },
  land: null,
  events: null,
};

// -- canvas -----------------------------------------------------------------------------

function fit(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return { ctx, width, height };
}

// -- live feed --------------------------------------------------------------------------

// The live rule that set the outcome reads first: it decided, whatever the model said.
function liveRule(decision) {
  return (decision.rules || []).find((h) => h.mode === "live" && h.action !== "score_add");
}

function topReason(decision) {
  const rule = liveRule(decision);
  if (rule) return `rule ${rule.id} (${rule.action})`;
  return decision.reasons && decision.reasons.length ? decision.reasons[0].text : "";
}

function addRow(d) {
  const row = el(
    "tr",
    { className: `${d.outcome} fresh`, dataset: { id: d.transaction_id }, on: { click: () => showDetail(d.transaction_id) } },
    el("td", { text: fmt.when(d.timestamp), title: d.timestamp }),
    el("td", { text: d.customer_id }),
    el("td", { className: "num", text: fmt.money(d.amount, d.currency) }),
    el("td", { text: `${d.merchant_id} · ${d.merchant_category}`, title: d.merchant_category }),
    el("td", { text: (d.channel || "").replace("_", " ") }),
    el("td", { text: d.country || "" }),
    el("td", { className: "num", text: fmt.num(d.score, 3) }),
    el("td", {}, el("span", { className: `outcome ${d.outcome}`, text: d.outcome })),
    el("td", { text: topReason(d), title: topReason(d) }),
  );
  const body = $("feed");
  body.prepend(row);
  while (body.rows.length > FEED_ROWS) body.deleteRow(body.rows.length - 1);
  setTimeout(() => row.classList.remove("fresh"), 600);
}

function onDecision(d) {
  addRow(d);
  if (d.latitude != null && d.longitude != null) {
    state.points.push({ lon: d.longitude, lat: d.latitude, outcome: d.outcome, at: performance.now() });
    if (state.points.length > MAP_POINTS) state.points.splice(0, state.points.length - MAP_POINTS);
  }
}

// The live feed: Server-Sent Events read through fetch, which sends the key in a header
// (EventSource cannot, and a key in the URL ends up in access logs).
async function connect() {
  if (state.events) state.events.abort();
  const controller = new AbortController();
  state.events = controller;
  const status = $("status");
  const headers = { Accept: "text/event-stream" };
  if (session.key) headers["X-API-Key"] = session.key;
  try {
    const response = await fetch("v1/events", { headers, signal: controller.signal, cache: "no-store" });
    if (response.status === 401 || response.status === 403) {
      askKey();
      return;
    }
    if (!response.ok || !response.body) throw new Error(`v1/events: ${response.status}`);
    status.dataset.state = "live";
    status.textContent = "live";
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer = (buffer + value).replace(/\r\n/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (event === "decision" && data.length) onDecision(JSON.parse(data.join("\n")));
      }
    }
  } catch (error) {
    if (controller.signal.aborted) return;
    console.warn("live feed", error);
  }
  if (controller.signal.aborted) return;
  status.dataset.state = "down";
  status.textContent = "reconnecting";
  setTimeout(() => {
    if (state.events === controller) connect();
  }, 2_000);
}

// -- map --------------------------------------------------------------------------------

async function loadLand() {
  try {
    state.land = (await (await fetch("world-land.json")).json()).polygons;
  } catch (error) {
    console.warn("no world outline", error);
    state.land = [];
  }
}

// The land outline in a projection (x of a longitude, y of a latitude).
function drawLand(ctx, x, y) {
  ctx.fillStyle = COLORS.land;
  ctx.strokeStyle = COLORS.coast;
  ctx.beginPath();
  for (const ring of state.land || []) {
    ring.forEach(([lon, lat], i) => (i ? ctx.lineTo(x(lon), y(lat)) : ctx.moveTo(x(lon), y(lat))));
    ctx.closePath();
  }
  ctx.fill("evenodd");
  ctx.stroke();
}

function drawMap() {
  const { ctx, width, height } = fit($("map"));
  const x = (lon) => ((lon + 180) / 360) * width;
  const y = (lat) => ((90 - lat) / 180) * height;
  ctx.clearRect(0, 0, width, height);
  ctx.strokeStyle = COLORS.grid;
  ctx.lineWidth = 0.5;
  for (let lon = -150; lon <= 150; lon += 30) {
    ctx.beginPath(); ctx.moveTo(x(lon), 0); ctx.lineTo(x(lon), height); ctx.stroke();
  }
  for (let lat = -60; lat <= 60; lat += 30) {
    ctx.beginPath(); ctx.moveTo(0, y(lat)); ctx.lineTo(width, y(lat)); ctx.stroke();
  }
  drawLand(ctx, x, y);

  const now = performance.now();
  state.points = state.points.filter((p) => now - p.at < POINT_LIFETIME_MS);
  // Approvals first, so that flagged payments are drawn on top.
  for (const outcome of ["approve", "review", "decline"]) {
    ctx.fillStyle = COLORS[outcome];
    for (const p of state.points) {
      if (p.outcome !== outcome) continue;
      const age = (now - p.at) / POINT_LIFETIME_MS;
      ctx.globalAlpha = Math.max(0.15, 1 - age);
      const radius = outcome === "approve" ? 1.8 : outcome === "review" ? 3.5 : 4.5;
      ctx.beginPath();
      ctx.arc(x(p.lon), y(p.lat), radius, 0, 2 * Math.PI);
      ctx.fill();
      if (outcome !== "approve" && now - p.at < 2000) {
        ctx.globalAlpha = 1 - (now - p.at) / 2000;
        ctx.strokeStyle = COLORS[outcome];
        ctx.beginPath();
        ctx.arc(x(p.lon), y(p.lat), radius + (12 * (now - p.at)) / 2000, 0, 2 * Math.PI);
        ctx.stroke();
      }
    }
  }
  ctx.globalAlpha = 1;
}

// -- charts -----------------------------------------------------------------------------

function drawHistogram(counts) {
  const { ctx, width, height } = fit($("histogram"));
  ctx.clearRect(0, 0, width, height);
  const max = Math.max(1, ...counts);
  const bar = width / counts.length;
  counts.forEach((count, i) => {
    const low = i / counts.length;
    ctx.fillStyle = low >= state.thresholds.decline ? COLORS.decline : low >= state.thresholds.review ? COLORS.review : COLORS.approve;
    // Square-root scale: most scores are near zero, the interesting ones are rare.
    const h = (Math.sqrt(count) / Math.sqrt(max)) * (height - 16);
    ctx.fillRect(i * bar + 1, height - 14 - h, bar - 2, h);
  });
  ctx.fillStyle = COLORS.muted;
  ctx.font = "11px system-ui";
  ctx.fillText("0", 0, height - 2);
  ctx.fillText("score", width / 2 - 14, height - 2);
  ctx.fillText("1", width - 8, height - 2);
  for (const [name, t] of Object.entries(state.thresholds)) {
    ctx.strokeStyle = COLORS[name] || COLORS.accent;
    ctx.setLineDash([3, 3]);
    ctx.beginPath(); ctx.moveTo(t * width, 0); ctx.lineTo(t * width, height - 14); ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = COLORS[name] || COLORS.accent;
    const label = `${name} ${t.toFixed(2)}`;
    const at = Math.min(t * width + 4, width - ctx.measureText(label).width - 2);
    ctx.fillText(label, at, name === "review" ? 11 : 24);
  }
}

// Lines over time with a legend; the scale ends near the 95th percentile, so one spike does
// not flatten the rest: higher points are drawn at the top edge, marked.
function drawLines(canvas, series, format, ceiling = Infinity) {
  const { ctx, width, height } = fit(canvas);
  ctx.clearRect(0, 0, width, height);
  const values = series.flatMap((s) => s.values).filter((v) => v != null).sort((a, b) => a - b);
  const typical = values.length ? values[Math.floor(0.95 * (values.length - 1))] : 0;
  const max = Math.min(ceiling, Math.max(1e-9, typical * 1.3, values.length ? values[0] : 0));
  const n = Math.max(2, ...series.map((s) => s.values.length));
  const x = (i) => (i / (n - 1)) * (width - 36) + 34;
  const y = (v) => height - 16 - (Math.min(v, max) / max) * (height - 30);
  ctx.strokeStyle = COLORS.grid;
  ctx.fillStyle = COLORS.muted;
  ctx.font = "11px system-ui";
  for (const frac of [0, 0.5, 1]) {
    const v = max * frac;
    ctx.beginPath(); ctx.moveTo(34, y(v)); ctx.lineTo(width, y(v)); ctx.stroke();
    ctx.fillText(format(v), 0, y(v) + 4);
  }
  ctx.fillText(`last ${n} min`, 34, height - 2);
  let legend = width;
  for (const s of [...series].reverse()) {
    legend -= ctx.measureText(s.name).width + 18;
    ctx.fillStyle = s.color;
    ctx.fillRect(legend, height - 10, 10, 3);
    ctx.fillText(s.name, legend + 13, height - 2);
  }
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    ctx.lineWidth = 1.8;
    ctx.beginPath();
    let started = false;
    s.values.forEach((v, i) => {
      if (v == null) return;
      if (started) ctx.lineTo(x(i), y(v));
      else { ctx.moveTo(x(i), y(v)); started = true; }
    });
    ctx.stroke();
    s.values.forEach((v, i) => {
      if (v != null && v > max) {
        ctx.beginPath(); ctx.moveTo(x(i) - 4, y(max) + 6); ctx.lineTo(x(i) + 4, y(max) + 6); ctx.lineTo(x(i), y(max)); ctx.fill();
      }
    });
  }
  ctx.lineWidth = 1;
}

// -- stats, detail ----------------------------------------------------------------------

async function pollStats() {
  try {
    const s = await api("v1/stats");
    state.thresholds = s.thresholds;
    $("model").textContent = `model ${s.model_version}`;
    $("kpi-rate").textContent = fmt.num(s.events_per_s, 1);
    $("kpi-total").textContent = fmt.int(s.decisions);
    $("kpi-flagged").textContent = fmt.pct(s.flagged_rate);
    $("kpi-approve").textContent = fmt.int(s.totals.approve);
    $("kpi-review").textContent = fmt.int(s.totals.review);
    $("kpi-decline").textContent = fmt.int(s.totals.decline);
    $("kpi-p50").textContent = fmt.ms(s.latency_ms.p50);
    $("kpi-p99").textContent = fmt.ms(s.latency_ms.p99);
    drawHistogram(s.score_histogram);
    showDrift(s.drift);
    drawLines($("flagged"), [{ name: "flagged", values: s.timeline.map((p) => p.flagged_rate), color: COLORS.review }], (v) => (100 * v).toFixed(1) + "%", 1);
    drawLines(
      $("latency"),
      [
        { name: "p99", values: s.timeline.map((p) => p.p99_ms), color: COLORS.decline },
        { name: "p50", values: s.timeline.map((p) => p.p50_ms), color: COLORS.accent },
      ],
      (v) => v.toFixed(v < 10 ? 1 : 0),
    );
  } catch (error) {
    if (!(error instanceof Unauthorized)) console.warn(error);
  }
}

async function showDetail(id) {
  try {
    const { transaction: t, decision: d, labels, reviews } = await api(`v1/transactions/${encodeURIComponent(id)}`);
    const field = (name, value) => [el("dt", { text: name }), el("dd", { text: value == null || value === "" ? "–" : value })];
    const children = [
      el("h3", { text: t.transaction_id }),
      d
        ? el("div", {}, el("span", { className: `score outcome ${d.outcome}`, text: fmt.num(d.score, 3) }), " ", el("span", { className: `outcome ${d.outcome}`, text: d.outcome }))
        : el("p", { text: "not decided" }),
      el(
        "dl",
        {},
        ...field("time", fmt.when(t.timestamp)),
        ...field("customer", t.customer_id),
        ...field("amount", fmt.money(t.amount, t.currency)),
        ...field("merchant", `${t.merchant_id} (${t.merchant_category})`),
        ...field("channel", t.channel),
        ...field("terminal", t.terminal_id),
        ...field("device", t.device_id),
        ...field("IP", t.ip),
        ...field("location", t.latitude != null ? `${t.latitude.toFixed(3)}, ${t.longitude.toFixed(3)} ${t.country || ""}` : null),
        ...(d
          ? [
              ...field("model", d.model_version),
              ...field("ruleset", d.ruleset_version == null ? "none" : `version ${d.ruleset_version}`),
              ...field("decided", `${fmt.when(d.decided_at)} in ${fmt.ms(d.timings.total_ms)}`),
            ]
          : []),
      ),
    ];
    if (d && d.rules.length) {
      children.push(
        el("h2", { text: "Rules fired" }),
        el(
          "ul",
          { className: "rules-fired" },
          ...d.rules.map((h) => el("li", {}, el("span", { className: `tag ${h.action}`, text: h.action }), " ", h.id, h.mode === "shadow" ? el("span", { className: "push", text: " (shadow: recorded only)" }) : "")),
        ),
      );
    }
    if (d && d.reasons.length) {
      children.push(
        el("h2", { text: "Why" }),
        el(
          "ol",
          { className: "reasons" },
          ...d.reasons.map((r) => el("li", {}, r.text, " ", el("span", { className: "push", text: `(${r.contribution > 0 ? "+" : ""}${r.contribution.toFixed(2)} log-odds)` }))),
        ),
      );
    }
    if (labels.length || reviews.length) {
      children.push(
        el("h2", { text: "Feedback" }),
        el(
          "ul",
          {},
          ...labels.map((l) => el("li", { text: `${l.is_fraud ? "fraud" : "legitimate"} · ${l.source || ""} · ${l.reported_at}` })),
          ...reviews.map((r) => el("li", { text: `review: ${r.verdict} by ${r.analyst || "?"}${r.note ? " — " + r.note : ""}` })),
        ),
      );
    }
    openDrawer(children);
  } catch (error) {
    if (!(error instanceof Unauthorized)) console.warn(error);
  }
}

// PSI above 0.25: moved from the training data; 0.1-0.25: worth watching.
function showDrift(drift) {
  const level = (v) => (v > 0.25 ? "decline" : v > 0.1 ? "review" : "approve");
  const rows = !drift
    ? [el("li", { className: "hint", text: "this model has no training reference" })]
    : [{ feature: "score", psi: drift.score }, ...drift.features].map((d) =>
        el("li", {}, el("span", { text: d.feature }), el("span", { className: `outcome ${level(d.psi)}`, text: fmt.num(d.psi, 3) })),
      );
  if (drift && !drift.enough) rows.unshift(el("li", { className: "hint", text: `${drift.rows} decisions sampled: too few to judge yet` }));
  $("drift").replaceChildren(...rows);
}

// A transaction id opens its detail; otherwise a customer id, its latest payments.
async function search(event) {
  event.preventDefault();
  const id = $("search").value.trim();
  $("search-status").textContent = "";
  if (!id) return;
  try {
    await api(`v1/transactions/${encodeURIComponent(id)}`);
    await showDetail(id);
    return;
  } catch (error) {
    if (error instanceof Unauthorized || !(error instanceof ApiError) || error.status !== 404) return;
  }
  try {
    const customer = await api(`v1/customers/${encodeURIComponent(id)}`);
    openDrawer([
      el("h3", { text: `Customer ${customer.customer_id}` }),
      el("p", { className: "hint", text: `${customer.recent.length} latest payments, as of ${fmt.when(customer.as_of)}` }),
      el(
        "table",
        { className: "feed compact" },
        el(
          "tbody",
          {},
          ...customer.recent.map(({ transaction: t, decision: d }) =>
            el(
              "tr",
              { on: { click: () => showDetail(t.transaction_id) } },
              el("td", { text: fmt.when(t.timestamp) }),
              el("td", { className: "num", text: fmt.money(t.amount, t.currency) }),
              el("td", { text: t.merchant_id }),
              el("td", { className: "num", text: fmt.num(d.score, 3) }),
              el("td", {}, el("span", { className: `outcome ${d.outcome}`, text: d.outcome })),
            ),
          ),
        ),
      ),
    ]);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) $("search-status").textContent = "no such transaction or customer";
    else if (!(error instanceof Unauthorized)) console.warn(error);
  }
}

function filterFeed() {
  $("feed").dataset.show = $("feed-filter").value;
}

function openDrawer(children) {
  $("detail-body").replaceChildren(...children);
  $("detail").classList.add("open");
  $("detail").setAttribute("aria-hidden", "false");
}

function closeDetail() {
  $("detail").classList.remove("open");
  $("detail").setAttribute("aria-hidden", "true");
}

// -- start ------------------------------------------------------------------------------

async function main() {
  $("key-button").addEventListener("click", askKey);
  document.addEventListener("fraudstream:key", connect);
  $("search-form").addEventListener("submit", search);
  $("feed-filter").addEventListener("change", filterFeed);
  $("detail-close").addEventListener("click", closeDetail);
  document.addEventListener("keydown", (e) => e.key === "Escape" && closeDetail());
  await loadLand();
  connect();
  pollStats();
  setInterval(pollStats, 1000);
  setInterval(drawMap, 100);
  drawMap();
}

main();

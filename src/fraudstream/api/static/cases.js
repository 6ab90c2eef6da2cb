// fraudstream cases: a customer's flagged payments worked as one, in the live page's panel
// and drawer (common.js and app.js first: their helpers, the land outline, the drawer).
"use strict";

const ANALYST = "dashboard";

function ageText(c) {
  const hours = c.age_hours;
  const age = hours < 1 ? `${Math.round(hours * 60)} min` : hours < 48 ? `${hours.toFixed(1)} h` : `${(hours / 24).toFixed(1)} d`;
  return c.overdue ? `${age}, overdue` : age;
}

function caseItem(c) {
  const item = el("li", { dataset: { id: String(c.id) }, className: c.overdue ? "overdue" : "" });
  item.append(
    el(
      "div",
      { className: "line" },
      el("span", { className: "who", text: `${c.customer_id} · ${c.payments} payment${c.payments === 1 ? "" : "s"}`, on: { click: () => showCase(c.id) } }),
      el("span", { className: "outcome review", text: fmt.num(c.max_score, 3) }),
    ),
    el("div", { className: "why", text: `case ${c.id} · ${c.status}${c.assignee ? " to " + c.assignee : ""} · open ${ageText(c)}` }),
    el(
      "div",
      { className: "actions" },
      el("button", { className: "fraud", type: "button", text: "Confirm fraud", on: { click: () => caseVerdict(c.id, "fraud", []) } }),
      el("button", { className: "fraud", type: "button", text: "Fraud + block", title: "Confirm fraud and block the customer and the devices", on: { click: () => caseVerdict(c.id, "fraud", ["customer", "device"]) } }),
      el("button", { className: "legit", type: "button", text: "Legitimate", on: { click: () => caseVerdict(c.id, "legit", []) } }),
    ),
  );
  return item;
}

async function pollCases() {
  try {
    const [open, assigned] = await Promise.all([api("v1/cases?status=open&limit=25"), api("v1/cases?status=assigned&limit=25")]);
    const all = [...open.items, ...assigned.items].sort((a, b) => b.id - a.id);
    $("cases").replaceChildren(...all.map(caseItem));
    $("cases-count").textContent = String(all.length) + (open.next_before || assigned.next_before ? "+" : "");
    $("cases-empty").hidden = all.length > 0;
  } catch (error) {
    if (!(error instanceof Unauthorized)) console.warn(error);
  }
}

async function caseVerdict(id, verdict, block) {
  document.querySelectorAll(`#cases li[data-id="${id}"] button, #detail .case-actions button`).forEach((b) => (b.disabled = true));
  try {
    await api(`v1/cases/${id}`, { method: "PATCH", body: JSON.stringify({ verdict, block, analyst: ANALYST }) });
    await pollCases();
    if ($("detail").classList.contains("open")) await showCase(id);
  } catch (error) {
    if (!(error instanceof Unauthorized)) console.warn(error);
  }
}

async function assignCase(id) {
  try {
    await api(`v1/cases/${id}`, { method: "PATCH", body: JSON.stringify({ assignee: ANALYST }) });
    await Promise.all([pollCases(), showCase(id)]);
  } catch (error) {
    if (!(error instanceof Unauthorized)) console.warn(error);
  }
}

async function addNote(id, input) {
  const text = input.value.trim();
  if (!text) return;
  try {
    await api(`v1/cases/${id}/notes`, { method: "POST", body: JSON.stringify({ text, author: ANALYST }) });
    await showCase(id);
  } catch (error) {
    if (!(error instanceof Unauthorized)) console.warn(error);
  }
}

// The customer's payments on the map, zoomed on where they are, joined in time order.
function drawCaseMap(canvas, payments) {
  const located = payments.filter(({ transaction: t }) => t.latitude != null).reverse();
  const { ctx, width, height } = fit(canvas);
  ctx.fillStyle = "#0f1620";
  ctx.fillRect(0, 0, width, height);
  if (!located.length) return;
  const lons = located.map(({ transaction: t }) => t.longitude);
  const lats = located.map(({ transaction: t }) => t.latitude);
  const span = Math.max(8, Math.max(...lons) - Math.min(...lons), 2 * (Math.max(...lats) - Math.min(...lats))) * 1.4;
  const lon0 = (Math.max(...lons) + Math.min(...lons)) / 2 - span / 2;
  const lat0 = (Math.max(...lats) + Math.min(...lats)) / 2 + span / 4;
  const x = (lon) => ((lon - lon0) / span) * width;
  const y = (lat) => ((lat0 - lat) / (span / 2)) * height;
  drawLand(ctx, x, y);
  ctx.strokeStyle = COLORS.muted;
  ctx.beginPath();
  located.forEach(({ transaction: t }, i) => (i ? ctx.lineTo(x(t.longitude), y(t.latitude)) : ctx.moveTo(x(t.longitude), y(t.latitude))));
  ctx.stroke();
  for (const { transaction: t, decision: d } of located) {
    ctx.fillStyle = COLORS[d.outcome];
    ctx.beginPath();
    ctx.arc(x(t.longitude), y(t.latitude), d.outcome === "approve" ? 3 : 5, 0, 2 * Math.PI);
    ctx.fill();
  }
}

function paymentRow({ transaction: t, decision: d }) {
  const rules = d.rules.map((h) => el("span", { className: `tag ${h.action}`, text: h.id, title: `${h.action}, ${h.mode}` }));
  return el(
    "tr",
    { on: { click: () => showDetail(t.transaction_id) } },
    el("td", { text: fmt.when(t.timestamp) }),
    el("td", { className: "num", text: fmt.money(t.amount, t.currency) }),
    el("td", { text: `${t.merchant_id} · ${(t.channel || "").replace("_", " ")}` }),
    el("td", { text: [t.device_id, t.ip].filter(Boolean).join(" · "), title: "device · IP" }),
    el("td", { text: t.country || "" }),
    el("td", { className: "num", text: fmt.num(d.score, 3) }),
    el("td", {}, el("span", { className: `outcome ${d.outcome}`, text: d.outcome }), " ", ...rules),
  );
}

function paymentTable(rows) {
  return el("table", { className: "feed compact" }, el("tbody", {}, ...rows.map(paymentRow)));
}

async function showCase(id) {
  try {
    const { case: c, payments, recent, notes } = await api(`v1/cases/${id}`);
    const map = el("canvas", { className: "case-map", role: "img", "aria-label": "The customer's recent payments on the map" });
    const note = el("textarea", { rows: "2", placeholder: "Add a note", "aria-label": "Note" });
    const closed = c.status === "closed";
    const children = [
      el("h3", { text: `Case ${c.id} · ${c.customer_id}` }),
      el("p", { className: "hint", text: `${c.status}${c.assignee ? " to " + c.assignee : ""}${c.verdict ? ", verdict " + c.verdict : ""} · opened ${fmt.when(c.opened_at)} · open ${ageText(c)} · due ${fmt.when(c.due_at)}` }),
      closed
        ? el("p", { text: `Closed ${fmt.when(c.closed_at)}: its payments are labelled ${c.verdict}.` })
        : el(
            "div",
            { className: "actions case-actions" },
            el("button", { type: "button", text: "Assign to me", on: { click: () => assignCase(c.id) } }),
            el("button", { className: "fraud", type: "button", text: "Confirm fraud", on: { click: () => caseVerdict(c.id, "fraud", []) } }),
            el("button", { className: "fraud", type: "button", text: "Fraud + block", on: { click: () => caseVerdict(c.id, "fraud", ["customer", "device"]) } }),
            el("button", { className: "legit", type: "button", text: "Legitimate", on: { click: () => caseVerdict(c.id, "legit", []) } }),
          ),
      map,
      el("h2", { text: `Flagged payments (${payments.length})` }),
      paymentTable(payments),
      el("h2", { text: "Why" }),
      el(
        "ul",
        { className: "reasons" },
        ...payments.map(({ transaction: t, decision: d }) =>
          el("li", {}, el("strong", { text: `${fmt.when(t.timestamp)}, ${fmt.money(t.amount, t.currency)}: ` }), d.reasons.map((r) => r.text).join(" · ")),
        ),
      ),
      el("h2", { text: "Recent payments of the customer" }),
      paymentTable(recent),
      el("h2", { text: "Notes" }),
      el("ul", { className: "notes" }, ...notes.map((n) => el("li", { text: `${fmt.when(n.created_at)} · ${n.author || "?"}: ${n.text}` }))),
      el("div", { className: "note-form" }, note, el("button", { type: "button", text: "Add note", on: { click: () => addNote(c.id, note) } })),
    ];
    openDrawer(children);
    drawCaseMap(map, recent);
  } catch (error) {
    if (!(error instanceof Unauthorized)) console.warn(error);
  }
}

pollCases();
setInterval(pollCases, 3000);
document.addEventListener("fraudstream:key", pollCases);

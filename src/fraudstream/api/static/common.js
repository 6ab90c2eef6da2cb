// fraudstream dashboard: what every page shares (elements, formats, the API and its key).
// Every value from the API is put on the page as text (textContent), never as markup.
"use strict";

// The key lives as long as the tab: not in localStorage, which outlives it.
const session = { key: sessionStorage.getItem("fraudstream.key") || "", askingKey: false };

// -- small helpers --------------------------------------------------------------------

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "text") node.textContent = value;
    else if (name === "className") node.className = value;
    else if (name === "on") for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  return node;
}

const $ = (id) => document.getElementById(id);
const fmt = {
  int: (n) => (n == null ? "–" : Math.round(n).toLocaleString()),
  num: (n, d = 1) => (n == null ? "–" : Number(n).toFixed(d)),
  pct: (n) => (n == null ? "–" : (100 * n).toFixed(2) + " %"),
  ms: (n) => (n == null ? "–" : (n < 10 ? n.toFixed(2) : n.toFixed(0)) + " ms"),
  money: (a, c) => `${Number(a).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 })} ${c || ""}`,
  // Date, time and zone: what a record needs to be read without guessing.
  when: (iso) => {
    const d = new Date(iso);
    return isNaN(d) ? "–" : d.toISOString().slice(0, 19).replace("T", " ") + " UTC";
  },
};

class Unauthorized extends Error {}

// An answer other than success: its status and, for a 422, what each field got wrong.
class ApiError extends Error {
  constructor(path, status, body) {
    super(`${path}: ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  if (session.key) headers["X-API-Key"] = session.key;
  if (options.body) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401 || response.status === 403) {
    askKey();
    throw new Unauthorized(`${response.status}`);
  }
  if (!response.ok) {
    const text = await response.text();
    let body = text;
    try {
      body = JSON.parse(text);
    } catch (_) {
      // not JSON: kept as text
    }
    throw new ApiError(path, response.status, body);
  }
  return response.status === 204 ? null : response.json();
}

function askKey() {
  if (session.askingKey) return;
  session.askingKey = true;
  const dialog = $("key-dialog");
  $("key-input").value = session.key;
  dialog.showModal();
  dialog.addEventListener(
    "close",
    () => {
      session.askingKey = false;
      if (dialog.returnValue === "ok") {
        session.key = $("key-input").value.trim();
        sessionStorage.setItem("fraudstream.key", session.key);
        document.dispatchEvent(new Event("fraudstream:key"));
      }
    },
    { once: true },
  );
}

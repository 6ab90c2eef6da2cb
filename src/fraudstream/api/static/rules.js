// fraudstream rules page: the ruleset in force with its hits; a new rule tried on the
// stored history (POST v1/rules/backtest), then enabled (PUT v1/rules). common.js first.
"use strict";

const page = { rules: [], tried: null };

function actionOf(rule) {
  return typeof rule.action === "string" ? rule.action : `score_add ${rule.action.score_add > 0 ? "+" : ""}${rule.action.score_add}`;
}

async function loadRules() {
  try {
    const current = await api("v1/rules");
    page.rules = current.rules;
    $("version").textContent = current.version == null ? "no ruleset" : `ruleset v${current.version}`;
    $("source").textContent = current.version == null ? "" : `from ${current.source}, ${fmt.when(current.created_at)}`;
    $("rules-error").hidden = !current.error;
    $("rules-error").textContent = current.error ? `The latest stored ruleset is not in force: ${current.error}` : "";
    const tiers = current.lists.map((l) => ({ id: `list.${l.name}`, action: l.action, mode: "live", when: `on the ${l.action} list ${l.name} (a tier before the rules)` }));
    const rows = [...tiers, ...current.rules].map((r) => {
      const hits = current.hits[r.id] || { hour: 0, day: 0 };
      return el(
        "tr",
        { className: r.enabled === false ? "off" : "" },
        el("td", { text: r.id, title: r.description || "" }),
        el("td", {}, el("span", { className: `tag ${typeof r.action === "string" ? r.action : "score_add"}`, text: actionOf(r) })),
        el("td", { text: r.enabled === false ? "off" : r.mode }),
        el("td", { className: "when", text: r.when }),
        el("td", { className: "num", text: fmt.int(hits.hour) }),
        el("td", { className: "num", text: fmt.int(hits.day) }),
      );
    });
    $("rules").replaceChildren(...rows);
    $("rules-empty").hidden = rows.length > 0;
  } catch (error) {
    if (!(error instanceof Unauthorized)) console.warn(error);
  }
}

function candidate() {
  const action = $("rule-action").value;
  return {
    id: $("rule-id").value.trim(),
    when: $("rule-when").value.trim(),
    action: action === "score_add" ? { score_add: Number($("rule-add").value) } : action,
    mode: $("rule-mode").value,
  };
}

function withCandidate(rule) {
  return { rules: [...page.rules.filter((r) => r.id !== rule.id), rule] };
}

function showErrors(error) {
  const detail = error instanceof ApiError && Array.isArray(error.body?.detail) ? error.body.detail : null;
  const messages = detail ? detail.map((d) => d.msg) : [error instanceof ApiError && error.body?.detail ? error.body.detail : String(error.message)];
  $("try-errors").replaceChildren(...messages.map((m) => el("li", { text: m })));
}

async function tryRule(event) {
  event.preventDefault();
  const rule = candidate();
  $("try-errors").replaceChildren();
  $("enable").disabled = true;
  $("try-status").textContent = "replaying the stored history …";
  try {
    const body = {
      rules: withCandidate(rule),
      days: Number($("days").value),
      review_cost: Number($("review-cost").value),
      customer_value: Number($("customer-value").value),
    };
    const result = await api("v1/rules/backtest", { method: "POST", body: JSON.stringify(body) });
    const r = result.rules.find((x) => x.id === rule.id);
    $("rule-result").replaceChildren(
      el(
        "tr",
        {},
        el("td", { className: "num", text: fmt.int(r.hits) }),
        el("td", { className: "num", text: fmt.num(r.hits_per_day, 1) }),
        el("td", { className: "num", text: r.precision == null ? "–" : fmt.pct(r.precision) }),
        el("td", { className: "num", text: r.recall == null ? "–" : fmt.pct(r.recall) }),
        el("td", { className: "num", text: fmt.int(r.fraud_amount) }),
        el("td", { className: "num", text: fmt.int(r.good_amount) }),
        el("td", { className: "num", text: fmt.int(r.beyond_model) }),
      ),
    );
    $("policy-result").replaceChildren(
      ...result.policies.map((p) =>
        el(
          "tr",
          {},
          el("td", { text: p.name === "tested" ? "with the new rule" : p.name }),
          el("td", { className: "num", text: fmt.int(p.outcomes.decline) }),
          el("td", { className: "num", text: fmt.int(p.outcomes.review) }),
          el("td", { className: "num", text: fmt.num(p.reviews_per_day, 1) }),
          el("td", { className: "num", text: fmt.int(p.fraud_stopped) }),
          el("td", { className: "num", text: fmt.int(p.fraud_stopped_amount) }),
          el("td", { className: "num", text: fmt.int(p.false_positives) }),
          el("td", { className: "num", text: fmt.int(p.net_benefit) }),
        ),
      ),
    );
    $("try-result").hidden = false;
    $("try-status").textContent = `${fmt.int(result.transactions)} stored transactions, ${fmt.int(result.labelled_fraud)} labelled fraud, ${fmt.when(result.window.first)} to ${fmt.when(result.window.last)}`;
    $("try-warnings").replaceChildren(...result.warnings.map((w) => el("li", { text: w })));
    page.tried = rule;
    $("enable").disabled = false;
  } catch (error) {
    $("try-status").textContent = "";
    if (!(error instanceof Unauthorized)) showErrors(error);
  }
}

async function enableRule() {
  if (!page.tried) return;
  $("enable").disabled = true;
  try {
    const saved = await api("v1/rules", { method: "PUT", body: JSON.stringify(withCandidate(page.tried)) });
    $("try-status").textContent = `enabled: ruleset version ${saved.version} is in force from the next batch`;
    page.tried = null;
    await loadRules();
  } catch (error) {
    if (!(error instanceof Unauthorized)) showErrors(error);
  }
}

function main() {
  $("key-button").addEventListener("click", askKey);
  document.addEventListener("fraudstream:key", loadRules);
  $("try").addEventListener("submit", tryRule);
  $("enable").addEventListener("click", enableRule);
  for (const id of ["rule-id", "rule-when", "rule-action", "rule-add", "rule-mode"]) {
    $(id).addEventListener("input", () => ($("enable").disabled = true));
  }
  loadRules();
  setInterval(loadRules, 10_000);
}

main();

"""The dashboard in a real browser (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from fraudstream.config import Settings
from fraudstream.model.artifact import Model
from fraudstream.model.thresholds import Thresholds
from fraudstream.runtime import build_runtime
from fraudstream.server import Server

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("FRAUDSTREAM_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def tx(i: int, **changes: Any) -> dict[str, Any]:
    return {
        "transaction_id": f"ui-{i}",
        "timestamp": (T0 + timedelta(seconds=i)).isoformat(),
        "customer_id": f"C-ui-{i % 4}",
        "amount": 30.0 + i,
        "currency": "EUR",
        "merchant_id": "M-ui",
        "merchant_category": "grocery",
        "channel": "card_present",
        "latitude": 52.52,
        "longitude": 13.40,
        "country": "DE",
        **changes,
    }


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        message = f"no chromium at {CHROMIUM}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def server(trained_model: Model, tmp_path: Path) -> Iterator[Server]:
    # Everything goes to review, so the queue has work in it.
    reviewer = dataclasses.replace(trained_model, thresholds=Thresholds(0.0, 2.0, "test", {}))
    runtime = build_runtime(Settings(home=tmp_path), model=reviewer)
    server = Server(runtime, "127.0.0.1", 0)
    server.start()
    yield server
    server.stop()


def test_live_rows_review_and_detail(browser: Any, server: Server, tmp_path: Path) -> None:
    # Playwright's wait_for_function evaluates strings, which the dashboard's policy forbids.
    page = browser.new_page(viewport={"width": 1400, "height": 900}, bypass_csp=True)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url)
    page.wait_for_selector("#status[data-state=live]")
    # The feed's stream opening and the first stats poll race; the model name comes from the poll.
    page.wait_for_function("document.querySelector('#model').textContent.startsWith('model session-')")

    httpx.post(f"{server.url}/v1/score", json=[tx(i) for i in range(6)]).raise_for_status()
    page.wait_for_function("document.querySelectorAll('#feed tr').length >= 6")
    assert page.get_attribute("#feed tr:first-child", "data-id") == "ui-5"  # newest on top
    assert page.get_attribute("#feed tr:first-child", "class").startswith("review")

    # Everything went to review: one case per customer (four of them).
    page.wait_for_function("document.querySelectorAll('#cases li').length >= 4", timeout=10_000)
    target = page.get_attribute("#cases li:first-child", "data-id")
    page.click("#cases li:first-child button.fraud")
    page.wait_for_function(f"!document.querySelector('#cases li[data-id=\"{target}\"]')")
    store = server.runtime.service.store
    ids = store.cases.transaction_ids(store.cases.get(int(target)))
    assert len(ids) >= 1
    for tx_id in ids:
        stored = store.get(tx_id)
        assert stored is not None and [label.is_fraud for label in stored.labels] == [True]
        assert stored.reviews[0].analyst == "dashboard"

    page.click("#feed tr:first-child")
    page.wait_for_selector("#detail.open")
    assert "Why" in page.text_content("#detail-body")
    page.wait_for_function("document.querySelector('#kpi-total').textContent === '6'")  # a stats poll
    drift = page.locator("#drift li").all_text_contents()
    assert drift[0] == "6 decisions sampled: too few to judge yet" and drift[1].startswith("score") and len(drift) == 7
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    assert not errors


def test_markup_in_data_is_shown_as_text(browser: Any, server: Server) -> None:
    page = browser.new_page(bypass_csp=True)
    page.goto(server.url)
    page.wait_for_selector("#status[data-state=live]")
    evil = '<img src=x onerror="window.__pwned=1">'
    httpx.post(
        f"{server.url}/v1/score",
        json=tx(
            # Ids may not hold "/": markup in them has no closing tags.
            99,
            merchant_category=evil[:64],
            customer_id="<script>window.__pwned=2",
            merchant_id="<b>M",
        ),
    ).raise_for_status()
    page.wait_for_selector("#feed tr")
    page.wait_for_function("document.querySelectorAll('#cases li').length >= 1", timeout=10_000)
    page.click("#feed tr:first-child")
    page.wait_for_selector("#detail.open")
    assert page.evaluate("window.__pwned") is None
    page.keyboard.press("Escape")  # the drawer covers the cases
    page.click("#cases li:first-child .who")
    page.wait_for_selector("#detail .case-map")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#feed img, #cases img, #detail img, #feed script, #detail b").count() == 0
    assert "<script>window.__pwned=2" in page.text_content("#feed tr:first-child")


def test_the_dashboard_runs_under_its_content_security_policy(browser: Any, server: Server) -> None:
    page = browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(server.url)
    page.wait_for_selector("#status[data-state=live]")
    httpx.post(f"{server.url}/v1/score", json=[tx(i) for i in range(3)]).raise_for_status()
    page.wait_for_selector("#feed tr")
    page.click("#feed tr:first-child")
    page.wait_for_selector("#detail.open")
    assert not problems, problems


def test_rules_page_tries_a_rule_on_stored_history_then_enables_it(
    browser: Any, server: Server, tmp_path: Path
) -> None:
    url = server.url
    httpx.post(
        f"{url}/v1/score", json=[tx(i, amount=900.0 if i % 3 == 0 else 20.0) for i in range(12)]
    ).raise_for_status()
    httpx.post(f"{url}/v1/reviews", json={"transaction_id": "ui-3", "verdict": "fraud"}).raise_for_status()
    page = browser.new_page(viewport={"width": 1300, "height": 1000})  # under the real policy
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" and "422" not in m.text else None)
    page.goto(f"{url}/rules.html")
    page.wait_for_selector("#rules-empty:not([hidden])")
    assert page.text_content("#version") == "no ruleset"

    page.fill("#rule-id", "big_ones")
    page.fill("#rule-when", "amount > 500 and velocity > 1")  # a typo first: the error says where
    page.click("#test")
    page.wait_for_selector("#try-errors li")
    assert "unknown field 'velocity' (when: line 1, column 18)" in page.text_content("#try-errors")
    assert page.is_disabled("#enable")

    page.fill("#rule-when", "amount > 500")
    page.select_option("#rule-action", "block")
    page.click("#test")
    page.wait_for_selector("#try-result:not([hidden])")
    cells = page.locator("#rule-result td").all_text_contents()
    assert cells[0] == "4" and cells[2] == "25.00 %"  # hits, precision: 1 labelled fraud of 4
    policies = page.locator("#policy-result tr td:first-child").all_text_contents()
    assert policies == ["model", "with the new rule"]
    page.screenshot(path=str(tmp_path / "rules-tried.png"), full_page=True)

    page.click("#enable")
    page.wait_for_selector("#rules tr")
    assert page.text_content("#version") == "ruleset v1"
    assert page.locator("#rules tr td:first-child").all_text_contents() == ["big_ones"]
    current = httpx.get(f"{url}/v1/rules").json()
    assert current["version"] == 1 and current["rules"][0]["action"] == "block"
    decided = httpx.post(f"{url}/v1/score", json=tx(50, amount=700.0)).json()
    assert decided["outcome"] == "decline" and decided["rules"][0]["id"] == "big_ones"
    page.screenshot(path=str(tmp_path / "rules.png"), full_page=True)
    assert not problems, problems


def test_a_case_is_worked_from_the_queue_to_a_verdict_visible_on_its_payments(
    browser: Any, server: Server, tmp_path: Path
) -> None:
    far = [tx(i, customer_id="C-case", latitude=48.85 + i, longitude=2.35 - 3 * i) for i in range(3)]
    httpx.post(f"{server.url}/v1/score", json=far).raise_for_status()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(server.url)
    page.wait_for_selector("#cases li .who")
    assert "C-case · 3 payments" in page.text_content("#cases li:first-child")
    page.click("#cases li:first-child .who")
    page.wait_for_selector("#detail.open .case-actions")
    assert page.locator("#detail table.compact").first.locator("tr").count() == 3
    page.click("text=Assign to me")
    page.wait_for_selector("#detail-body p.hint:has-text('assigned to dashboard')")
    page.fill("#detail .note-form textarea", "three countries in an hour")
    page.click("#detail .note-form button")
    page.wait_for_selector("#detail .notes li")
    assert "three countries in an hour" in page.text_content("#detail .notes")
    page.screenshot(path=str(tmp_path / "case.png"), full_page=True)
    page.click("#detail .case-actions button.fraud >> nth=0")
    page.wait_for_selector("#detail-body >> text=its payments are labelled fraud")
    page.wait_for_selector("#cases-empty:not([hidden])")

    page.click("#detail table.compact tr >> nth=0")  # a payment of the case: its own detail
    page.wait_for_selector("#detail-body >> text=Feedback")
    assert "fraud · analyst" in page.text_content("#detail-body")
    assert not problems, problems


def test_the_feed_filters_by_outcome_and_finds_transactions_and_customers(browser: Any, server: Server) -> None:
    rules = {"rules": [{"id": "big", "when": "amount > 33", "action": "block"}]}
    httpx.put(f"{server.url}/v1/rules", json=rules).raise_for_status()
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(server.url)
    page.wait_for_selector("#status[data-state=live]")
    httpx.post(f"{server.url}/v1/score", json=[tx(i) for i in range(6)]).raise_for_status()  # 30..35: two over 33
    page.wait_for_selector("#feed tr:nth-child(6)")
    page.select_option("#feed-filter", "decline")
    assert page.locator("#feed tr:visible").count() == 2
    assert page.text_content("#feed tr:visible >> nth=0").count("UTC") == 1  # date, time and zone
    page.select_option("#feed-filter", "")
    assert page.locator("#feed tr:visible").count() == 6

    page.fill("#search", "ui-5")
    page.press("#search", "Enter")
    page.wait_for_selector("#detail.open >> text=Rules fired")
    assert "big" in page.text_content("#detail-body")
    page.fill("#search", "C-ui-1")
    page.press("#search", "Enter")
    page.wait_for_selector("#detail-body >> text=Customer C-ui-1")
    assert page.locator("#detail-body tr").count() == 2  # ui-1 and ui-5
    page.fill("#search", "nobody")
    page.press("#search", "Enter")
    page.wait_for_selector("#search-status:has-text('no such transaction or customer')")

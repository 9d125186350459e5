"""The viewer in a real browser: Debian's headless Chromium (scripts/install-chromium.sh) driven
by Playwright. One browser for the module. With FLUXLOOP_UPDATE_SCREENSHOT=1 it also refreshes
the screenshots in docs/."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.analysis.test_report_browser import chromium  # noqa: F401 - the shared fixture

from .conftest import Viewer, experiment_ids, start_viewer, stop_viewer

DOCS = Path(__file__).resolve().parents[2] / "docs"
WIDTH = 1280


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:  # noqa: F811
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser, viewer: Viewer) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": WIDTH, "height": 900}, base_url=viewer.url)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield tab
    finally:
        context.close()
    assert not errors, errors


def _ready(page: Page, path: str) -> None:
    page.wait_for_selector(f'body[data-ready="{path}"]')
    page.wait_for_selector("#loading", state="detached")  # the run table is built


def _fits(page: Page) -> None:
    """No horizontal scrolling at 1280 px: the layout holds."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= WIDTH, f"{page.url} is {width}px wide"


def _shot(page: Page, name: str) -> None:
    if os.environ.get("FLUXLOOP_UPDATE_SCREENSHOT") == "1":
        page.screenshot(path=str(DOCS / f"ui-{name}.png"), full_page=True)


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def untouched(served: Path) -> Iterator[None]:
    before = _snapshot(served)
    yield
    assert _snapshot(served) == before, "the viewer wrote into the data it serves"


def test_list_experiment_failures_run_tool_span_compare_regression(
    page: Page, viewer: Viewer, untouched: None
) -> None:
    ids = experiment_ids(viewer)
    page.goto("/")
    _ready(page, "/")
    expect(page.locator("#experiments tbody tr")).to_have_count(4)
    _fits(page)
    _shot(page, "list")

    page.click(f'tr[data-id="{ids["a"]}"] a')
    _ready(page, "/experiment")
    expect(page.locator("#run-count")).to_contain_text("of 20")
    page.select_option("select[name=status]", "failed")
    expect(page.locator("#run-count")).to_contain_text("6 of 6 matching (20 in all)")
    assert "status=failed" in page.url
    expect(page.locator("#run-table tbody tr")).to_have_count(6)
    _fits(page)
    _shot(page, "experiment")

    page.locator("#run-table tbody tr", has_text="order boom please").first.click()
    _ready(page, "/run")
    expect(page.locator("#run-error")).to_contain_text("RuntimeError: order service down")
    page.click('#span-tree li[data-type="tool"]')
    expect(page.locator("#span-detail h2")).to_contain_text("lookup_order")
    expect(page.locator("#span-input")).to_contain_text('"order_id"')
    expect(page.locator("#span-input")).to_contain_text('"boom"')
    expect(page.locator("#evaluation")).to_contain_text("basic_checks")
    expect(page.locator("#span-resource")).to_contain_text("service.name")
    assert "span=" in page.url
    _fits(page)
    _shot(page, "run")

    page.goto("/")
    _ready(page, "/")
    page.check(f'tr[data-id="{ids["a"]}"] input[type=checkbox]')
    page.check(f'tr[data-id="{ids["b"]}"] input[type=checkbox]')
    page.click("#compare-selected")
    _ready(page, "/compare")
    first = page.locator("#changed tbody tr").first
    expect(first).to_contain_text("regression")
    expect(first).to_contain_text("hello there")
    first.click()
    expect(page.locator("#diffs")).to_contain_text("new error in B at agent SupportAgent")
    expect(page.locator(".side-b .error-box")).to_contain_text("KeyError")
    expect(page.locator("#tree-b li.diff")).to_have_count(1)
    assert "ta=" in page.url and "tb=" in page.url
    _fits(page)
    _shot(page, "compare")


def test_keyboard_moves_through_run_table_and_span_tree(page: Page, viewer: Viewer) -> None:
    ids = experiment_ids(viewer)
    page.goto(f"/experiment?x={ids['a']}&q=refund")
    _ready(page, "/experiment")
    rows = page.locator("#run-table tbody tr")
    rows.first.focus()
    page.keyboard.press("ArrowDown")
    second = rows.nth(1).get_attribute("data-trace")
    assert page.evaluate("document.activeElement.dataset.trace") == second
    page.keyboard.press("Enter")
    _ready(page, "/run")
    assert f"trace={second}" in page.url

    tree = page.locator("#span-tree li")
    expect(tree).to_have_count(4)  # agent > lookup_order, refund, llm
    page.locator('#span-tree li[aria-selected="true"]').focus()
    page.keyboard.press("ArrowDown")
    expect(tree.nth(1)).to_have_attribute("aria-selected", "true")
    expect(page.locator("#span-detail h2")).to_contain_text("lookup_order")
    page.keyboard.press("End")
    expect(tree.nth(3)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("ArrowLeft")  # to the parent
    expect(tree.nth(0)).to_have_attribute("aria-selected", "true")
    expect(page.locator("#span-detail h2")).to_contain_text("SupportAgent")


def test_deep_links_open_the_same_page(page: Page, viewer: Viewer) -> None:
    ids = experiment_ids(viewer)
    page.goto(f"/experiment?x={ids['a']}&q=refund&persona=expert")
    _ready(page, "/experiment")
    expect(page.locator("#run-table tbody tr")).to_have_count(2)
    expect(page.locator("select[name=persona]")).to_have_value("expert")
    page.locator("#run-table tbody tr").first.click()
    _ready(page, "/run")
    page.click('#span-tree li[data-type="tool"] >> nth=1')
    link = page.url
    span = page.locator('#span-tree li[aria-selected="true"]').get_attribute("data-span")
    other = page.context.new_page()
    other.goto(link)
    _ready(other, "/run")
    expect(other.locator('#span-tree li[aria-selected="true"]')).to_have_attribute(
        "data-span", span or ""
    )
    expect(other.locator("#span-detail h2")).to_contain_text("refund")
    other.close()
    page.goto("/compare?a=..&b=..")
    _ready(page, "error")
    expect(page.locator(".notice.error")).to_contain_text("outside the served directory")


def test_multi_turn_conversation_links_each_turn_to_its_spans(page: Page, viewer: Viewer) -> None:
    ids = experiment_ids(viewer)
    page.goto(f"/experiment?x={ids['c']}")
    _ready(page, "/experiment")
    page.locator("#run-table tbody tr").first.click()
    _ready(page, "/run")
    messages = page.locator("#conversation .msg")
    expect(messages).to_have_count(6)
    expect(messages.nth(2)).to_contain_text("Do you offer refunds?")
    expect(messages.nth(3)).to_contain_text("Refunds within 30 days")
    messages.nth(3).get_by_role("button", name="spans").click()
    expect(page.locator("#span-detail h2")).to_contain_text("turn 2")
    selected = page.locator('#span-tree li[aria-selected="true"]')
    expect(selected).to_be_focused()
    page.keyboard.press("ArrowDown")  # the turn's agent span, then its tool call
    page.keyboard.press("ArrowDown")
    expect(page.locator("#span-detail h2")).to_contain_text("policy")
    expect(page.locator("#span-input")).to_contain_text('"refund"')


def test_a_running_experiment_updates_without_a_reload(
    browser: Browser, tmp_path: Path, ui_project: dict[str, Path]
) -> None:
    exp = tmp_path / "live" / "exp"
    shutil.copytree(ui_project["a"], exp, symlinks=True)
    summary = json.loads((exp / "summary.json").read_text())
    summary.update(status="running", pid=os.getpid())
    summary["results"].update(total_runs=5)
    (exp / "summary.json").write_text(json.dumps(summary))
    lines = (exp / "trace_summary.jsonl").read_text().splitlines(keepends=True)
    (exp / "trace_summary.jsonl").write_text("".join(lines[:5]))
    live = start_viewer(exp.parent, tmp_path / "state")
    context = browser.new_context(viewport={"width": WIDTH, "height": 900}, base_url=live.url)
    try:
        tab = context.new_page()
        tab.goto("/")
        _ready(tab, "/")
        row = tab.locator("#experiments tbody tr").first
        expect(row).to_contain_text("running")
        expect(row.locator("td").nth(4)).to_have_text("5 / 20")
        tab.goto("/experiment?x=exp")
        _ready(tab, "/experiment")
        expect(tab.locator("#run-count")).to_contain_text("of 5")
        with (exp / "trace_summary.jsonl").open("a") as fh:
            fh.write("".join(lines[5:9]))
        expect(tab.locator("#run-count")).to_contain_text("of 9", timeout=15000)
        summary.update(status="completed")
        summary["results"].update(total_runs=20)
        (exp / "summary.json").write_text(json.dumps(summary))
        tab.goto("/")
        _ready(tab, "/")
        expect(tab.locator("#experiments tbody tr").first).to_contain_text("complete")
    finally:
        context.close()
        stop_viewer(live)


CONTRAST = """
() => {
  const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const bg = (el) => {
    for (; el; el = el.parentElement) {
      const c = parse(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const el of document.querySelectorAll("h1, td, th button, a, .badge, .muted, label, .k, .notice")) {
    if (!el.textContent.trim() || !el.offsetParent) continue;
    out.push([el.className || el.tagName, parse(getComputedStyle(el).color).slice(0, 3), bg(el)]);
  }
  return out;
}
"""


def _luminance(rgb: list[float]) -> float:
    def channel(c: float) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_text_contrast_is_at_least_4_5(page: Page, viewer: Viewer) -> None:
    ids = experiment_ids(viewer)
    page.goto(f"/experiment?x={ids['a']}")
    _ready(page, "/experiment")
    pairs: list[Any] = page.evaluate(CONTRAST)
    assert pairs
    for name, fg, bg in pairs:
        light, dark = sorted([_luminance(fg), _luminance(bg)], reverse=True)
        ratio = (light + 0.05) / (dark + 0.05)
        assert ratio >= 4.5, (name, fg, bg, ratio)

"""The HTML report: downsampling, SVG plots, escaping, self-containment, and a real headless Chromium."""

from __future__ import annotations

import json
import math
import re
import shutil
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from trainaudit import audit
from trainaudit.cli import main
from trainaudit.evidence.logs.sampling import downsample, series_entry, series_section
from trainaudit.evidence.logs.series import LogEvidence, LogFile, Series
from trainaudit.finding import Finding, Location, Severity
from trainaudit.report import render
from trainaudit.report.html import marker_steps, render_html, svg_plot
from trainaudit.report.model import Report
from trainaudit.verdict import Verdict

REPO = Path(__file__).resolve().parents[2]
PLACEHOLDER = REPO / "examples" / "placeholder-run"
EVIL_TAG = "<script>alert(1)</script>"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


# --- downsampling ------------------------------------------------------------------------------------
def test_downsample_keeps_short_series_whole_with_non_finite_as_null():
    steps, values = downsample([0, 1, 2, 3], [1.0, math.nan, math.inf, 0.5], limit=10)
    assert steps == [0, 1, 2, 3]
    assert values == [1.0, None, None, 0.5]


def test_downsample_bounds_size_and_keeps_first_last_spikes_and_nans():
    n = 200_000
    steps = list(range(0, 2 * n, 2))
    values = [1.0 / (1 + i / 1000) + 0.01 * ((i * 7919) % 13) / 13 for i in range(n)]
    values[123_457] = 1e6  # a spike
    values[77_777] = -5.0  # a dip below everything
    values[150_001] = math.nan
    values[150_002] = math.nan  # same bucket: the first NaN is kept
    values[9] = math.inf
    got_steps, got_values = downsample(steps, values, limit=2000)
    assert 1000 < len(got_steps) <= 2000
    assert got_steps[0] == 0 and got_steps[-1] == steps[-1]
    assert got_values[0] == values[0] and got_values[-1] == values[-1]
    assert got_steps == sorted(got_steps)  # file order
    assert got_values[got_steps.index(steps[123_457])] == 1e6
    assert got_values[got_steps.index(steps[77_777])] == -5.0
    assert steps[150_001] in got_steps and got_values[got_steps.index(steps[150_001])] is None
    assert got_values[got_steps.index(steps[9])] is None
    finite = [v for v in got_values if v is not None]
    assert max(finite) == 1e6 and min(finite) == -5.0  # the plot's range is the whole series' range


def test_downsample_limit_is_exact_upper_bound_and_sane():
    for n in (6, 7, 50, 1001):
        for limit in (5, 6, 11, 100):
            s, v = downsample(list(range(n)), [float(i % 7) for i in range(n)], limit=limit)
            assert len(s) <= limit and len(s) == len(v)
            assert s[0] == 0 and s[-1] == n - 1
    with pytest.raises(ValueError):
        downsample([1, 2, 3], [1.0, 2.0, 3.0], limit=4)


def test_series_entry_is_small_json_with_counts():
    s = Series("train/loss", "runs/a/events.out.tfevents.1")
    for i in range(200_000):
        s.add(i, math.nan if i in (5, 99_999) else 1.0 / (i + 1))
    entry = series_entry(s)
    text = json.dumps(entry, allow_nan=False)  # standard JSON: NaN became null
    assert len(text) < 60_000
    assert entry["points"] == 200_000 and entry["non_finite"] == 2 and entry["first_non_finite_step"] == 5
    assert len(entry["steps"]) <= 2000 and None in entry["values"]
    assert {k for k in entry} >= {"tag", "source", "run", "points", "steps", "values"}


def test_series_section_lists_files_even_without_points():
    ev = LogEvidence(files=[LogFile("runs/x/events.out.tfevents.1", "tfevents", records=1)])
    section = series_section(ev)
    assert section["series"] == []
    assert section["files"][0]["path"] == "runs/x/events.out.tfevents.1" and section["files"][0]["points"] == 0


# --- SVG plots ---------------------------------------------------------------------------------------
def _svg(text: str) -> ET.Element:
    return ET.fromstring(text)  # the inline SVG is well-formed XML


def test_svg_plot_draws_axes_labels_gaps_nan_ticks_and_markers():
    steps = list(range(10))
    values = [5.0, 4.0, 3.0, None, 2.0, 1.5, 1.0, 0.9, 0.8, 0.7]
    root = _svg(svg_plot(steps, values, label="loss <b>", markers=[(3, "nan-values at step 3")]))
    assert root.get("role") == "img" and root.get("aria-label") == "loss <b>"
    paths = {p.get("class"): p.get("d") for p in root.iter("path")}
    assert paths["line"].count("M") == 2  # the NaN breaks the line
    assert paths["nan"].count("M") == 1
    texts = [t.text for t in root.iter("text")]
    assert "5" in texts and "0.7" in texts  # max and min
    assert "0" in texts and "9" in texts  # first and last step
    assert "step 3" in texts  # the finding's marker
    assert any(t.text == "nan-values at step 3" for t in root.iter("title"))


def test_svg_plot_handles_empty_constant_and_all_nan_series():
    assert "no points" in svg_plot([], [], label="x")
    root = _svg(svg_plot([0, 1, 2], [2.0, 2.0, 2.0], label="c"))
    assert "NaN" not in "".join(p.get("d") for p in root.iter("path"))
    assert "every point is NaN/Inf" in svg_plot([0, 1], [None, None], label="n")
    one = _svg(svg_plot([7], [1.0], label="one"))
    assert len(list(one.iter("circle"))) == 1


def test_svg_plot_of_long_series_stays_small():
    steps = list(range(2000))
    text = svg_plot(steps, [math.sin(i / 50) for i in steps], label="s")
    assert len(text) < 20_000


def test_marker_steps_take_events_not_ranges():
    nan = Finding("nan-values", "TA503", Severity.ERROR, "m", Location("a"), {"tag": "t", "first_step": 40})
    trend = Finding("loss-not-decreasing", "TA504", Severity.ERROR, "m", Location("a"),
                    {"tag": "t", "first_step": 0, "last_step": 99})
    assert marker_steps([nan, trend]) == [(40, "nan-values at step 40")]


# --- whole reports -----------------------------------------------------------------------------------
class _Checker(HTMLParser):
    """Balanced tags, unique ids, no script, no inline event handler, no external resource."""

    VOID = {"meta", "link", "br", "img", "input", "hr", "wbr", "source", "area", "base", "col", "embed",
            "track", "path", "circle", "rect", "line"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.ids: list[str] = []
        self.errors: list[str] = []
        self.svgs = 0

    def handle_starttag(self, tag, attrs):
        self._attrs(tag, attrs)
        if tag == "svg":
            self.svgs += 1
        if tag == "script":
            self.errors.append("script element")
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self._attrs(tag, attrs)

    def _attrs(self, tag, attrs):
        for name, value in attrs:
            if name.startswith("on"):
                self.errors.append(f"inline handler {name} on {tag}")
            if name == "id":
                self.ids.append(value)
            if name in ("src", "href") and value and not value.startswith(("#", "data:")):
                self.errors.append(f"external {name}={value}")

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unbalanced </{tag}> (open: {self.stack[-3:]})")
            return
        self.stack.pop()


def check_html(text: str) -> _Checker:
    assert text.startswith("<!DOCTYPE html>")
    c = _Checker()
    c.feed(text)
    c.close()
    assert not c.errors, c.errors[:5]
    assert not c.stack, c.stack
    assert len(c.ids) == len(set(c.ids)), "duplicate ids"
    assert '<html lang="en">' in text and "<title>" in text
    assert not re.search(r"https?://", text), "a URL in a self-contained page"
    assert "@import" not in text and "url(" not in text
    return c


def test_placeholder_run_html():
    report = audit(PLACEHOLDER)
    text = render(report, "html")
    c = check_html(text)
    assert report.verdict is Verdict.INVALID
    assert '<span class="verdict" id="verdict">INVALID</span>' in text
    assert c.svgs == len(report.sections["series"]["series"]) == 0  # the writer logged nothing
    assert "No scalar points in this file" in text
    for f in report.findings:
        assert f.code in text
    assert "holds no scalar points" in text and "SimpleGNNViTHybrid" in text
    assert "<details><summary>Evidence</summary>" in text


def _write_tb_project(root: Path) -> Path:
    """A small project with a real multi-series TensorBoard log (NaN included) written by SummaryWriter."""
    pytest.importorskip("torch")
    pytest.importorskip("tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    root.mkdir(parents=True, exist_ok=True)
    (root / "train.py").write_text(
        "import torch\n"
        "from torch.utils.tensorboard import SummaryWriter\n\n"
        "model = torch.nn.Linear(4, 1)\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "writer = SummaryWriter('runs/exp')\n"
        "for step in range(60):\n"
        "    x, y = torch.randn(8, 4), torch.randn(8, 1)\n"
        "    loss = torch.nn.functional.mse_loss(model(x), y)\n"
        "    opt.zero_grad()\n"
        "    loss.backward()\n"
        "    opt.step()\n"
        "    writer.add_scalar('train/loss', loss.item(), step)\n",
        encoding="utf-8",
    )
    w = SummaryWriter(str(root / "runs" / "exp"))
    for step in range(60):
        w.add_scalar("train/loss", math.nan if step == 40 else 2.0 * 0.95 ** step + 0.03 * ((step * 37) % 7), step)
        if step % 5 == 0:
            w.add_scalar("val/accuracy", 0.5 + step / 150 + 0.01 * (step % 3), step)
        if step < 6:
            w.add_scalar(EVIL_TAG, math.inf if step == 3 else float(step), step)
    w.close()
    return root


def test_tensorboard_project_html_plots_every_series_and_escapes(tmp_path):
    report = audit(_write_tb_project(tmp_path))
    section = report.sections["series"]
    tags = {s["tag"] for s in section["series"]}
    assert tags == {"train/loss", "val/accuracy", EVIL_TAG}
    json.dumps(section, allow_nan=False)  # JSON-serialisable as is
    loss = next(s for s in section["series"] if s["tag"] == "train/loss")
    assert loss["non_finite"] == 1 and loss["first_non_finite_step"] == 40 and loss["values"][40] is None

    text = render_html(report)
    c = check_html(text)
    assert c.svgs == len(section["series"]) == 3
    assert EVIL_TAG not in text and escape_of(EVIL_TAG) in text
    nan_findings = [f for f in report.findings if f.rule == "nan-values"]
    assert any(EVIL_TAG in f.message for f in nan_findings)  # the project's text reached a finding...
    assert "step 40" in text  # ...and the first NaN step is marked on the loss plot
    # The loss plot sits in the same log-file card as the nan-values finding about it.
    card = text[text.index('<article class="logfile">'):]
    card = card[:card.index("</article>")]
    assert "nan-values" in card and 'aria-label="Line chart of train/loss' in card
    assert "figure class=\"plot flag-" in card


def escape_of(s: str) -> str:
    import html

    return html.escape(s, quote=True)


def _fake_report(message: str, path: str = "train.py") -> Report:
    finding = Finding("synthetic-data", "TA102", Severity.ERROR, message, Location(path, 3),
                      {"why": "</pre><script>alert(2)</script>", "x": math.nan}, snippet="x = '<b>'")
    return Report(root="/p/<proj>", verdict=Verdict.INVALID, reasons=["1 error finding(s): <i>synthetic-data</i>"],
                  findings=[finding], rules=[], spec={"model": "a.<B>"}, inferred=["note <u>"],
                  facts={"files_analysed": 1, "files_unreadable": 0, "entry_points": ["t<r>.py"],
                         "trained_classes": []},
                  sections={"claims": {"summary": "1 claim: <x>", "documents": [{"path": "S<T>.md"}],
                                       "claims": [{"status": "contradicted", "path": "S<T>.md", "line": 2,
                                                   "kind": "params", "text": "<img src=x onerror=alert(3)>",
                                                   "evidence": ["<a href='http://x' id=evil>"]}]},
                            "trace": {"note": "<svg onload=alert(4)>"}})


def test_everything_from_the_project_is_escaped():
    text = render_html(_fake_report("batches from <script>alert(1)</script> & \"quotes\"", path='a"b.py'))
    check_html(text.replace("http://x", "x"))  # the only URL is the claim's own (escaped) text
    for raw in ("<script>", "<img", "<svg onload", "<a href='", "<b>", "<i>", "<u>", "<proj>", "<B>", "<T>", "<r>",
                "<x>"):
        assert raw not in text, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;" in text
    assert "a&quot;b.py:3" in text
    assert "&lt;/pre&gt;&lt;script&gt;alert(2)" in text
    assert "contradicted" in text and "trace (evidence section)" in text


def test_cli_writes_html(tmp_path):
    out = tmp_path / "report.html"
    code = main(["audit", str(PLACEHOLDER), "--format", "html", "-o", str(out)])
    assert code == 1
    check_html(out.read_text(encoding="utf-8"))


# --- a real browser ----------------------------------------------------------------------------------
def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return found or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install -e '.[test]')")
    exe = _chromium()
    if exe is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _open(browser, path: Path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    requests: list[str] = []
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning")
            else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.resolve().as_uri(), wait_until="load")
    return page, problems, requests


def test_browser_renders_placeholder_run(browser, tmp_path):
    out = tmp_path / "placeholder.html"
    out.write_text(render_html(audit(PLACEHOLDER)), encoding="utf-8")
    page, problems, requests = _open(browser, out)
    try:
        verdict = page.locator("#verdict")
        assert verdict.is_visible() and verdict.inner_text() == "INVALID"
        assert page.title().endswith("INVALID")
        assert page.get_by_text("checkpoint-mismatch").first.is_visible()
        assert not problems, problems
        assert requests == [out.resolve().as_uri()], requests  # nothing fetched but the page itself
    finally:
        page.close()


def test_browser_renders_plots(browser, tmp_path):
    project = _write_tb_project(tmp_path / "proj")
    out = tmp_path / "tb.html"
    out.write_text(render_html(audit(project)), encoding="utf-8")
    page, problems, requests = _open(browser, out)
    try:
        assert page.locator("#verdict").is_visible()
        plots = page.locator("svg.chart")
        assert plots.count() == 3
        for i in range(3):
            box = plots.nth(i).bounding_box()
            assert box and box["width"] > 100 and box["height"] > 40, box
        assert page.locator("svg.chart path.line").count() == 3
        assert page.get_by_text(EVIL_TAG).first.is_visible()  # shown as text, not run
        assert not problems, problems
        assert requests == [out.resolve().as_uri()], requests
    finally:
        page.close()

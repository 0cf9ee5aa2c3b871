"""`harness dashboard`: the page's numbers against results.tsv, its warnings, its scale,
and the served page loaded by a real headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest

from harness.config import load_config
from harness.layout import find_layout
from harness.loop.ideas import new_idea, set_status
from harness.record.results import append_rows, new_run_id, read_results
from harness.reports.dashboard import collect, render
from harness.reports.webserver import DashboardServer
from tests.conftest import commit_config

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def row(idea: str, seed: int, value: float | None, **changes: object) -> dict[str, object]:
    values: dict[str, object] = {
        "run_id": new_run_id(),
        "timestamp": "2026-11-23T10:00:00Z",
        "idea": idea,
        "branch": "main" if idea == "baseline" else f"exp/{idea}",
        "commit": "abc1234",
        "dirty": False,
        "seed": seed,
        "metric": "val_bpb",
        "value": value,
        "status": "ok",
        "duration_s": 12.5,
        "question": f"does {idea} help?",
        "hypothesis": "expect -0.05",
        "expected": "-0.05",
        "integrity": "ok",
        "host": "test",
    }
    values.update(changes)
    return values


@pytest.fixture
def record(research_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with a baseline, three ideas, a crash and an integrity-flagged run."""
    monkeypatch.setenv("HARNESS_QUEUE", "local")
    layout = find_layout(research_repo)
    for slug, title in (("wider", "A wider layer"), ("warmup", "LR warmup"), ("deep", "Depth")):
        new_idea(layout, slug=slug, title=title, hypothesis="")
    set_status(layout, "wider", "submitted", force=True)
    rows = [row("baseline", s, v) for s, v in enumerate((2.213, 2.215, 2.217))]
    rows += [row("wider", s, v) for s, v in enumerate((2.101, 2.105, 2.098))]
    rows += [row("warmup", s, v) for s, v in enumerate((2.214, 2.212, 2.216))]
    rows += [row("deep", 0, None, status="crash", description="Traceback <b>boom</b>")]
    rows += [row("deep", 1, 1.5, integrity="modified")]
    append_rows(layout, rows)
    return research_repo


def test_the_page_numbers_match_results_tsv(record: Path, cli) -> None:
    result = cli("dashboard", cwd=record)
    assert result.code == 0, result.err
    page = (record / "9_reports" / "index.html").read_text()
    assert result.out.strip() == str(record / "9_reports" / "index.html")

    frame = read_results(record / "results.tsv")
    ok = frame.filter((frame["status"] == "ok") & (frame["integrity"] == "ok"))
    means = {}
    for idea in ("baseline", "wider", "warmup"):
        values = ok.filter(ok["idea"] == idea)["value"].to_list()
        means[idea] = statistics.fmean(values)
        cells = board_row(page, idea)
        assert cells[2] == f"{means[idea]:.4f} ± {statistics.stdev(values):.4f}"
        assert cells[3] == "3"
    assert board_row(page, "wider")[4] == f"{means['wider'] - means['baseline']:+.4f}"
    assert board_row(page, "warmup")[5] == "–"  # no run of main's code: no head to set against
    assert board_row(page, "wider")[6] == "-0.05: seen"  # a signed change, judged by size
    assert board_row(page, "warmup")[6] == "-0.05: not seen"
    assert not board_row(page, "baseline")[6]
    assert board_row(page, "wider")[7].startswith("beats baseline")
    assert board_row(page, "warmup")[7].startswith("within the noise")
    assert board_row(page, "wider")[8] == "submitted"
    order = re.findall(r'class="board-row" data-idea="([^"]+)"', page)
    assert order == ["wider", "warmup", "baseline"], "best first; invalid runs never ranked"
    assert "deep" not in order and "1.5000" not in page  # the flagged run never counts
    assert 'id="best-value"' not in page  # the best is the head of the line, not measured here
    assert "runs <b>11</b> (9 valid, 1 failed, 1 flagged)" in page


def board_row(page: str, idea: str) -> list[str]:
    match = re.search(rf'<tr class="board-row" data-idea="{idea}">(.*?)</tr>', page, re.S)
    assert match, f"no leaderboard row for {idea}"
    cells = re.findall(r"<td[^>]*>(.*?)</td>", match.group(1), re.S)
    return [
        " ".join(unescape(re.sub(r"<div.*?</div>|<[^>]+>", " ", cell, flags=re.S)).split())
        for cell in cells
    ]


def test_crashes_and_flags_are_shown_apart_and_escaped(record: Path, cli) -> None:
    cli("dashboard", cwd=record)
    page = (record / "9_reports" / "index.html").read_text()
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert svg.count('class="failed"') == 1
    assert svg.count('class="modified') == 1
    assert svg.count('class="win"') == 3, "the submitted idea's runs are marked"
    assert "<b>boom</b>" not in page, "text from the record is escaped"
    assert "1 run(s) ran with FROZEN files that differ from main" in page
    assert "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )


def test_warnings_for_noise_slots_and_budget(research_repo: Path, cli) -> None:
    layout = find_layout(research_repo)
    commit_config(research_repo, lambda text: text.replace("# max_runs = 200", "max_runs = 4"))
    program = research_repo / "program.md"
    program.write_text(program.read_text() + "\n{FILL_IN: the stopping rule}\n")
    append_rows(layout, [row("baseline", s, v) for s, v in enumerate((2.0, 2.3, 2.6, 2.1))])
    data = collect(layout, load_config(research_repo), out_dir=layout.reports_dir)
    texts = [w.text for w in data.warnings]
    assert any("baseline noise" in t and "above min_effect" in t for t in texts)
    assert "run budget: 4 of 4 runs spent" in texts
    assert "program.md has 1 unfilled {FILL_IN} slot(s)" in texts


def test_an_empty_record_renders(research_repo: Path, cli) -> None:
    result = cli(
        "dashboard", "--out", str(research_repo / "elsewhere" / "page.html"), cwd=research_repo
    )
    assert result.code == 0
    page = (research_repo / "elsewhere" / "page.html").read_text()
    assert "No valid runs yet" in page and "no runs of val_bpb yet" in page


def test_ten_thousand_runs_and_500_ideas_stay_readable(research_repo: Path) -> None:
    """Readability at scale: the leaderboard folds all but the top rows, the plot stays one
    SVG. (The render time is measured by bench/dashboard.py, not asserted here.)"""
    layout = find_layout(research_repo)
    rows = [
        row(f"idea-{i % 500}", i // 500, 2.3 - (i % 500) * 1e-4 + (i % 7) * 1e-3)
        for i in range(10_000)
    ]
    append_rows(layout, rows)
    data = collect(layout, load_config(research_repo), out_dir=layout.reports_dir, with_queue=False)
    page = render(data)
    assert len(data.leaderboard) == 500
    shown = page[: page.index("<details><summary>475 more ideas</summary>")]
    assert shown.count('class="board-row"') == 25
    assert page.count("<svg") == 1
    assert page.count("<circle") + page.count(' off"><title>') == 10_000


@pytest.fixture
def served(record: Path) -> Iterator[str]:
    from harness.reports.dashboard import Refresher

    layout = find_layout(record)
    refresher = Refresher(layout, load_config(record), refresh_seconds=5)
    server = DashboardServer(
        layout.reports_dir, host="127.0.0.1", port=0, before_index=refresher.render_if_changed
    )
    server.start_in_thread()
    yield server.url
    server.stop()


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        if os.environ.get("HARNESS_REQUIRE_CHROMIUM") == "1":
            pytest.fail("HARNESS_REQUIRE_CHROMIUM=1 but chromium is not installed")
        pytest.skip("chromium is not installed (apt-get install chromium); CI installs it")
    argv = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-quic", "--disable-features=MediaRouter,OptimizationHints",
        f"--user-data-dir={profile}", *args,
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def test_headless_chromium_renders_the_served_page(served: str, tmp_path: Path) -> None:
    loaded = chromium("--dump-dom", served, profile=tmp_path / "profile")
    dom = loaded.stdout
    assert "board-row" in dom, loaded.stderr[-2000:]
    assert re.findall(r'class="board-row" data-idea="([^"]+)"', dom) == [
        "wider",
        "warmup",
        "baseline",
    ]
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in dom and 'class="best"' in dom
    shot = tmp_path / "dashboard.png"
    chromium(f"--screenshot={shot}", "--window-size=1280,1400", served, profile=tmp_path / "p2")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    target = os.environ.get("HARNESS_SCREENSHOT_DIR")
    if target:  # keep it to look at
        shutil.copy(shot, Path(target) / "dashboard.png")


def test_serve_binds_to_loopback_by_default_and_refuses_writes(record: Path) -> None:
    import http.client
    import sys

    server = subprocess.Popen(
        [sys.executable, "-m", "harness", "dashboard", "--serve", "--port", "0"],
        cwd=record,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = server.stdout.readline().strip()  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:"), url
        port = int(url.rsplit(":", 1)[1].strip("/"))
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/")
        response = connection.getresponse()
        assert response.status == 200 and b'data-idea="wider"' in response.read()
        connection.request("POST", "/index.html", body=b"x")
        assert connection.getresponse().status == 405
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_served_page_is_re_rendered_when_the_record_changes(record: Path) -> None:
    """A new run appears on the next request; an unchanged record is not rendered again."""
    import http.client

    from harness.reports.dashboard import Refresher

    layout = find_layout(record)
    refresher = Refresher(layout, load_config(record), refresh_seconds=3600)  # never stale
    server = DashboardServer(
        layout.reports_dir, host="127.0.0.1", port=0, before_index=refresher.render_if_changed
    )
    server.start_in_thread()
    host, port = server.httpd.server_address[:2]

    def page() -> str:
        connection = http.client.HTTPConnection(str(host), port, timeout=30)
        connection.request("GET", "/")
        body = connection.getresponse().read().decode()
        connection.close()
        return body

    try:
        first = page()
        assert 'data-idea="wider"' in first and 'data-idea="latecomer"' not in first
        rendered = (layout.reports_dir / "index.html").stat().st_mtime_ns
        assert page() == first
        assert (layout.reports_dir / "index.html").stat().st_mtime_ns == rendered
        append_rows(layout, [row("latecomer", 0, 2.0)])
        assert 'data-idea="latecomer"' in page()
    finally:
        server.stop()

"""The dashboard's web server serves the reports folder and nothing else, read-only."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.reports.webserver import DashboardServer


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[DashboardServer, Path, list[int]]]:
    repo = tmp_path / "repo"
    reports = repo / "9_reports"
    reports.mkdir(parents=True)
    (reports / "index.html").write_text("<html>dashboard</html>")
    (reports / "2026-01-01_wider.png").write_bytes(b"\x89PNG fake")
    (reports / "2026-01-01_wider.md").write_text("# report")
    (reports / "sub").mkdir()
    (reports / "sub" / "note.md").write_text("inside")
    (repo / "secret.txt").write_text("outside the reports folder")
    (repo / "eval.py").write_text("print('frozen')")
    (reports / "escape.md").symlink_to(repo / "secret.txt")
    (reports / "escape-dir").symlink_to(repo)
    (reports / "run.sh").write_text("echo not served")
    refreshed: list[int] = []
    server = DashboardServer(
        reports, host="127.0.0.1", port=0, before_index=lambda: refreshed.append(1)
    )
    server.start_in_thread()
    yield server, reports, refreshed
    server.stop()


def request(server: DashboardServer, method: str, path: str) -> tuple[int, bytes, dict]:
    host, port = server.httpd.server_address[:2]
    connection = http.client.HTTPConnection(str(host), port, timeout=10)
    connection.putrequest(method, path, skip_accept_encoding=True)
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body, dict(response.getheaders())


def test_the_page_and_report_files_are_served(served) -> None:
    server, _, refreshed = served
    status, body, headers = request(server, "GET", "/")
    assert (status, body) == (200, b"<html>dashboard</html>")
    assert headers["Content-Type"].startswith("text/html")
    assert refreshed == [1], "the page is re-rendered before it is served"
    assert request(server, "GET", "/2026-01-01_wider.png")[1] == b"\x89PNG fake"
    assert request(server, "GET", "/sub/note.md")[:2] == (200, b"inside")
    assert request(server, "GET", "/index.html?x=1")[0] == 200
    status, body, _ = request(server, "HEAD", "/")
    assert (status, body) == (200, b"")


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/sub%2f..%2f..%2fsecret.txt",
        "/%2E%2E%2Feval.py",
        "/..%5csecret.txt",
        "//etc/passwd",
        "/etc/passwd",
        "/escape.md",
        "/escape-dir/secret.txt",
        "/escape-dir/eval.py",
        "/run.sh",
        "/missing.png",
        "/index.html%00.png",
    ],
)
def test_nothing_outside_the_reports_folder_is_served(served, path: str) -> None:
    server, _, _ = served
    status, body, _ = request(server, "GET", path)
    assert status == 404
    assert b"outside the reports folder" not in body and b"frozen" not in body


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_every_method_but_get_and_head_is_refused(served, method: str) -> None:
    server, reports, _ = served
    status, _, headers = request(server, method, "/index.html")
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"
    assert (reports / "index.html").read_text() == "<html>dashboard</html>"

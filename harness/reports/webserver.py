"""A read-only web server for the dashboard: the page and the files under `9_reports/`.

Nothing can be changed through it: only GET and HEAD are answered (anything else is 405),
and only regular files inside the reports folder are served. A path with `..`, an encoded
slash or backslash, a NUL, or a symlink leading outside the folder gets 404, whatever the
URL says. It binds to loopback unless told otherwise.
"""

from __future__ import annotations

import posixpath
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".md": "text/plain; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
}
INDEX = "index.html"


def resolve_request_path(folder: Path, raw_path: str) -> Path | None:
    """The file under `folder` a request path names, or None when it must not be served."""
    path = urlsplit(raw_path).path
    lowered = path.lower()
    if "%2f" in lowered or "%5c" in lowered or "%00" in lowered or "\\" in path:
        return None
    decoded = unquote(path)
    if "\x00" in decoded or not decoded.startswith("/"):
        return None
    parts = [part for part in decoded.split("/") if part]
    if any(part in ("..", ".") for part in parts):
        return None
    relative = posixpath.join(*parts) if parts else INDEX
    base = folder.resolve()
    target = (base / relative).resolve()
    if target != base and base not in target.parents:
        return None  # a symlink out of the folder
    if target.is_dir():
        target = target / INDEX
    if not target.is_file() or target.suffix not in CONTENT_TYPES:
        return None
    return target


def make_handler(folder: Path, before_index: Callable[[], None]) -> type[BaseHTTPRequestHandler]:
    """A handler class serving `folder`; `before_index` refreshes the page before it is sent."""

    class DashboardHandler(BaseHTTPRequestHandler):
        server_version = "harness-dashboard"

        def do_GET(self) -> None:
            self._serve(send_body=True)

        def do_HEAD(self) -> None:
            self._serve(send_body=False)

        def _refuse(self) -> None:
            self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
            self.send_header("Allow", "GET, HEAD")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

        def _serve(self, *, send_body: bool) -> None:
            if urlsplit(self.path).path in ("/", f"/{INDEX}"):
                before_index()  # may write the page for the first time
            target = resolve_request_path(folder, self.path)
            if target is None:
                self.send_error(HTTPStatus.NOT_FOUND, "not found")
                return
            body = target.read_bytes()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", CONTENT_TYPES[target.suffix])
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: the terminal shows the URL once, not every refresh

    return DashboardHandler


class DashboardServer:
    """A ThreadingHTTPServer over a folder, runnable in the foreground or a thread."""

    def __init__(self, folder: Path, *, host: str, port: int, before_index: Callable[[], None]):
        self.httpd = ThreadingHTTPServer((host, port), make_handler(folder, before_index))
        self.httpd.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

"""`harness dashboard`: the research at a glance, as a web page."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tyro.extras import SubcommandApp

    from harness.config import Config
    from harness.layout import Layout


def register(app: SubcommandApp) -> None:
    app.command(dashboard)


def dashboard(
    *,
    out: Path | None = None,
    serve: bool = False,
    host: str = "127.0.0.1",
    port: int = 8765,
    refresh: int = 5,
) -> int:
    """Render the dashboard: one self-contained HTML page (default 9_reports/index.html).

    The leaderboard, the metric over all runs, ideas by status, the queue, the newest
    journal entries and warnings. It needs no network. With --serve, a read-only server
    shows it (and the files of 9_reports/ only), re-rendered when the record changes,
    and the browser refreshes it every few seconds.

    Args:
        out: Where to write the page (default: 9_reports/index.html of the root).
        serve: Serve the page over HTTP until interrupted (Ctrl-C).
        host: The address to bind with --serve; loopback unless you choose otherwise.
        port: The port to bind with --serve (0: any free port).
        refresh: Seconds between the browser's refreshes with --serve.
    """
    from harness.config import load_config
    from harness.layout import find_layout
    from harness.reports.dashboard import write_dashboard

    layout = find_layout()
    config = load_config(layout.root)
    if not serve:
        started = time.perf_counter()
        target = write_dashboard(layout, config, out=out)
        print(target)
        from loguru import logger

        logger.info(f"rendered in {time.perf_counter() - started:.2f} s")
        return 0
    return _serve(layout, config, host=host, port=port, refresh=refresh)


def _serve(layout: Layout, config: Config, *, host: str, port: int, refresh: int) -> int:
    from loguru import logger

    from harness.errors import UsageError
    from harness.reports.dashboard import Refresher
    from harness.reports.webserver import DashboardServer

    refresher = Refresher(layout, config, refresh_seconds=max(refresh, 1))
    refresher.render_if_changed()
    try:
        server = DashboardServer(
            layout.reports_dir, host=host, port=port, before_index=refresher.render_if_changed
        )
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror}: choose another --port"
        ) from None
    print(server.url, flush=True)
    logger.info("serving the dashboard read-only; Ctrl-C stops it")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0

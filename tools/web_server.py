"""Serve a folder on 127.0.0.1 in a background thread, quietly: for the browser test
(tests/web/test_browser.py) and the browser benchmark (tools/bench_web.py)."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the output to what the caller prints
        pass


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """(the running server, its URL) for `folder`, on a free port; call `shutdown()` when done."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"

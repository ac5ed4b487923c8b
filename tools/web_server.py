"""Serve a folder on 127.0.0.1 in a background thread, quietly, and start headless Chromium on
it: for the browser test (tests/web/test_browser.py) and the browser benchmark (tools/bench_web.py)."""

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


CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-first-run", "--disable-quic", "--window-size=900,700")


def chromium(chromium_path: str, chromedriver_path: str, script_timeout: float):
    """A selenium driver for headless Chromium, quiet and offline (make test-web installs both)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium_path
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(chromedriver_path), options=options)
    driver.set_script_timeout(script_timeout)
    return driver

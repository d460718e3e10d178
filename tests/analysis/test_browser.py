"""The report in a real browser: headless Chromium opens report.html and we ask it, over the
Chrome DevTools Protocol, what a reader would see: no console errors, every image decoded,
one parallel-coordinates line per run.

The protocol runs over `--remote-debugging-pipe` (messages separated by NUL on file
descriptors 3 and 4), so no websocket client is needed. Skipped when Chromium is absent
(CI installs Debian's `chromium` package).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from sweep_data import make_runs_dir

from analysis.report import ReportOptions, build_report
from analysis.sources import load_runs_dir

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                "(apt-get install chromium)")
TIMEOUT = 60  # seconds for the browser to start and load the page


class DevTools:
    """A headless Chromium driven over --remote-debugging-pipe."""

    def __init__(self, profile):
        to_browser_read, self._write = os.pipe()
        self._read, from_browser_write = os.pipe()

        def plug():  # in the child: the pipe ends become fds 3 (commands) and 4 (replies)
            os.dup2(to_browser_read, 3)
            os.dup2(from_browser_write, 4)

        self.process = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"],
            preexec_fn=plug, pass_fds=(3, 4), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def _message(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._read, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, session: str | None = None, **params) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._message()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str) -> dict:
        while True:
            event = self._message()
            self.events.append(event)
            if event.get("method") == method:
                return event

    def close(self):
        try:
            self.send("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        os.close(self._read)
        os.close(self._write)


PAGE_FACTS = """JSON.stringify({
  images: Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth]),
  lines: document.querySelectorAll("figure.parallel svg polyline").length,
  titles: Array.from(document.querySelectorAll("h2")).map(h => h.textContent),
  links: Array.from(document.querySelectorAll("a[href^='#']")).map(a => a.getAttribute("href")),
  ids: Array.from(document.querySelectorAll("[id]")).map(e => e.id),
  text: document.body.innerText})"""


def test_report_in_headless_chromium(tmp_path):
    root = make_runs_dir(tmp_path / "runs" / "synthetic")
    table = load_runs_dir(root)
    out = tmp_path / "report"
    build_report(table, out, ReportOptions(formats=("png",)))
    browser = DevTools(tmp_path / "profile")
    try:
        target = browser.send("Target.createTarget", url="about:blank")["targetId"]
        session = browser.send("Target.attachToTarget", targetId=target,
                               flatten=True)["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            browser.send(f"{domain}.enable", session)
        browser.send("Page.navigate", session, url=(out / "report.html").as_uri())
        browser.wait_for("Page.loadEventFired")
        facts = json.loads(browser.send("Runtime.evaluate", session, expression=PAGE_FACTS,
                                        returnByValue=True)["result"]["value"])
    finally:
        browser.close()
    errors = [event for event in browser.events
              if event.get("method") == "Runtime.exceptionThrown"
              or (event.get("method") == "Runtime.consoleAPICalled"
                  and event["params"]["type"] in ("error", "assert"))
              or (event.get("method") == "Log.entryAdded"
                  and event["params"]["entry"]["level"] == "error")]
    assert errors == []
    images = facts["images"]
    assert len(images) >= 8
    assert all(complete and width > 0 for _, complete, width in images), images
    analysed = table.frame[(table.frame["state"] == "finished")
                           & table.frame["val_acc"].notna()]
    assert facts["lines"] == len(analysed)
    assert facts["titles"][:2] == ["At a glance", "Contents"]
    assert facts["links"] and all(link[1:] in facts["ids"] for link in facts["links"])
    assert "<NA>" not in facts["text"] and "<script>alert(1)</script>" in facts["text"]

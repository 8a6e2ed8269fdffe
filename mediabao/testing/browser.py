"""Chromium for the browser tests: Debian's package driven by Playwright, logged in.

Playwright's own browser downloads do not work on our machines, so every browser test
launches the system Chromium the same way, reports CSP violations and page errors the
same way, and logs in through the real login form.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mediabao.testing.fixtures import PASSWORD

CHROMIUM = os.environ.get("MEDIABAO_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
_REPORT_CSP = """document.addEventListener('securitypolicyviolation', (e) =>
    console.error('CSP ' + e.violatedDirective + ' ' + (e.sourceFile || e.blockedURI)));"""


def launch(pw: Any) -> Any:
    """The system Chromium, headless."""
    return pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)


def watch(page: Any, problems: list[str], ignore: tuple[str, ...] = ("htmx",)) -> None:
    """Append each CSP violation (with its source) and each uncaught page error to
    ``problems``. htmx's own indicator ``<style>`` is the layout's business, not a test's."""
    page.add_init_script(_REPORT_CSP)
    page.on("console", lambda m: problems.append(f"{page.url}: {m.text}")
            if m.text.startswith("CSP ") and not any(i in m.text for i in ignore) else None)
    page.on("pageerror", lambda e: problems.append(f"{page.url}: {e}"))


def log_in(page: Any, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Through the login form, as an operator does; lands on the console."""
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#login-submit")
    page.wait_for_url(f"{base_url}/console/")


@contextmanager
def console_page(base_url: str, username: str, problems: list[str], **page_options: Any
                 ) -> Iterator[Any]:
    """A Chinese-locale page of a fresh Chromium, logged in as ``username``, watched for
    CSP violations and page errors (into ``problems``); the browser closes afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page(**{"locale": "zh-CN", **page_options})
            watch(page, problems)
            log_in(page, base_url, username)
            yield page
        finally:
            browser.close()

"""Browser tests: Debian's chromium driven by Playwright against live_server, with a real worker."""

import shutil

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser(flow, monkeypatch):  # after `flow`, so the worker never inherits the variable below
    """Debian's chromium, headless; the tests skip (saying why) when there is none."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("no `chromium` on PATH: install Debian's chromium (`make browser`) to run the browser tests")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the test's ORM calls
    # are still plain synchronous code, so Django's async-safety guard must look away — for
    # this test only (monkeypatch restores it; `check --deploy` refuses the variable).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()

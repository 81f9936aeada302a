"""Fixtures of the browser tests, which seed the live server's own store before opening its
pages: the test's ``settings`` are the live server's (the seeding app writes where the server
reads), its ``clock`` starts at the real time (what is seeded is the server's present), a
``watched_page`` collects every console message, page error and dialog, and a ``page`` fails
the test on any of them. A module overrides
what it needs otherwise (``test_browser.py`` its ``page``, ``test_model_pages_browser.py`` its
``clock``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from playwright.sync_api import Browser, Page

from assay_server.settings import Settings
from tests.conftest import FakeClock, LiveServer

from ..browser_checks import SCREEN

#: The longest a step waits: the first explanation on a page starts a worker process.
PAGE_TIMEOUT_MS = 30_000


@pytest.fixture
def settings(live_server: LiveServer) -> Settings:
    """The live server's settings: the seeding app stores files where the server reads them."""
    return live_server.settings


@pytest.fixture
def clock() -> FakeClock:
    """A hand-moved clock starting now, so what is seeded is the live server's present."""
    return FakeClock(datetime.now(timezone.utc).replace(microsecond=0))


@pytest.fixture
def watched_page(chromium: Browser) -> Iterator[tuple[Page, list[str]]]:
    """A fresh context at 1366×768, and every console message, page error and dialog of its
    page (a dialog is dismissed)."""
    context = chromium.new_context(viewport=SCREEN)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    tab = context.new_page()
    messages: list[str] = []
    tab.on("console", lambda message: messages.append(f"{message.type}: {message.text}"))
    tab.on("pageerror", lambda error: messages.append(f"error: {error}"))
    tab.on(
        "dialog", lambda dialog: (messages.append(f"dialog: {dialog.message}"), dialog.dismiss())
    )
    yield tab, messages
    context.close()


@pytest.fixture
def page(watched_page: tuple[Page, list[str]]) -> Iterator[Page]:
    """A page on which any console message, page error or dialog fails the test."""
    tab, messages = watched_page
    yield tab
    assert messages == [], f"the page said: {messages}"

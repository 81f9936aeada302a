"""Charts draw in a real Chromium under the pages' own Content-Security-Policy, from the
plotly.js this server serves (no CDN), with no message on the console."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import render_template_string
from werkzeug.serving import make_server

from assay_server.access import public
from assay_server.app import create_app
from assay_server.settings import Settings
from assay_server.web import charts

pytestmark = [pytest.mark.slow, pytest.mark.store_independent]  # its own throwaway store

PAGE = """{% extends "base.html" %}
{% from "_charts.html" import chart, chart_scripts %}
{% block content %}<div class="charts">
{{ chart("share", share, "Drift share per run") }}{{ chart("scores", scores, "Scores") }}
{{ chart("bars", bars, "Weights") }}</div>{{ chart("spark", spark, "Trend", sparkline=true) }}
{% endblock %}
{% block scripts %}{{ chart_scripts() }}{% endblock %}"""

HOSTILE = "</script><script>alert(1)</script>"


@pytest.fixture
def chart_page(tmp_path: Path) -> Iterator[str]:
    app = create_app(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/a.db"))

    @public
    def demo() -> str:
        runs = ["2026-11-01", "2026-11-02", "2026-11-03"]
        return render_template_string(
            PAGE,
            share=charts.figure(
                [
                    charts.line(runs, [0.1, 0.5, 0.2], "drift share"),
                    charts.level(runs, 0.3, "alert"),
                ]
            ),
            scores=charts.figure(
                [charts.heatmap(runs[:2], ["age", HOSTILE], [[0.1, 0.9], [0.2, 0.3]], "score")]
            ),
            bars=charts.figure([charts.bars([HOSTILE, "b"], [0.4, -0.2], "w", horizontal=True)]),
            spark=charts.sparkline([1, 3, 2, 5], "auc"),
        )

    app.add_url_rule("/chart-demo", "chart_demo", demo)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/chart-demo"
    server.shutdown()
    thread.join(timeout=10)


def test_every_chart_draws_under_the_pages_policy_without_a_console_message(
    chromium: Any, chart_page: str
) -> None:
    page = chromium.new_page(viewport={"width": 1366, "height": 768})
    try:
        messages: list[str] = []
        page.on("console", lambda message: messages.append(message.text))
        page.on("pageerror", lambda error: messages.append(str(error)))
        page.on("dialog", lambda dialog: (messages.append(dialog.message), dialog.dismiss()))
        page.goto(chart_page)
        page.wait_for_function("document.querySelectorAll('div.plot[data-drawn]').length === 4")
        assert page.locator("div.plot .main-svg").count() >= 4
        # the heatmap is a PNG data URL: drawn, not blocked
        assert page.locator("#chart-scores image").count() == 1
        assert page.evaluate("document.documentElement.scrollWidth") <= 1366
        assert messages == []
    finally:
        page.close()  # and its context: the browser serves the whole session

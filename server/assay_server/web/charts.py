"""Charts for the pages: plotly figures as plain dicts, drawn in the browser by plotly.js.

A page passes a figure made here to the ``chart`` macro of ``templates/_charts.html``; the
macro writes it as JSON into the page (``|tojson`` escapes ``<``, ``>`` and ``&``, so values
that arrived with predictions stay data) and ``static/charts.js`` draws every chart on the page
with the plotly.js of the installed ``plotly`` package, served by :func:`plotly_js` from this
site — no CDN, the UI works offline. Without JavaScript a chart is a caption and the page's
tables carry the same numbers.

The helpers take already aggregated series (one query per chart, by the page's service); they
never look at report rows themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeAlias

import plotly
from flask import send_file
from werkzeug.wrappers import Response

from ..access import public
from .blueprint import bp

Figure: TypeAlias = dict[str, Any]
Number: TypeAlias = float | int | None

#: the palette of the stylesheet's statuses, so a chart reads like the chips beside it
COLOURS = ("#3056d3", "#d9822b", "#0b8a4a", "#a40000", "#6b4eb3", "#3d8eb9", "#8a6d00")
ALERT_COLOUR = "#a40000"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


@bp.get("/static/vendor/plotly.min.js")
@public
def plotly_js() -> Response:
    """plotly.js from the installed ``plotly`` package (public, cached for a day)."""
    return send_file(PLOTLY_JS, mimetype="text/javascript", max_age=24 * 3600)


def figure(
    data: list[dict[str, Any]],
    *,
    title: str = "",
    height: int = 260,
    x_title: str = "",
    y_title: str = "",
    **layout: Any,
) -> Figure:
    """A figure with the UI's defaults: compact margins, the page's font, no mode bar logo."""
    base: dict[str, Any] = {
        "height": height,
        "margin": {"l": 56, "r": 16, "t": 36 if title else 12, "b": 40},
        "font": {"family": "system-ui, sans-serif", "size": 12, "color": "#1d2330"},
        "paper_bgcolor": "#fff",
        "plot_bgcolor": "#fff",
        "legend": {"orientation": "h", "y": -0.2},
        "xaxis": {"title": {"text": x_title}, "gridcolor": "#eef", "automargin": True},
        "yaxis": {"title": {"text": y_title}, "gridcolor": "#eef", "automargin": True},
    }
    if title:
        base["title"] = {"text": title, "x": 0, "font": {"size": 13}}
    for key, value in layout.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return {"data": data, "layout": base}


def line(
    x: Sequence[Any], y: Sequence[Number], name: str, *, colour: int = 0, dash: str = "solid"
) -> dict[str, Any]:
    """One line with markers (a run per point)."""
    return {
        "type": "scatter",
        "mode": "lines+markers",
        "name": name,
        "x": list(x),
        "y": list(y),
        "line": {"color": COLOURS[colour % len(COLOURS)], "dash": dash, "width": 2},
        "marker": {"size": 5},
    }


def level(x: Sequence[Any], value: float, name: str) -> dict[str, Any]:
    """A horizontal threshold line (an alert level, a benchmark) across ``x``'s range."""
    xs = list(x)
    ends = [xs[0], xs[-1]] if xs else []
    return {
        "type": "scatter",
        "mode": "lines",
        "name": name,
        "x": ends,
        "y": [value] * len(ends),
        "line": {"color": ALERT_COLOUR, "dash": "dash", "width": 1.5},
        "hoverinfo": "name+y",
    }


def bars(
    categories: Sequence[Any],
    values: Sequence[Number],
    name: str,
    *,
    colour: int = 0,
    horizontal: bool = False,
) -> dict[str, Any]:
    """Bars, one per category (horizontal bars list the categories down the side)."""
    trace: dict[str, Any] = {
        "type": "bar",
        "name": name,
        "marker": {"color": COLOURS[colour % len(COLOURS)]},
    }
    if horizontal:
        trace.update(orientation="h", y=list(categories), x=list(values))
    else:
        trace.update(x=list(categories), y=list(values))
    return trace


def heatmap(
    x: Sequence[Any], y: Sequence[str], z: Sequence[Sequence[Number]], name: str
) -> dict[str, Any]:
    """A grid of values (e.g. drift score per feature and run), low white to high red."""
    return {
        "type": "heatmap",
        "name": name,
        "x": list(x),
        "y": list(y),
        "z": [list(row) for row in z],
        "colorscale": [[0, "#ffffff"], [0.5, "#f7c59f"], [1, ALERT_COLOUR]],
        "hoverongaps": False,
    }


def sparkline(y: Sequence[Number], name: str) -> Figure:
    """A tiny line without axes, for a table cell."""
    trace = line(list(range(len(y))), y, name)
    trace["marker"] = {"size": 3}
    return figure(
        [trace],
        height=36,
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        xaxis={"visible": False},
        yaxis={"visible": False},
        showlegend=False,
        width=140,
    )

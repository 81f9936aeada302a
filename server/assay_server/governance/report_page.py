"""The compliance report's printable page: every value escaped, monitoring as readable tables
with a small chart per check (inline SVG: it prints, and needs no script), ingest as a daily
summary. A browser's "Print to PDF" makes the PDF."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from jinja2 import Environment, select_autoescape
from markupsafe import Markup, escape

from .report import HISTORY_DAYS, ComplianceBundle

CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 240, 48, 4
_STATUS_COLOURS = {
    "ok": "#17692b",
    "warning": "#9a6700",
    "alert": "#a4161a",
    "critical": "#a4161a",
    "insufficient_data": "#8c8c8c",
}


def sparkline(points: Sequence[Mapping[str, Any]], label: str) -> Markup:
    """A small line of each report's headline figure, a dot per report coloured by status;
    reports without a figure (insufficient data) are grey dots on the baseline."""
    values = [p["value"] for p in points if _finite(p.get("value"))]
    if not points:
        return Markup("")
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high == low:
        low, high = low - 0.5, high + 0.5
    step = (CHART_WIDTH - 2 * CHART_PAD) / max(len(points) - 1, 1)

    def y(value: float) -> float:
        usable = CHART_HEIGHT - 2 * CHART_PAD
        return CHART_PAD + usable * (1 - (value - low) / (high - low))

    line, dots = [], []
    for index, point in enumerate(points):
        x = CHART_PAD + index * step
        value: Any = point.get("value")
        at = y(float(value)) if _finite(value) else CHART_HEIGHT - CHART_PAD
        if _finite(value):
            line.append(f"{x:.1f},{at:.1f}")
        colour = _STATUS_COLOURS.get(str(point.get("status")), "#444")
        dots.append(
            f'<circle cx="{x:.1f}" cy="{at:.1f}" r="2.5" fill="{colour}">'
            f"<title>{escape(point.get('created_at'))}: {escape(_number(value))} "
            f"({escape(point.get('status'))})</title></circle>"
        )
    path = f'<polyline points="{" ".join(line)}" fill="none" stroke="#555"/>' if line else ""
    return Markup(
        f'<svg class="spark" width="{CHART_WIDTH}" height="{CHART_HEIGHT}" role="img" '
        f'aria-label="{escape(label)}">{path}{"".join(dots)}</svg>'
    )


def plain(value: Any) -> str:
    """A value as a person reads it: ``a = 1; b = 2`` for a mapping, commas for a list."""
    if isinstance(value, Mapping):
        return "; ".join(f"{key} = {plain(item)}" for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(plain(item) for item in value)
    if isinstance(value, float):
        return _number(value)
    return "—" if value is None else str(value)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _number(value: Any) -> str:
    return f"{value:.4g}" if _finite(value) else "—"


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Compliance report: {{ b.model.name }} v{{ b.version.version }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#111;max-width:70rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;border-bottom:1px solid #ccc;margin-top:2rem}
h3{font-size:1rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}code{font-size:.8rem;word-break:break-all}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass,.ok{color:#17692b}.fail,.blocked,.rejected,.alert,.critical{color:#a4161a}
.missing_evidence,.warning{color:#9a6700}.insufficient_data{color:#8c8c8c}
.spark{display:block;margin:.25rem 0}
@media print{body{margin:0;max-width:none;font-size:10pt}h2{break-after:avoid}
tr,svg,h3{break-inside:avoid}a{color:inherit;text-decoration:none}
a[href^="http"]::after{content:" (" attr(href) ")";font-size:.75em}}
</style></head><body>
<h1>Compliance report: {{ b.model.name }}, version {{ b.version.version }}</h1>
<p>Generated {{ b.generated_at }}. Stage: <strong>{{ b.version.stage }}</strong>.
Risk tier: {{ b.model.risk_tier }}. Owner: {{ b.model.owner or "—" }}.
Registered by {{ b.version.created_by }} at {{ b.version.created_at }}.</p>

<h2>Model card</h2>
{% if b.model_card %}<table>{% for k, v in b.model_card.items() %}
<tr><th>{{ k }}</th><td>{{ plain(v) }}</td></tr>{% endfor %}</table>
{% else %}<p>No model-card fields.</p>{% endif %}

<h2>Lineage and artifact</h2>
<table>{% for k, v in b.lineage.items() if v not in (none, "", {}, []) %}<tr><th>{{ k }}</th>
<td>{{ plain(v) }}</td></tr>{% endfor %}
<tr><th>artifact</th><td>{% if b.artifact %}{{ b.artifact.format }},
sha256 <code>{{ b.artifact.sha256 }}</code>{% else %}none{% endif %}</td></tr>
<tr><th>reference data</th><td>{% if b.reference %}{{ b.reference.rows }} rows,
sha256 <code>{{ b.reference.sha256 }}</code>{% else %}none{% endif %}</td></tr></table>

<h2>Benchmarks</h2>
{% if b.benchmarks %}<table><tr><th>#</th><th>name</th><th>dataset</th><th>metrics</th>
<th>logged</th></tr>{% for x in b.benchmarks %}<tr><td>{{ x.id }}</td><td>{{ x.name }}</td>
<td>{{ x.dataset_uri or "" }} <code>{{ x.dataset_hash or "" }}</code></td>
<td>{% for m, v in x.metrics.items() %}{{ m }} = {{ "%.4g"|format(v) }}<br>{% endfor %}</td>
<td>{{ x.created_by }}, {{ x.created_at }}</td></tr>{% endfor %}</table>
{% else %}<p>No benchmarks.</p>{% endif %}

<h2>Monitoring</h2>
{% for check, r in b.monitoring.items() %}
<h3>{{ check|replace("_", " ")|capitalize }}</h3>
{% if r.history %}{{ spark(r.history, check ~ " over the last days") }}
<p>{{ r.history|length }} report(s) in the last {{ days }} days; the line is the
{{ r.figure }} of each.</p>{% endif %}
{% if r.available %}
<p>Latest report with a verdict: <a href="{{ r.link }}">{{ r.source }}</a>,
<span class="{{ r.status }}">{{ r.status }}</span>, {{ r.created_at }}
{% if r.window_start %}(window {{ r.window_start }} – {{ r.window_end }}){% endif %}.</p>
{% if r.findings %}<table><tr><th>subject</th><th>metric</th><th>value</th>
<th>threshold</th><th>status</th></tr>{% for f in r.findings %}<tr><td>{{ f.subject }}</td>
<td>{{ f.metric or "" }}</td><td class="num">{{ num(f.value) }}</td>
<td class="num">{{ num(f.threshold) }}</td><td class="{{ f.status }}">{{ f.status }}</td>
</tr>{% endfor %}</table>
{% else %}<p>No failing finding{% if r.headline is not none %}; {{ r.figure or "headline" }}
{{ num(r.headline) }}{% endif %}.</p>{% endif %}
{% else %}<p>{{ r.reason }}</p>{% endif %}
{% endfor %}

<h2>Promotions, policy evaluations and approvals</h2>
{% for p in b.promotions %}
<h3>Request {{ p.id }} → {{ p.target }}: <span class="{{ p.status }}">{{ p.status }}</span></h3>
<p>Requested by {{ p.requested_by }} at {{ p.created_at }}
{% if p.reason %}: {{ p.reason }}{% endif %}.
Approvals required: {{ p.required_approvals }}.</p>
{% if p.decisions %}<table><tr><th>approver</th><th>decision</th><th>comment</th><th>at</th></tr>
{% for d in p.decisions %}<tr><td>{{ d.approver }}</td><td>{{ d.decision }}</td>
<td>{{ d.comment }}</td><td>{{ d.created_at }}</td></tr>{% endfor %}</table>{% endif %}
{% for e in p.evaluations %}
<p>Evaluation {{ e.id }} ({{ e.trigger }}, {{ e.created_at }}, by {{ e.created_by }}):
<span class="{{ e.outcome }}">{{ e.outcome }}</span></p>
<table><tr><th>policy</th><th>rule</th><th>status</th><th>observed</th><th>threshold</th>
<th>message</th></tr>{% for pol in e.policies %}{% for r in pol.rules %}
<tr><td>{{ pol.name }} v{{ pol.version }}</td><td>{{ r.id }} ({{ r.check }})</td>
<td class="{{ r.status }}">{{ r.status }}</td><td>{{ plain(r.observed) }}</td>
<td>{{ plain(r.threshold) }}</td><td>{{ r.message }}</td></tr>{% endfor %}{% endfor %}</table>
{% endfor %}{% else %}<p>No promotion requests.</p>{% endfor %}

<h2>Stage history</h2>
{% if b.stage_history %}<table><tr><th>stage</th><th>from</th><th>until</th><th>by</th>
<th>comment</th></tr>{% for s in b.stage_history %}<tr><td>{{ s.stage }}</td>
<td>{{ s.entered_at }}</td><td>{{ s.left_at or "now" }}</td><td>{{ s.entered_by }}</td>
<td>{{ s.comment or "" }}</td></tr>{% endfor %}</table>
{% else %}<p>Never moved from its first stage.</p>{% endif %}

<h2 id="retraining">Retraining chain</h2>
{% set chain = b.retraining %}
{% if chain.alert_id is not none %}{% set a = chain.alert %}
<table><tr><th>step</th><th>what</th></tr>
<tr><td>alert</td><td>{% if a %}alert {{ a.id }}: {{ a.check }} on v{{ a.version }}, {{ a.subject }}
({{ a.severity }}, {{ a.status }}), first seen {{ a.first_seen }}; window {{ a.window.start }}
→ {{ a.window.end }}{% if a.features %}; drifted: {{ a.features|join(", ") }}{% endif %}
{% else %}alert {{ chain.alert_id }} (no longer stored: it went with its monitor)
{% endif %}</td></tr>
<tr><td>retrained version</td><td>v{{ b.version.version }}, registered by
{{ b.version.created_by }} at {{ b.version.created_at }}</td></tr>
<tr><td>comparison</td><td>{% for c in chain.comparisons %}{{ c.id }}: {{ c.verdict }}
{% if not loop.last %}; {% endif %}{% else %}none yet{% endfor %}</td></tr>
<tr><td>rollout</td><td>{% for r in chain.rollouts %}{{ r.id }}: {{ r.status }}
{% if not loop.last %}; {% endif %}{% else %}none yet{% endfor %}</td></tr>
</table>
{% else %}<p>Not registered in answer to an alert.</p>{% endif %}
{% if chain.retrained_as %}<p>Retrained as: {% for r in chain.retrained_as %}v{{ r.version }}
(for alert {{ r.alert_id }}, by {{ r.created_by }} at {{ r.created_at }}){% if not loop.last %},
{% endif %}{% endfor %}.</p>{% endif %}

<h2>Prediction ingest, per day</h2>
{% if b.ingest_daily %}<table><tr><th>day (UTC)</th><th>batches</th><th>rows accepted</th>
<th>duplicates</th><th>rejected</th><th>labels received</th><th>labels rejected</th>
<th>audit events</th></tr>{% for d in b.ingest_daily %}
<tr><td>{{ d.date }}</td><td class="num">{{ d.batches }}</td><td class="num">{{ d.accepted }}</td>
<td class="num">{{ d.duplicates }}</td><td class="num">{{ d.rejected }}</td>
<td class="num">{{ d.labels_received|default(0) }}</td>
<td class="num">{{ d.labels_rejected|default(0) }}</td>
<td>{% if d.first_seq %}seq {{ d.first_seq }} – {{ d.last_seq }}
{% else %}rolled up after the hour{% endif %}</td></tr>{% endfor %}</table>
{% else %}<p>No predictions ingested.</p>{% endif %}

<h2>Audit events</h2>
<p>Chain verification: <strong class="{{ 'pass' if b.audit_chain.ok else 'fail' }}">
{{ b.audit_chain.message }}</strong> ({{ b.audit_chain.checked }} events checked).
Ingest batches are summed per day above; the audit export holds each.</p>
<table><tr><th>seq</th><th>time</th><th>actor</th><th>action</th><th>hash</th></tr>
{% for e in b.audit_events %}<tr><td>{{ e.seq }}</td><td>{{ e.timestamp }}</td>
<td>{{ e.actor_name }}</td><td>{{ e.action }} {{ e.target_type }}:{{ e.target_id }}</td>
<td><code>{{ e.hash }}</code></td></tr>{% endfor %}</table>
</body></html>
"""

_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_PAGE = _ENV.from_string(_TEMPLATE)


def render_html(bundle: ComplianceBundle) -> str:
    """The bundle as a printable HTML page (every value escaped)."""
    return _PAGE.render(b=bundle, spark=sparkline, num=_number, plain=plain, days=HISTORY_DAYS)

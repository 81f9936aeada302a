"""What one notification says, per channel: the webhook JSON, the Slack blocks, the e-mail.

Everything here is plain data in, plain data out: no network, no store. The webhook body is a
documented, stable contract (:meth:`Notification.as_json`); the Slack message and the e-mail
are for people and may change wording freely.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from jinja2 import Environment, StrictUndefined

__all__ = [
    "EVENT_TYPES",
    "EmailContent",
    "Notification",
    "email_content",
    "slack_message",
    "webhook_body",
]

EVENT_TYPES = ("alert.firing", "alert.escalated", "alert.resolved", "test")
_HEADLINES = {
    "alert.firing": "Firing",
    "alert.escalated": "Escalated",
    "alert.resolved": "Resolved",
    "test": "Test notification",
    "version.registered": "New version",
    "stage.changed": "Stage changed",
    "promotion.requested": "Promotion requested",
    "promotion.blocked": "Promotion blocked",
    "promotion.approved": "Promotion approved",
    "promotion.rejected": "Promotion rejected",
    "promotion.cancelled": "Promotion cancelled",
    "monitor.run_failed": "Monitor run failed",
}
_SLACK_ICONS = {"alert.resolved": ":white_check_mark:", "test": ":information_source:"}
_SEVERITY_ICONS = {"critical": ":red_circle:", "warning": ":large_orange_circle:"}
_TOP_TITLES = {
    "drift": "Top drifted features",
    "bias": "Worst groups",
    "performance": "Failing metrics",
    "estimated_performance": "Failing metrics",
    "data_quality": "Worst columns",
}
# the key that names a top item, in order of preference
_TOP_LABEL_KEYS = ("feature", "group", "subject", "metric", "column", "name")
SLACK_TOP_ITEMS = 5
EMAIL_TOP_ITEMS = 10
_SLACK_FIGURES = 8
_SLACK_HEADER_CHARS = 150  # Slack's limit for a header block
_SLACK_TEXT_CHARS = 3000  # Slack's limit for a section's text
_EMAIL_SUBJECT_CHARS = 200


@dataclass(frozen=True)
class Notification:
    """One alert transition (or a test), as every channel renders it."""

    event_id: str
    type: str
    occurred_at: datetime
    model: str | None
    version: int | None
    check: str | None
    subject: str | None
    severity: str | None
    status: str | None
    summary: str
    figures: dict[str, Any] = field(default_factory=dict)
    top: list[dict[str, Any]] = field(default_factory=list)
    report_url: str | None = None
    alert_url: str | None = None
    alert_id: int | None = None
    report_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        """The webhook body: ``{"id", "type", "timestamp", "data": {...}}`` (stable contract)."""
        return {
            "id": self.event_id,
            "type": self.type,
            "timestamp": _iso(self.occurred_at),
            "data": {
                "alert_id": self.alert_id,
                "status": self.status,
                "severity": self.severity,
                "model": self.model,
                "version": self.version,
                "check": self.check,
                "subject": self.subject,
                "summary": self.summary,
                "figures": _json_safe(self.figures),
                "top": _json_safe(self.top),
                "report_id": self.report_id,
                "report_url": self.report_url,
                "alert_url": self.alert_url,
            },
        }

    @property
    def headline(self) -> str:
        """A one-line title: ``Firing (critical): drift of age on credit-risk v3``."""
        label = _HEADLINES.get(self.type, self.type)
        if self.severity and self.type != "alert.resolved":
            label = f"{label} ({self.severity})"
        return f"{label}: {self.what}" if self.what else label

    @property
    def what(self) -> str:
        """The check, subject and model version concerned, in words (empty for a bare test)."""
        text = self.check or ""
        if self.subject:
            text = f"{text} of {self.subject}" if text else self.subject
        if self.model:
            target = self.model if self.version is None else f"{self.model} v{self.version}"
            text = f"{text} on {target}" if text else target
        return text

    @property
    def alert_link_label(self) -> str:
        """``Acknowledge`` while the alert awaits someone, else ``View alert``."""
        awaiting = self.type in ("alert.firing", "alert.escalated") and self.status in (
            None,
            "firing",
        )
        return "Acknowledge" if awaiting else "View alert"

    @property
    def top_title(self) -> str:
        """The heading of the top list for this check."""
        return _TOP_TITLES.get(self.check or "", "Top findings")


@dataclass(frozen=True)
class EmailContent:
    """An e-mail's subject, plain-text body and HTML body."""

    subject: str
    text: str
    html: str


def webhook_body(notification: Notification) -> bytes:
    """The exact bytes POSTed (and signed): compact UTF-8 JSON of :meth:`Notification.as_json`."""
    return json.dumps(
        notification.as_json(),
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=str,
    ).encode("utf-8")


def slack_message(notification: Notification) -> dict[str, Any]:
    """An incoming-webhook payload: fallback ``text`` plus blocks a person reads at a glance."""
    n = notification
    icon = _SLACK_ICONS.get(n.type) or _SEVERITY_ICONS.get(n.severity or "", ":bell:")
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _clip(n.headline, _SLACK_HEADER_CHARS)},
        },
        _mrkdwn_section(f"{icon} {_slack_escape(n.summary)}"),
    ]
    fields = [
        {"type": "mrkdwn", "text": f"*{name}*\n{_slack_escape(value)}"} for name, value in _facts(n)
    ]
    if fields:
        blocks.append({"type": "section", "fields": fields[:10]})
    if n.top:
        lines = [f"*{n.top_title}*"]
        lines += [
            f"• `{_slack_escape(label)}` {_slack_escape(details)}".rstrip()
            for label, details in _top_lines(n.top[:SLACK_TOP_ITEMS])
        ]
        if len(n.top) > SLACK_TOP_ITEMS:
            lines.append(f"_…and {len(n.top) - SLACK_TOP_ITEMS} more in the report_")
        blocks.append(_mrkdwn_section("\n".join(lines)))
    figures = _scalar_figures(n.figures)[:_SLACK_FIGURES]
    if figures:
        lines = ["*Figures*"] + [f"{_slack_escape(k)}: {_slack_escape(v)}" for k, v in figures]
        blocks.append(_mrkdwn_section("\n".join(lines)))
    buttons = _link_buttons(n)
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    blocks.append(
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"Assay · {_when(n.occurred_at)} · event {n.event_id}"}
            ],
        }
    )
    fallback = f"{n.headline} — {n.summary}"
    if n.report_url:
        fallback += f" <{n.report_url}|Open report>"
    return {"text": fallback, "blocks": blocks}


def email_content(notification: Notification) -> EmailContent:
    """The subject, text and HTML of the one e-mail sent for this transition."""
    n = notification
    subject = _clip(" ".join(f"[Assay] {n.headline} — {n.summary}".split()), _EMAIL_SUBJECT_CHARS)
    context = {
        "n": n,
        "facts": [*_facts(n), ("When", _when(n.occurred_at))],
        "top": _top_lines(n.top[:EMAIL_TOP_ITEMS]),
        "more": max(0, len(n.top) - EMAIL_TOP_ITEMS),
        "figures": _scalar_figures(n.figures),
    }
    return EmailContent(
        subject=subject, text=_email_text(context), html=_HTML_TEMPLATE.render(context)
    )


def _email_text(context: dict[str, Any]) -> str:
    """The plain-text body: headline, summary, facts, top list, figures, links."""
    n: Notification = context["n"]
    lines = [n.headline, "", n.summary, ""]
    lines += [f"{name + ':':<10}{value}" for name, value in context["facts"]]
    if context["top"]:
        lines += ["", f"{n.top_title}:"]
        lines += [
            f"  - {label}: {details}" if details else f"  - {label}"
            for label, details in context["top"]
        ]
        if context["more"]:
            lines.append(f"  … and {context['more']} more in the report")
    if context["figures"]:
        lines += ["", "Figures:"]
        lines += [f"  {name}: {value}" for name, value in context["figures"]]
    links = []
    if n.report_url:
        links.append(f"Report: {n.report_url}")
    if n.alert_url:
        links.append(f"{n.alert_link_label}: {n.alert_url}")
    if links:
        lines += ["", *links]
    lines += ["", f"Event {n.event_id}. Sent by Assay; one e-mail per alert transition."]
    return "\n".join(lines) + "\n"


def _facts(n: Notification) -> list[tuple[str, str]]:
    """The labelled facts shown as fields: model, version, check, subject, severity, status."""
    facts = [
        ("Model", n.model),
        ("Version", None if n.version is None else str(n.version)),
        ("Check", n.check),
        ("Subject", n.subject),
        ("Severity", n.severity),
        ("Status", n.status),
    ]
    return [(name, value) for name, value in facts if value]


def _top_lines(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Each top item as (label, details): ``("age", "method ks, score 0.0031")``."""
    lines = []
    for item in items:
        key = next((k for k in _TOP_LABEL_KEYS if item.get(k) is not None), None)
        label = str(item[key]) if key else "—"
        details = ", ".join(
            f"{name} {_figure(value)}"
            for name, value in item.items()
            if name != key and _is_scalar(value)
        )
        lines.append((label, details))
    return lines


def _scalar_figures(figures: dict[str, Any]) -> list[tuple[str, str]]:
    """The summary figures a person can read in a line (nested values stay in the report)."""
    return [(str(name), _figure(value)) for name, value in figures.items() if _is_scalar(value)]


def _link_buttons(n: Notification) -> list[dict[str, Any]]:
    """Slack buttons that open the report and the alert."""
    buttons = []
    if n.report_url:
        buttons.append(
            {
                "type": "button",
                "action_id": "open_report",
                "text": {"type": "plain_text", "text": "Open report"},
                "url": n.report_url,
                "style": "primary",
            }
        )
    if n.alert_url:
        buttons.append(
            {
                "type": "button",
                "action_id": "open_alert",
                "text": {"type": "plain_text", "text": n.alert_link_label},
                "url": n.alert_url,
            }
        )
    return buttons


def _mrkdwn_section(text: str) -> dict[str, Any]:
    """A section block of Slack mrkdwn, clipped to Slack's limit."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, _SLACK_TEXT_CHARS)}}


def _slack_escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as markup (``&``, ``<``, ``>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _figure(value: Any) -> str:
    """A figure as a person reads it: 4 significant digits, yes/no, a dash for missing."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else "—"
    return str(value)


def _iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _when(moment: datetime) -> str:
    """A time for people: ``2026-11-23 09:00 UTC``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as null, which JSON cannot carry."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


_HTML_TEMPLATE = Environment(autoescape=True, undefined=StrictUndefined).from_string(
    """\
<!doctype html>
<html><body style="font-family: sans-serif; color: #1f2328;">
<h2 style="margin-bottom: 4px;">{{ n.headline }}</h2>
<p>{{ n.summary }}</p>
<table style="border-collapse: collapse;">
{% for name, value in facts %}<tr><th style="text-align: left; padding: 2px 12px 2px 0;">\
{{ name }}</th><td>{{ value }}</td></tr>
{% endfor %}</table>
{% if top %}<h3>{{ n.top_title }}</h3>
<ul>
{% for label, details in top %}<li><code>{{ label }}</code>{% if details %} — {{ details }}\
{% endif %}</li>
{% endfor %}{% if more %}<li>… and {{ more }} more in the report</li>
{% endif %}</ul>
{% endif %}{% if figures %}<h3>Figures</h3>
<table style="border-collapse: collapse;">
{% for name, value in figures %}<tr><td style="padding: 2px 12px 2px 0;">{{ name }}</td>\
<td>{{ value }}</td></tr>
{% endfor %}</table>
{% endif %}<p>
{% if n.report_url %}<a href="{{ n.report_url }}">Open report</a>{% endif %}
{% if n.report_url and n.alert_url %} · {% endif %}
{% if n.alert_url %}<a href="{{ n.alert_url }}">{{ n.alert_link_label }}</a>{% endif %}
</p>
<p style="color: #656d76; font-size: small;">Event {{ n.event_id }}. Sent by Assay; one
e-mail per alert transition.</p>
</body></html>
"""
)

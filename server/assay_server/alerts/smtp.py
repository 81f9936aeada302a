"""Send one notification to an e-mail channel's recipients through the SMTP relay, once.

A missing SMTP setting, a refused login or recipient, a TLS error or a timeout comes back as a
failed :class:`~.attempts.Attempt` (:func:`.senders.deliver` scrubs it of the password).
"""

from __future__ import annotations

import email.policy
import smtplib
import ssl
from collections.abc import Callable
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime

from .attempts import Attempt, Channel, SmtpConfig, elapsed_ms, failed
from .render import Notification, email_content

# headers unfolded up to SMTP's line limit: Python's folding next to an encoded word (a
# non-ASCII character) doubles a space in the subject the recipient sees
_EMAIL_POLICY = email.policy.default.clone(max_line_length=998)


def send_email(
    channel: Channel,
    notification: Notification,
    smtp: SmtpConfig | None,
    clock: Callable[[], datetime],
    started: float,
) -> Attempt:
    """Send one multipart (text + HTML) message to all the channel's recipients."""
    if smtp is None or not smtp.host:
        return failed(
            started, "e-mail is not configured: set ASSAY_SMTP_HOST (and the other ASSAY_SMTP_*)"
        )
    if not channel.recipients:
        return failed(started, "the e-mail channel has no recipients")
    message = _email_message(channel, notification, smtp, clock())
    where = f"SMTP server {smtp.host}:{smtp.port}"
    try:
        refused = _smtp_send(smtp, message, channel.recipients)
    except smtplib.SMTPRecipientsRefused as error:
        refusals = "; ".join(
            f"{rcpt} ({_smtp_reply(*reply)})" for rcpt, reply in error.recipients.items()
        )
        return failed(started, f"{where} refused every recipient: {refusals}")
    except smtplib.SMTPAuthenticationError as error:
        return failed(
            started,
            f"{where} refused the login: {_smtp_reply(error.smtp_code, error.smtp_error)}",
            status_code=error.smtp_code,
        )
    except smtplib.SMTPResponseException as error:
        return failed(
            started,
            f"{where} answered {_smtp_reply(error.smtp_code, error.smtp_error)}",
            status_code=error.smtp_code,
        )
    except smtplib.SMTPNotSupportedError as error:
        return failed(started, f"{where}: {error}")
    except ssl.SSLError as error:
        return failed(started, f"TLS error with {where}: {error}")
    except TimeoutError:
        return failed(started, f"{where} did not answer within {smtp.timeout:g} s")
    except (smtplib.SMTPException, OSError) as error:
        return failed(started, f"{where} failed: {type(error).__name__}: {error}")
    accepted = len(channel.recipients) - len(refused)
    excerpt = f"accepted for {accepted} recipient(s)"
    if refused:
        excerpt += "; refused: " + "; ".join(
            f"{rcpt} ({_smtp_reply(*reply)})" for rcpt, reply in refused.items()
        )
    return Attempt(True, 250, None, elapsed_ms(started), excerpt)


def _email_message(
    channel: Channel, notification: Notification, smtp: SmtpConfig, sent_at: datetime
) -> EmailMessage:
    """The multipart/alternative message: plain text first, HTML second."""
    content = email_content(notification)
    message = EmailMessage(policy=_EMAIL_POLICY)
    message["Subject"] = content.subject
    message["From"] = smtp.sender
    message["To"] = ", ".join(channel.recipients)
    message["Date"] = format_datetime(sent_at.astimezone(timezone.utc))
    # the same id on every attempt, so a mail client can drop a retry's duplicate
    domain = smtp.sender.rpartition("@")[2].strip("<> ") or "assay.invalid"
    message["Message-ID"] = f"<{notification.event_id}.{channel.id}@{domain}>"
    message["X-Assay-Event-Id"] = notification.event_id
    message["X-Assay-Event-Type"] = notification.type
    message.set_content(content.text)
    message.add_alternative(content.html, subtype="html")
    return message


def _smtp_send(
    smtp: SmtpConfig, message: EmailMessage, recipients: list[str]
) -> dict[str, tuple[int, bytes]]:
    """Connect as configured, log in if a username is set, send; return refused recipients."""
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if smtp.security == "ssl":
        client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    with client:
        client.ehlo()
        if smtp.security == "starttls":
            client.starttls(context=context)
            client.ehlo()
        if smtp.username:
            client.login(smtp.username, smtp.password)
        return client.send_message(message, from_addr=smtp.sender, to_addrs=recipients)


def _smtp_reply(code: int, message: bytes | str) -> str:
    """An SMTP reply as ``550 no such user``."""
    text = message.decode("utf-8", errors="replace") if isinstance(message, bytes) else message
    return f"{code} {text}".strip()

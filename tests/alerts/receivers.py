"""Real receivers on loopback for the notification channels' tests (and the outbox's).

* :class:`WebhookReceiver` — an HTTP server that verifies every delivery with
  ``assay.webhooks.verify`` and answers 200 (verified) or 401;
* :class:`SlackReceiver` — answers like a Slack incoming webhook: ``ok``, or 400
  ``invalid_payload`` / ``invalid_blocks``;
* :class:`SmtpReceiver` — an aiosmtpd server (plain, STARTTLS or SSL; AUTH optional) keeping
  every message as an ``email.message.EmailMessage``.

The HTTP receivers can be told to fail (``fail_next``), hang (``hang_next``) or redirect
(``redirect_next``) for the next requests. Each is a context manager; ``close()`` stops it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email
import email.policy
import ipaddress
import json
import ssl
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from assay.webhooks import WebhookVerificationError, verify

__all__ = [
    "SLACK_BLOCK_TYPES",
    "ScriptedResponse",
    "SlackReceiver",
    "SmtpReceiver",
    "WebhookReceiver",
    "self_signed_certificate",
]

SLACK_BLOCK_TYPES = frozenset(
    {"section", "header", "divider", "actions", "context", "image", "rich_text", "input"}
)


@dataclass
class ScriptedResponse:
    """What the receiver does instead of its normal answer, for the next ``count`` requests."""

    count: int
    status: int = 500
    body: bytes = b"scripted failure"
    hang_seconds: float = 0.0
    location: str | None = None


class _LoopbackHTTPReceiver:
    """A threaded HTTP server on 127.0.0.1 that records POSTs and answers via ``handle``."""

    path = "/hook"

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._script: list[ScriptedResponse] = []
        self._release = threading.Event()
        self._count = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                status, answer, extra = receiver._answer(headers, body)
                # the client may have given up (a hang past its timeout)
                with contextlib.suppress(OSError):
                    self.send_response(status)
                    for name, value in extra.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """The URL to point a channel at."""
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.path}"

    def fail_next(self, n: int, status: int = 500, body: bytes = b"scripted failure") -> None:
        """Answer the next ``n`` requests with ``status`` and ``body`` (after recording them)."""
        self._add(ScriptedResponse(count=n, status=status, body=body))

    def hang_next(self, n: int, seconds: float) -> None:
        """Hold the next ``n`` requests for ``seconds`` before answering 200 (or until close)."""
        self._add(ScriptedResponse(count=n, status=200, body=b"late", hang_seconds=seconds))

    def redirect_next(self, n: int, location: str, status: int = 301) -> None:
        """Answer the next ``n`` requests with a redirect to ``location``."""
        self._add(ScriptedResponse(count=n, status=status, body=b"moved", location=location))

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until ``count`` requests have arrived; False if they did not within ``timeout``."""
        with self._lock:
            return self._lock.wait_for(lambda: self._count >= count, timeout)

    def close(self) -> None:
        """Release hung requests and stop the server."""
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> _LoopbackHTTPReceiver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        """Record the request and return the normal answer; subclasses define it."""
        raise NotImplementedError

    def _add(self, scripted: ScriptedResponse) -> None:
        with self._lock:
            self._script.append(scripted)

    def _answer(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes, dict[str, str]]:
        """Record, then the scripted answer if one is pending, else the normal one."""
        with self._lock:
            normal = self.handle(headers, body)
            self._count += 1
            scripted = self._script[0] if self._script else None
            if scripted:
                scripted.count -= 1
                if scripted.count <= 0:
                    self._script.pop(0)
            self._lock.notify_all()
        if scripted is None:
            return normal[0], normal[1], {}
        if scripted.hang_seconds:
            self._release.wait(scripted.hang_seconds)
        extra = {"Location": scripted.location} if scripted.location else {}
        return scripted.status, scripted.body, extra


class WebhookReceiver(_LoopbackHTTPReceiver):
    """A webhook endpoint that verifies each delivery with ``assay.webhooks.verify``.

    ``received`` holds ``(headers, body, verified)`` per request (header names lower-cased),
    ``rejections`` the reason for each unverified one, ``events`` the verified payloads.
    """

    def __init__(self, secret: str, *, tolerance: int = 300) -> None:
        self.secret = secret
        self.tolerance = tolerance
        self.received: list[tuple[dict[str, str], bytes, bool]] = []
        self.rejections: list[str] = []
        self.events: list[dict[str, Any]] = []
        super().__init__()

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        """Verify, record; 200 ``ok`` when verified, else 401 with the reason."""
        try:
            event = verify(headers, body, self.secret, tolerance=self.tolerance)
        except WebhookVerificationError as error:
            self.received.append((headers, body, False))
            self.rejections.append(str(error))
            return 401, str(error).encode()
        self.received.append((headers, body, True))
        self.events.append(event)
        return 200, b"ok"


class SlackReceiver(_LoopbackHTTPReceiver):
    """An endpoint shaped like a Slack incoming webhook.

    ``received`` holds the accepted payloads (parsed JSON), ``rejected`` the raw bodies it
    refused, ``headers`` the headers of every request.
    """

    path = "/services/T000/B000/XXXXXXXX"

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.rejected: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        super().__init__()

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        """Slack's answers: 200 ``ok``; 400 ``invalid_payload`` or ``invalid_blocks``."""
        self.headers.append(headers)
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not (payload.get("text") or payload.get("blocks")):
            self.rejected.append(body)
            return 400, b"invalid_payload"
        blocks = payload.get("blocks", [])
        if not isinstance(blocks, list) or not all(
            isinstance(block, dict) and block.get("type") in SLACK_BLOCK_TYPES for block in blocks
        ):
            self.rejected.append(body)
            return 400, b"invalid_blocks"
        self.received.append(payload)
        return 200, b"ok"


class _FreePortController(Controller):
    """An aiosmtpd controller that binds port 0 and learns the port the system chose."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpReceiver:
    """A real SMTP server on 127.0.0.1 keeping what it receives.

    ``security``: ``"plain"``, ``"starttls"`` (STARTTLS required) or ``"ssl"`` (TLS from the
    first byte); TLS modes need ``cert_dir`` for a self-signed certificate, whose path is
    ``ca_file`` (trust it with ``SSL_CERT_FILE``). With ``username``, only that username and
    password log in, and AUTH is required in the TLS modes (offered, not required, over
    plain). ``messages`` are ``EmailMessage`` objects; ``envelopes`` are
    ``(mail_from, rcpt_tos)``; ``logins`` the usernames that logged in.
    """

    def __init__(
        self,
        *,
        security: str = "plain",
        username: str | None = None,
        password: str | None = None,
        cert_dir: Path | None = None,
    ) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str | None, list[str]]] = []
        self.logins: list[str] = []
        self.ca_file: Path | None = None
        self._username, self._password = username, password
        self._received = threading.Condition()
        options: dict[str, Any] = {"hostname": "127.0.0.1", "port": 0}
        if security in ("starttls", "ssl"):
            if cert_dir is None:
                raise ValueError(f"security={security!r} needs cert_dir for a certificate")
            cert, key = self_signed_certificate(cert_dir)
            self.ca_file = cert
            server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server_context.load_cert_chain(cert, key)
            if security == "ssl":
                options["ssl_context"] = server_context
            else:
                options["tls_context"] = server_context
                options["require_starttls"] = True
        elif security != "plain":
            raise ValueError(f"unknown security {security!r}")
        if username is not None:
            options["authenticator"] = self._authenticate
            # over plain SMTP, AUTH is offered but not required (aiosmtpd warns on every
            # connection about requiring AUTH without TLS)
            options["auth_required"] = security != "plain"
            options["auth_require_tls"] = security != "plain"
        self._controller = _FreePortController(self, **options)
        self._controller.start()
        self.host = "127.0.0.1"
        self.port: int = self._controller.port

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """aiosmtpd's hook: keep the message."""
        content = envelope.original_content or b""
        message = email.message_from_bytes(
            content, _class=EmailMessage, policy=email.policy.default
        )
        with self._received:
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self._received.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until ``count`` messages have arrived; False if not within ``timeout``."""
        with self._received:
            return self._received.wait_for(lambda: len(self.messages) >= count, timeout)

    def close(self) -> None:
        """Stop the server."""
        self._controller.stop()

    def __enter__(self) -> SmtpReceiver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        """Accept only the configured username and password (LOGIN or PLAIN)."""
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode()
        if login == self._username and auth_data.password.decode() == self._password:
            self.logins.append(login)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for 127.0.0.1 and localhost; return (cert, key) paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "assay-test-smtp")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.DNSName("localhost"),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "smtp-cert.pem"
    key_path = directory / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path

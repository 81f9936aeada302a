"""Settings: the one place that reads ``ASSAY_*`` environment variables.

Every setting has a documented default (``docs/configuration.md``); ``Settings.from_env()``
builds the frozen dataclass the app, the CLI and the jobs are configured from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(ValueError):
    """An ``ASSAY_*`` variable holds a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    """Server configuration; build it with :meth:`from_env` or directly in tests."""

    data_dir: Path = Path(".assay")
    database_url: str = ""
    storage_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    max_request_mb: float = 16.0
    max_artifact_mb: float = 512.0
    max_reference_mb: float = 256.0
    allow_pickle: bool = False
    secret_key: str = ""
    log_level: str = "INFO"
    sqlite_busy_timeout_ms: int = 30_000
    max_sync_explain_rows: int = 20
    explain_workers: int = 2
    explain_timeout_seconds: float = 30.0
    explain_cpu_seconds: float = 60.0
    explain_memory_mb: int = 4096
    explain_cache_size: int = 8
    explain_max_unpacked_mb: float = 1024.0
    evidently_max_rows: int = 50_000
    max_batch_rows: int = 10_000
    max_window_rows: int = 200_000
    run_deadline_seconds: float = 900.0
    scheduler_sync_seconds: float = 10.0
    scheduler_misfire_grace_seconds: float = 300.0
    scheduler_workers: int = 2
    public_url: str = ""
    ui_session_idle_minutes: float = 60.0
    ui_session_hours: float = 12.0
    webhook_allow_private: bool = False
    smtp_host: str = ""
    smtp_port: int = 0
    smtp_security: str = "starttls"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = "assay@localhost"
    smtp_timeout_seconds: float = 10.0
    outbox_poll_seconds: float = 2.0
    audit_checkpoint_every: int = 1000
    audit_signing_key_file: Path | None = None
    owner_lookback_days: float = 30.0
    pending_label_days: float = 7.0
    #: days a new model's predictions are kept (None: for ever), unless it says otherwise
    retention_days: int | None = 90
    #: how old a prediction's timestamp may be when it arrives
    max_backfill_days: float = 30.0

    @property
    def smtp_port_or_default(self) -> int:
        """The SMTP port: as set, else 465 for SSL, 587 for STARTTLS, 25 for plain."""
        if self.smtp_port:
            return self.smtp_port
        return {"ssl": 465, "starttls": 587}.get(self.smtp_security, 25)

    def __post_init__(self) -> None:
        # Every path is made absolute once, here, from the working directory of the process
        # that loads the settings: a server or a command started elsewhere later, or code that
        # resolves paths against its package folder (Flask's send_file), sees the same files.
        object.__setattr__(self, "data_dir", _absolute(self.data_dir))
        if self.audit_signing_key_file is not None:
            object.__setattr__(
                self, "audit_signing_key_file", _absolute(self.audit_signing_key_file)
            )
        if not self.database_url:
            url = f"sqlite:///{self.data_dir / 'assay.db'}"
            object.__setattr__(self, "database_url", url)
        object.__setattr__(self, "database_url", _absolute_sqlite_url(self.database_url))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read ``ASSAY_*`` variables from ``environ`` (default ``os.environ``)."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {
            "data_dir": Path(env.get("ASSAY_DATA_DIR", ".assay")),
            "database_url": env.get("ASSAY_DATABASE_URL", ""),
            "storage_url": _storage_url(env),
            "host": env.get("ASSAY_HOST", "127.0.0.1"),
            "port": _int(env, "ASSAY_PORT", 8080),
            "max_request_mb": _float(env, "ASSAY_MAX_REQUEST_MB", 16.0),
            "max_artifact_mb": _float(env, "ASSAY_MAX_ARTIFACT_MB", 512.0),
            "max_reference_mb": _float(env, "ASSAY_MAX_REFERENCE_MB", 256.0),
            "allow_pickle": _bool(env, "ASSAY_ALLOW_PICKLE", False),
            "secret_key": env.get("ASSAY_SECRET_KEY", ""),
            "log_level": env.get("ASSAY_LOG_LEVEL", "INFO").upper(),
            "max_sync_explain_rows": _int(env, "ASSAY_MAX_SYNC_EXPLAIN_ROWS", 20),
            "explain_workers": _int(env, "ASSAY_EXPLAIN_WORKERS", 2),
            "explain_timeout_seconds": _float(env, "ASSAY_EXPLAIN_TIMEOUT_SECONDS", 30.0),
            "explain_cpu_seconds": _float(env, "ASSAY_EXPLAIN_CPU_SECONDS", 60.0),
            "explain_memory_mb": _int(env, "ASSAY_EXPLAIN_MEMORY_MB", 4096),
            "explain_cache_size": _int(env, "ASSAY_EXPLAIN_CACHE_SIZE", 8),
            "explain_max_unpacked_mb": _float(env, "ASSAY_EXPLAIN_MAX_UNPACKED_MB", 1024.0),
            "evidently_max_rows": _int(env, "ASSAY_EVIDENTLY_MAX_ROWS", 50_000),
            "max_batch_rows": _int(env, "ASSAY_MAX_BATCH_ROWS", 10_000),
            "max_window_rows": _int(env, "ASSAY_MAX_WINDOW_ROWS", 200_000),
            "run_deadline_seconds": _float(env, "ASSAY_RUN_DEADLINE_SECONDS", 900.0),
            "scheduler_sync_seconds": _float(env, "ASSAY_SCHEDULER_SYNC_SECONDS", 10.0),
            "scheduler_misfire_grace_seconds": _float(
                env, "ASSAY_SCHEDULER_MISFIRE_GRACE_SECONDS", 300.0
            ),
            "scheduler_workers": _int(env, "ASSAY_SCHEDULER_WORKERS", 2),
            "public_url": env.get("ASSAY_PUBLIC_URL", "").rstrip("/"),
            "ui_session_idle_minutes": _float(env, "ASSAY_UI_SESSION_IDLE_MINUTES", 60.0),
            "ui_session_hours": _float(env, "ASSAY_UI_SESSION_HOURS", 12.0),
            "webhook_allow_private": _bool(env, "ASSAY_WEBHOOK_ALLOW_PRIVATE", False),
            "smtp_host": env.get("ASSAY_SMTP_HOST", ""),
            "smtp_port": _int(env, "ASSAY_SMTP_PORT", 0),
            "smtp_security": _choice(
                env, "ASSAY_SMTP_SECURITY", "starttls", ("plain", "starttls", "ssl")
            ),
            "smtp_username": env.get("ASSAY_SMTP_USERNAME", ""),
            "smtp_password": env.get("ASSAY_SMTP_PASSWORD", ""),
            "smtp_from": env.get("ASSAY_SMTP_FROM", "assay@localhost"),
            "smtp_timeout_seconds": _float(env, "ASSAY_SMTP_TIMEOUT_SECONDS", 10.0),
            "outbox_poll_seconds": _float(env, "ASSAY_OUTBOX_POLL_SECONDS", 2.0),
            "audit_checkpoint_every": _count(env, "ASSAY_AUDIT_CHECKPOINT_EVERY", 1000),
            "audit_signing_key_file": _path(env, "ASSAY_AUDIT_SIGNING_KEY_FILE"),
            "owner_lookback_days": _float(env, "ASSAY_OWNER_LOOKBACK_DAYS", 30.0),
            "pending_label_days": _float(env, "ASSAY_PENDING_LABEL_DAYS", 7.0),
            "retention_days": _retention(env, "ASSAY_RETENTION_DAYS", 90),
            "max_backfill_days": _float(env, "ASSAY_MAX_BACKFILL_DAYS", 30.0),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def is_https(self) -> bool:
        """True when people reach the server over HTTPS (``ASSAY_PUBLIC_URL`` says so)."""
        return self.public_url.lower().startswith("https://")

    @property
    def is_sqlite(self) -> bool:
        """True when the store is SQLite (the embedded default)."""
        return self.database_url.startswith("sqlite")

    @property
    def artifacts_dir(self) -> Path:
        """Where model artifacts are stored, by content."""
        return self.data_dir / "artifacts"

    @property
    def reference_dir(self) -> Path:
        """Where reference datasets are stored, as Parquet, by content."""
        return self.data_dir / "reference"

    @property
    def profiles_dir(self) -> Path:
        """Where reference profiles (what monitoring reads instead of the reference) are kept."""
        return self.data_dir / "profiles"

    @property
    def reports_dir(self) -> Path:
        """Where the HTML of reports is cached, by content."""
        return self.data_dir / "reports"

    @property
    def audit_signing_key_path(self) -> Path:
        """The Ed25519 key audit checkpoints are signed with (created at first start)."""
        return self.audit_signing_key_file or self.data_dir / "audit_signing_key.pem"

    @property
    def max_request_bytes(self) -> int:
        """Largest JSON body accepted."""
        return int(self.max_request_mb * 1024 * 1024)

    @property
    def max_artifact_bytes(self) -> int:
        """Largest artifact accepted."""
        return int(self.max_artifact_mb * 1024 * 1024)

    @property
    def max_reference_bytes(self) -> int:
        """Largest reference dataset file accepted."""
        return int(self.max_reference_mb * 1024 * 1024)

    @property
    def explain_max_unpacked_bytes(self) -> int:
        """Most a model's zip archive (skops) may unpack to before a worker loads it."""
        return int(self.explain_max_unpacked_mb * 1024 * 1024)


def _storage_url(env: Mapping[str, str]) -> str:
    raw = env.get("ASSAY_STORAGE_URL", "").strip()
    if raw and not (raw.startswith("s3://") and len(raw) > len("s3://")):
        raise SettingsError(
            "ASSAY_STORAGE_URL must be empty (the data directory) or s3://bucket/prefix, "
            f"got {raw!r}"
        )
    return raw


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value < 0:
        raise SettingsError(f"{name} must be 0 or more, got {value}")
    return value


def _retention(env: Mapping[str, str], name: str, default: int) -> int | None:
    raw = env.get(name, "").strip().lower()
    if raw in ("forever", "none"):
        return None
    value = _int(env, name, default)
    if value < 1:
        raise SettingsError(f"{name} must be a number of days (1 or more) or 'forever'")
    return value


def _path(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name, "").strip()
    return Path(raw).expanduser() if raw else None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {raw!r}")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name, default).strip().lower() or default
    if raw not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise SettingsError(f"{name} must be 1/0, true/false, yes/no or on/off, got {raw!r}")


def _absolute(path: Path | str) -> Path:
    return Path(path).expanduser().resolve()


def _absolute_sqlite_url(url: str) -> str:
    """``sqlite:///relative.db`` with its file made absolute; other URLs as they are."""
    prefix, _, rest = url.partition(":///")
    if not prefix.startswith("sqlite") or not rest or rest.startswith("/"):
        return url
    file, question, query = rest.partition("?")
    if file == ":memory:" or file.startswith("file:"):
        return url
    return f"{prefix}:///{_absolute(file)}{question}{query}"

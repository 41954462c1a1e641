"""Process settings from the environment. Secrets never come from the repository."""

import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Settings:
    """Where the database and the configuration are, and how to serve."""

    database_url: str = "sqlite:///./data/scimgw.db"
    config_path: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    #: External base URL used in ``meta.location`` and ``Location`` headers when the
    #: gateway runs behind a proxy; empty means "derive it from the request".
    public_url: str = ""
    log_level: str = "info"
    #: Run the delivery worker inside ``serve`` (the embedded default).
    run_worker: bool = True
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: "os._Environ[str] | dict[str, str] | None" = None) -> "Settings":
        env = os.environ if environ is None else environ
        return cls(
            database_url=env.get("SCIMGW_DATABASE_URL", cls.database_url),
            config_path=env.get("SCIMGW_CONFIG") or None,
            host=env.get("SCIMGW_HOST", cls.host),
            port=int(env.get("SCIMGW_PORT", cls.port)),
            public_url=env.get("SCIMGW_PUBLIC_URL", "").rstrip("/"),
            log_level=env.get("SCIMGW_LOG_LEVEL", cls.log_level),
            run_worker=env.get("SCIMGW_RUN_WORKER", "1") != "0",
        )


@dataclass(frozen=True, repr=False)
class SmtpSettings:
    """The SMTP server run reports are sent through (``SCIMGW_SMTP_*``).

    The password comes from ``SCIMGW_SMTP_PASSWORD`` or the file ``SCIMGW_SMTP_PASSWORD_FILE``
    names (a mounted secret); it is never printed (``repr`` leaves it out).
    """

    host: str
    port: int = 587
    username: str | None = None
    password: str | None = None
    sender: str = "scimgw@localhost"
    #: Upgrade the connection with STARTTLS before logging in (on by default).
    starttls: bool = True
    timeout: float = 30.0

    def __repr__(self) -> str:
        return f"SmtpSettings(host={self.host!r}, port={self.port}, username={self.username!r})"

    @classmethod
    def from_env(
        cls, environ: "os._Environ[str] | dict[str, str] | None" = None
    ) -> "SmtpSettings | None":
        """The settings, or None when ``SCIMGW_SMTP_HOST`` is not set (no mail is sent)."""
        env = os.environ if environ is None else environ
        host = env.get("SCIMGW_SMTP_HOST")
        if not host:
            return None
        return cls(
            host=host,
            port=int(env.get("SCIMGW_SMTP_PORT", cls.port)),
            username=env.get("SCIMGW_SMTP_USERNAME") or None,
            password=_smtp_password(env),
            sender=env.get("SCIMGW_SMTP_FROM", cls.sender),
            starttls=env.get("SCIMGW_SMTP_STARTTLS", "1").lower() not in ("0", "false", "no"),
        )


def _smtp_password(env: "os._Environ[str] | dict[str, str]") -> str | None:
    path = env.get("SCIMGW_SMTP_PASSWORD_FILE")
    if path:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    return env.get("SCIMGW_SMTP_PASSWORD") or None

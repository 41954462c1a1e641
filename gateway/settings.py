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

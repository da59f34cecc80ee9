"""Configuration by environment, read once per process."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap_servers: str
    database_url: str
    home: Path
    partitions: int
    log_format: str  # "json" or "console"
    topic_prefix: str = ""  # prepended to every topic and group name; lets tests share one broker

    @classmethod
    def from_env(cls) -> "Settings":
        missing = [v for v in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL") if not os.environ.get(v)]
        if missing:
            raise RuntimeError(f"{', '.join(missing)} not set: start services with `rentflow up`, or set them")
        return cls(
            kafka_bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"],
            database_url=os.environ["DATABASE_URL"],
            home=home_dir(),
            partitions=int(os.environ.get("RENTFLOW_PARTITIONS", "6")),
            log_format=os.environ.get("RENTFLOW_LOG_FORMAT", "json"),
            topic_prefix=os.environ.get("RENTFLOW_TOPIC_PREFIX", ""),
        )


def home_dir() -> Path:
    return Path(os.environ.get("RENTFLOW_HOME", "./.rentflow")).resolve()

"""`python -m rentflow_notifications`: the service on RENTFLOW_PORT.

rentflow_common.service.serve(build_app(), ...) cannot be used as the guide shows: the
runtime's aiokafka producer must be created inside a running event loop, and serve() builds
nothing inside its loop. So the app is built in the loop uvicorn serves on (same settings as serve())."""
from __future__ import annotations

import asyncio
import os

import uvicorn

from rentflow_common.logging import configure_logging
from rentflow_common.settings import Settings

from rentflow_notifications.bootstrap import build_app


async def main() -> None:
    settings = Settings.from_env()
    configure_logging("notifications", settings.log_format)
    app = build_app(settings)
    config = uvicorn.Config(app, host=os.environ.get("RENTFLOW_HOST", "127.0.0.1"),
                            port=int(os.environ.get("RENTFLOW_PORT", "8000")), log_level="warning",
                            access_log=False, lifespan="on", timeout_graceful_shutdown=30)
    await uvicorn.Server(config).serve()  # handles SIGTERM/SIGINT: lifespan stops consumers and relay


if __name__ == "__main__":
    asyncio.run(main())

"""Serve an ASGI app with uvicorn on a thread of the gateway process."""

from __future__ import annotations

import socket
import threading

import structlog
import uvicorn

from gateway.errors import ConfigError

log = structlog.get_logger("adapters.http")


class Server:
    def __init__(self, app, *, host: str = "127.0.0.1", port: int = 8080) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Bind now (a taken port is a clear error at start-up), then serve on a thread."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise ConfigError(f"http: cannot listen on {self.host}:{self.port}: {exc.strerror} "
                              "(set http.port in the gateway config)") from None
        sock.listen(128)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="off",
                                timeout_graceful_shutdown=5)
        self._server = uvicorn.Server(config)
        # uvicorn captures signals only on the main thread; the gateway keeps handling them
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, name="http",
                                        daemon=True)
        self._thread.start()
        log.info("http api listening", url=self.url, openapi=f"{self.url}/docs")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(10)
            self._server = None

"""A collector that is down until the test brings it up, on ports nobody else can take meanwhile."""

from __future__ import annotations

import socket

from llmtel.receiver import OTLPReceiver


class DownReceiver(OTLPReceiver):
    """A receiver that is down until started. Its ports are held meanwhile by bound, non-listening sockets,
    so connecting is refused and no other process on the machine can take them."""

    def __init__(self) -> None:
        self._held = [socket.socket(), socket.socket()]
        for sock in self._held:
            sock.bind(("127.0.0.1", 0))
        super().__init__(grpc_port=self._held[0].getsockname()[1], http_port=self._held[1].getsockname()[1])

    def start(self) -> OTLPReceiver:
        for sock in self._held:
            sock.close()
        self._held = []
        return super().start()

    def stop(self) -> None:
        for sock in self._held:
            sock.close()
        super().stop()

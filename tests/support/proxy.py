"""A TCP proxy on a loopback port, in front of a server: it passes requests on, and can drop
the server's answers (closing the client's connection as the answer arrives), as a network
that fails after the server did the work would."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

from tests.support.live_server import free_port

BUFFER = 65536


class DroppingProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.drop_answers = True
        self.dropped = 0
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._closed.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=_pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._answer, args=(upstream, client), daemon=True).start()

    def _answer(self, upstream: socket.socket, client: socket.socket) -> None:
        try:
            while data := upstream.recv(BUFFER):
                if self.drop_answers:
                    self.dropped += 1
                    break
                client.sendall(data)
        except OSError:
            pass
        finally:
            _close(client, upstream)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(BUFFER):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(source, sink)


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


@contextlib.contextmanager
def dropping_proxy(upstream_port: int) -> Iterator[DroppingProxy]:
    proxy = DroppingProxy(upstream_port)
    try:
        yield proxy
    finally:
        proxy.close()

"""``opensure serve --workers N``: uvicorn's supervisor, with a listening socket per worker.

Under uvicorn's own supervisor every worker accepts from one shared socket, and the worker
that wakes first takes every connection that is waiting. A client that opens its keep-alive
connections at once (a help desk's connection pool, a load generator) can so end up with all
of them on one worker while the others idle: in ``bench.api`` one of two workers took 32 of
32 connections in about half the runs, and served at one worker's speed.

Here each worker slot has a socket of its own on the same address (``SO_REUSEPORT``), and the
kernel spreads new connections over the slots by a hash of each connection's addresses. A
slot keeps its socket across its worker's restarts (the supervisor holds it open), so no
socket is ever without a worker for longer than a restart: connections that arrive at a slot
meanwhile wait in its backlog and are served by the new worker, none is refused. Where the
platform has no ``SO_REUSEPORT`` (or for a Unix socket or a passed file descriptor),
uvicorn's shared socket is used as before.
"""

from __future__ import annotations

import contextlib
import socket

from uvicorn import Config, Server
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process, logger


def run(config: Config) -> None:
    """Serve ``config`` (its app given as an import string when it has several workers)."""
    if config.workers <= 1:
        server = Server(config)
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
        if not server.started:
            raise SystemExit(STARTUP_FAILURE)
        return
    if not hasattr(socket, "SO_REUSEPORT") or config.uds or config.fd is not None:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    sockets = bind_sockets(config.host, config.port, config.workers)
    logger.info(
        "Uvicorn running on %s://%s:%d, %d workers with a socket each (SO_REUSEPORT)",
        "https" if config.is_ssl else "http",
        config.host,
        sockets[0].getsockname()[1],
        config.workers,
    )
    try:
        SocketPerWorker(config, sockets).run()
    finally:
        for sock in sockets:
            sock.close()


def bind_sockets(host: str, port: int, n: int) -> list[socket.socket]:
    """``n`` sockets bound to one address with SO_REUSEPORT (port 0: one free port for all)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(n):
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            port = sock.getsockname()[1]
            sock.set_inheritable(True)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        logger.error(exc)
        raise SystemExit(STARTUP_FAILURE) from exc
    return sockets


class SocketPerWorker(Multiprocess):
    """uvicorn's ``Multiprocess`` (0.55) where worker slot ``i`` always listens on socket
    ``i``. Its three places that start a worker are rewritten to say which slot; the rest (the
    signals, health checks, shutdown) is uvicorn's. ``tests/test_serve_workers.py`` kills a
    worker and restarts them all with SIGHUP to check that every slot keeps a worker."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets=sockets)
        self.processes_num = len(sockets)

    def _start(self, slot: int) -> Process:
        process = Process(self.config, [self.sockets[slot]])
        process.start()
        return process

    def init_processes(self) -> None:
        for slot in range(self.processes_num):
            self.processes.append(self._start(slot))

    def restart_all(self) -> None:
        """Replace each worker, bringing its replacement into service before retiring it."""
        for slot, old_process in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new_process = self._start(slot)
            ready = new_process.wait_until_ready(
                self.config.timeout_worker_healthcheck, self.should_exit
            )
            if not ready:
                new_process.kill()
                new_process.join()
                if not self.should_exit.is_set():
                    logger.error(
                        f"New child process [{new_process.pid}] was not ready in time; "
                        f"keeping worker [{old_process.pid}] and aborting the restart."
                    )
                return
            old_process.terminate()
            old_process.join()
            self.processes[slot] = new_process

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for slot, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung: kill it
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                # It failed before serving (the app, TLS or the socket is broken): every
                # restart would fail the same way.
                logger.error(
                    f"Child process [{process.pid}] failed to start, stopping the parent process."
                )
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            logger.info(f"Child process [{process.pid}] died")
            self.processes[slot] = self._start(slot)

"""Process-wide settings of the Python runtime."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def freeze_startup_heap() -> None:
    """Keep the objects that live for the whole process out of full garbage collections.

    After start-up the heap holds a few hundred thousand long-lived objects (modules, routes,
    SQLAlchemy's tables and compiled statements, Jinja templates, pydantic schemas). Every
    full (generation 2) collection traversed all of them: 80 ms on this machine, several times
    a minute under load, which was the whole p99 tail of GET by id (docs/benchmarks.md).
    ``gc.freeze()`` moves them to the permanent generation, so a full collection only
    traverses what was allocated since. Collected first, so no garbage is frozen.
    """
    gc.collect()
    gc.freeze()


def run_event_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run a long-lived process's ``main`` on uvloop (the loop uvicorn runs the API on) where
    it is installed: the dispatcher spends most of its time in socket I/O, and uvloop's
    transports cost less CPU per SMTP command and per email than asyncio's (docs/benchmarks.md,
    "Dispatch throughput"). Elsewhere, asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)

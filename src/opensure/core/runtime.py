"""Process-wide settings of the Python runtime."""

from __future__ import annotations

import gc


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

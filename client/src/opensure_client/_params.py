"""Python arguments to API parameters: timestamps, data pairs, arrays, omitted fields."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time
from typing import Any, Final, Literal, TypeAlias

from opensure_client._models import DataItem

__all__ = ["UNSET", "DataInput", "Unset"]


class Unset(enum.Enum):
    """The type of ``UNSET``: "leave this field as it is" in an update."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = Unset.UNSET
UnsetType: TypeAlias = Literal[Unset.UNSET]

DataPair: TypeAlias = tuple[str, str] | DataItem
# A dict, or pairs (repeat a key with pairs); a DataItem with an id updates that item.
DataInput: TypeAlias = Mapping[str, str] | Iterable[DataPair]


def timestamp(value: datetime | date) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``; a naive datetime is UTC, a date is midnight UTC."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0), tzinfo=UTC)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def data_items(value: DataInput) -> list[dict[str, Any]]:
    """``[{"key": ..., "value": ...}]`` (with ``id`` for a DataItem that has one)."""
    if isinstance(value, (str, bytes)):
        raise TypeError("data must be a dict or a list of (key, value) pairs, not a string")
    pairs: Iterable[Any] = value.items() if isinstance(value, Mapping) else value
    items: list[dict[str, Any]] = []
    for pair in pairs:
        if isinstance(pair, DataItem):
            item: dict[str, Any] = {"key": pair.key, "value": pair.value}
            if pair.id is not None:
                item = {"id": pair.id, **item}
            items.append(item)
            continue
        key, val = pair
        items.append({"key": key, "value": val})
    return items


def body(**fields: Any) -> dict[str, Any]:
    """The JSON body: fields that are None (create) or UNSET (update) are left out."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if value is UNSET:
            continue
        out[name] = value
    return out


def present(**fields: Any) -> dict[str, Any]:
    """Only the fields that are not None."""
    return {name: value for name, value in fields.items() if value is not None}


def array(value: Iterable[Any] | str | int | None) -> list[str] | None:
    """An array parameter as strings (a single value is a one-item array)."""
    if value is None:
        return None
    if isinstance(value, (str, int)):
        return [str(value)]
    return [str(v) for v in value]

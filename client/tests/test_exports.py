"""The public surface: what the package exports, and Client and AsyncClient matching."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import opensure_client
from opensure_client import AsyncClient, Client


def test_all_names_exist_and_are_sorted_by_kind() -> None:
    for name in opensure_client.__all__:
        assert hasattr(opensure_client, name), name
    assert len(set(opensure_client.__all__)) == len(opensure_client.__all__)


def test_every_public_name_is_in_all() -> None:
    public = {
        name
        for name, value in vars(opensure_client).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public <= set(opensure_client.__all__)


def test_public_classes_belong_to_the_package() -> None:
    for name in opensure_client.__all__:
        value = getattr(opensure_client, name)
        if inspect.isclass(value):
            assert value.__module__ == "opensure_client", name


def test_py_typed_is_shipped() -> None:
    assert (Path(opensure_client.__file__).parent / "py.typed").is_file()


RESOURCES = ["feedback_requests", "feedback_responses", "metrics", "sites"]
METHODS = {
    "feedback_requests": {"create", "get", "update", "delete", "list"},
    "feedback_responses": {"get", "list", "sync"},
    "metrics": {"nps", "response_rate"},
    "sites": {"create", "get", "update", "replace", "delete", "list"},
}


def _methods(obj: object) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(obj, callable)
        if not name.startswith("_")
    }


@pytest.mark.parametrize("resource", RESOURCES)
async def test_async_client_has_the_same_surface(resource: str) -> None:
    with Client(token="t", user_agent="Acme") as sync_client:
        sync_methods = _methods(getattr(sync_client, resource))
    async with AsyncClient(token="t", user_agent="Acme") as async_client:
        async_methods = _methods(getattr(async_client, resource))
    assert set(sync_methods) == METHODS[resource]
    assert set(async_methods) == METHODS[resource]
    for name, signature in sync_methods.items():
        theirs = async_methods[name]
        assert list(signature.parameters.values()) == list(theirs.parameters.values()), name


def test_client_constructors_take_the_same_arguments() -> None:
    ours = inspect.signature(Client).parameters
    theirs = inspect.signature(AsyncClient).parameters
    assert list(ours) == list(theirs)
    assert list(ours)[:3] == ["token", "user_agent", "base_url"]
    assert ours["user_agent"].default is inspect.Parameter.empty

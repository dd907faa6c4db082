"""No request forgery (SPEC §9): URLs resolving to non-public addresses are refused at creation
and at each delivery, unless allowed. Names are resolved by a stub: no DNS, and nothing is
ever sent anywhere but 127.0.0.1."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI

from opensure.core import netcheck
from opensure.core.errors import AdminError
from opensure.webhooks import service as webhooks
from tests.conftest import Account
from tests.webhooks.support import Receiver, deliver, emit, show, stub_resolver

REFUSED = {
    "127.0.0.1": "loopback",
    "127.9.9.9": "loopback",
    "::1": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "169.254.10.10": "link-local",
    "fe80::1": "link-local",
    "fc00::1": "unique-local",
    "fd12:3456::1": "unique-local",
    "100.64.0.1": "shared (CGNAT)",
    "224.0.0.1": "multicast",
    "ff02::1": "multicast",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "169.254.169.254": "cloud metadata",
    "fd00:ec2::254": "cloud metadata",
    "::ffff:10.0.0.1": "private",
    "::ffff:169.254.169.254": "cloud metadata",
}
# Addresses the check must let through; no test ever connects to them.
PUBLIC = ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]


@pytest.mark.parametrize(("address", "why"), REFUSED.items())
async def test_non_public_addresses_are_refused(address: str, why: str) -> None:
    with pytest.raises(netcheck.UnsafeUrl, match=re.escape(address) + ", an? " + re.escape(why)):
        await netcheck.check(
            "https://hooks.example.test/in", allow_private=False, resolve=stub_resolver(address)
        )
    assert netcheck.refusal(address) is not None


async def test_one_bad_address_among_good_ones_is_refused() -> None:
    with pytest.raises(netcheck.UnsafeUrl, match=re.escape("10.0.0.7")):
        await netcheck.check(
            "https://hooks.example.test/in",
            allow_private=False,
            resolve=stub_resolver(PUBLIC[0], "10.0.0.7"),
        )


@pytest.mark.parametrize("address", PUBLIC)
async def test_public_addresses_pass(address: str) -> None:
    target = await netcheck.check(
        "https://hooks.example.test:8443/in", allow_private=False, resolve=stub_resolver(address)
    )
    assert (target.host, target.port, target.addresses) == ("hooks.example.test", 8443, [address])


async def test_address_literals_are_checked_without_resolving() -> None:
    with pytest.raises(netcheck.UnsafeUrl, match="loopback"):
        await netcheck.check("http://127.0.0.1:9/x", allow_private=False)
    with pytest.raises(netcheck.UnsafeUrl, match="loopback"):
        await netcheck.check("http://[::1]:9/x", allow_private=False)
    allowed = await netcheck.check("http://127.0.0.1:9/x", allow_private=True)
    assert allowed.addresses == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://hooks.example.test/", "https://"),
        ("hooks.example.test/in", "https://"),
        ("https:///in", "no host"),
        ("https://hooks.example.test:99999/", "not valid"),
    ],
)
async def test_malformed_urls_are_refused(url: str, problem: str) -> None:
    with pytest.raises(netcheck.UnsafeUrl, match=problem):
        await netcheck.check(url, allow_private=True, resolve=stub_resolver(PUBLIC[0]))


async def test_creation_refuses_a_private_url_unless_allowed(
    app: FastAPI, account: Account
) -> None:
    async with app.state.engine.begin() as conn:
        with pytest.raises(
            AdminError, match=re.escape("169.254.169.254, a cloud metadata address")
        ):
            await webhooks.create_endpoint(
                conn,
                account.id,
                url="https://metadata.example.test/",
                resolve=stub_resolver("169.254.169.254"),
            )
        with pytest.raises(AdminError, match=re.escape("Unknown event type 'feedback.nope'")):
            await webhooks.create_endpoint(
                conn,
                account.id,
                url="https://hooks.example.test/",
                events="feedback.nope",
                resolve=stub_resolver(PUBLIC[0]),
            )
        made = await webhooks.create_endpoint(
            conn,
            account.id,
            url="https://hooks.example.test/",
            resolve=stub_resolver(PUBLIC[0]),
        )
        assert made["secret"].startswith("whsec_") and made["events"] == "all"
        listed = await webhooks.list_endpoints(conn, account.id)
    assert [e["id"] for e in listed] == [made["id"]]
    assert "secret" not in listed[0]


async def test_delivery_checks_again_and_refuses_when_dns_changed(
    app: FastAPI, account: Account, receiver: Receiver
) -> None:
    # Created while the name pointed at a public address; now it points at this host.
    url = f"http://hooks.example.test:{receiver.port}/hook"
    async with app.state.engine.begin() as conn:
        endpoint = await webhooks.create_endpoint(
            conn, account.id, url=url, resolve=stub_resolver(PUBLIC[0])
        )
    await emit(app, account.id, "feedback_response.created", {})
    await deliver(app, resolve=stub_resolver("127.0.0.1"))

    assert receiver.hits == []
    shown = await show(app, endpoint["id"])
    (attempt,) = shown["deliveries"]
    assert attempt["status_code"] is None and "127.0.0.1, a loopback address" in attempt["error"]
    assert shown["pending_events"] == 1  # retried later: DNS may change back


async def test_delivery_connects_to_the_address_it_checked(
    app: FastAPI, account: Account, receiver: Receiver
) -> None:
    # Allowed onto the private network; the name is resolved once, by the sender's resolver,
    # and the connection goes to that address with the name in the Host header.
    url = f"http://receiver.example.test:{receiver.port}/hook"
    async with app.state.engine.begin() as conn:
        endpoint = await webhooks.create_endpoint(
            conn,
            account.id,
            url=url,
            allow_private_network=True,
            resolve=stub_resolver("127.0.0.1"),
        )
    await emit(app, account.id, "feedback_response.created", {"pinned": True})
    await deliver(app, resolve=stub_resolver("127.0.0.1"))
    (hit,) = receiver.hits
    assert hit.headers["host"] == f"receiver.example.test:{receiver.port}"
    assert hit.path == "/hook"
    assert receiver.verified(endpoint["secret"])[0]["data"] == {"pinned": True}


async def test_redirects_are_not_followed(
    app: FastAPI, account: Account, receiver: Receiver
) -> None:
    async with app.state.engine.begin() as conn:
        endpoint = await webhooks.create_endpoint(
            conn, account.id, url=receiver.url, allow_private_network=True
        )
    receiver.answer(302)
    await emit(app, account.id, "feedback_response.created", {})
    await deliver(app)
    assert len(receiver.hits) == 1
    (attempt,) = (await show(app, endpoint["id"]))["deliveries"]
    assert attempt["status_code"] == 302

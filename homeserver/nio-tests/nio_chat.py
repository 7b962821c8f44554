"""Drives two Consort nodes with the matrix-nio client library, as a Python bot would.

Usage: nio_chat.py CONFIG.json, where the config is
    {"org1": {"homeserver": URL, "user": LOCALPART, "password": PW},
     "org2": {"homeserver": URL, "user": LOCALPART, "password": PW}}
with both users already registered. User A (org1) creates a room and invites user B (org2);
B joins with nio's own join call, they exchange a message each way through /sync, B sets a
display name that both read back, B leaves and A sees the leave. Only AsyncClient calls are
used, so every request is exactly what nio sends. Prints PASS, or exits non-zero with the
failing step.
"""

import asyncio
import json
import sys
import time
import uuid

from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    JoinResponse,
    LoginResponse,
    LogoutResponse,
    ProfileGetDisplayNameResponse,
    ProfileSetDisplayNameResponse,
    RoomCreateResponse,
    RoomInviteResponse,
    RoomLeaveResponse,
    RoomMemberEvent,
    RoomMessageText,
    RoomSendResponse,
    SyncResponse,
)
from nio.events.misc import BadEvent, UnknownBadEvent

OVERALL_TIMEOUT = 90  # seconds, for the whole run
STEP_TIMEOUT = 30  # seconds, for any one wait on /sync or replication
LONG_POLL_MS = 5000


class Failure(Exception):
    pass


def log(message):
    print(f"nio_chat: {message}", file=sys.stderr, flush=True)


def check(step, resp, expected):
    """Fails the step unless `resp` is an instance of `expected` (nio's success type)."""
    if isinstance(resp, expected):
        return resp
    detail = str(resp)
    transport = getattr(resp, "transport_response", None)
    if transport is not None:
        detail += f" (HTTP {transport.status} {transport.method} {transport.url})"
    if isinstance(resp, ErrorResponse):
        raise Failure(f"{step}: {detail}")
    raise Failure(f"{step}: unexpected {type(resp).__name__}: {detail}")


def report_bad_events(who, resp):
    """nio turns events that do not match its schemas into Bad events: each is an
    incompatibility worth seeing, so it is logged (the steps then fail if they needed it)."""
    sections = [
        (kind, room_id, info)
        for kind, rooms in (("join", resp.rooms.join), ("leave", resp.rooms.leave))
        for room_id, info in rooms.items()
    ]
    for kind, room_id, info in sections:
        for event in list(info.timeline.events) + list(info.state):
            if isinstance(event, (BadEvent, UnknownBadEvent)):
                log(f"{who}: unparsable event in rooms.{kind}[{room_id}]: {event.source}")
    for room_id, info in resp.rooms.invite.items():
        for event in info.invite_state:
            if isinstance(event, (BadEvent, UnknownBadEvent)):
                log(f"{who}: unparsable event in rooms.invite[{room_id}]: {event.source}")


async def sync_until(who, client, step, found):
    """Long-polls /sync (incrementally, from the client's last token) until `found(resp)`
    returns something truthy; returns it."""
    deadline = time.monotonic() + STEP_TIMEOUT
    while time.monotonic() < deadline:
        resp = await client.sync(timeout=LONG_POLL_MS)
        check(f"{step}: sync as {who}", resp, SyncResponse)
        report_bad_events(who, resp)
        result = found(resp)
        if result:
            return result
    raise Failure(f"{step}: not seen by {who} through /sync within {STEP_TIMEOUT} s")


def timeline(resp, room_id, section="join"):
    info = getattr(resp.rooms, section).get(room_id)
    return list(info.timeline.events) if info else []


def text_in(room_id, body):
    """A finder of the text message `body` in the room's timeline."""

    def found(resp):
        for event in timeline(resp, room_id):
            if isinstance(event, RoomMessageText) and event.body == body:
                return event
        return None

    return found


def membership_in(room_id, user_id, membership):
    """A finder of `user_id`'s membership event `membership` in the room's timeline."""

    def found(resp):
        for event in timeline(resp, room_id):
            if (
                isinstance(event, RoomMemberEvent)
                and event.state_key == user_id
                and event.membership == membership
            ):
                return event
        return None

    return found


async def login(who, conf):
    client = AsyncClient(
        conf["homeserver"],
        conf["user"],
        config=AsyncClientConfig(max_timeouts=3, request_timeout=30),
    )
    resp = check(
        f"login {who}",
        await client.login(conf["password"], device_name=f"nio {who}"),
        LoginResponse,
    )
    if not resp.user_id.startswith(f"@{conf['user']}:"):
        raise Failure(f"login {who}: unexpected user_id {resp.user_id}")
    log(f"{who} logged in as {resp.user_id} (device {resp.device_id})")
    return client


async def chat(config):
    marker = uuid.uuid4().hex
    a = await login("A", config["org1"])
    b = await login("B", config["org2"])
    try:
        # First syncs, so that every later sync is incremental.
        check("initial sync A", await a.sync(timeout=0), SyncResponse)
        check("initial sync B", await b.sync(timeout=0), SyncResponse)

        created = check(
            "room_create",
            await a.room_create(name=f"nio room {marker}", topic="matrix-nio test"),
            RoomCreateResponse,
        )
        room_id = created.room_id
        log(f"A created {room_id}")
        check("room_invite", await a.room_invite(room_id, b.user_id), RoomInviteResponse)

        await sync_until("B", b, "invite", lambda resp: room_id in resp.rooms.invite)
        log("B sees the invite")
        # nio's join: POST /join/{roomIdOrAlias} with no body at all.
        joined = check("join", await b.join(room_id), JoinResponse)
        if joined.room_id != room_id:
            raise Failure(f"join: answered room_id {joined.room_id}, expected {room_id}")
        log("B joined")

        await sync_until("A", a, "B's join", membership_in(room_id, b.user_id, "join"))
        log("A sees B's join")

        hello = f"hello from A {marker}"
        sent = check(
            "room_send A",
            await a.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": hello}),
            RoomSendResponse,
        )
        event = await sync_until("B", b, "A's message", text_in(room_id, hello))
        if event.sender != a.user_id or event.event_id != sent.event_id:
            raise Failure(
                f"A's message: got sender {event.sender} event {event.event_id}, "
                f"expected {a.user_id} {sent.event_id}"
            )
        log("B read A's message")

        reply = f"reply from B {marker}"
        sent = check(
            "room_send B",
            await b.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": reply}),
            RoomSendResponse,
        )
        event = await sync_until("A", a, "B's reply", text_in(room_id, reply))
        if event.sender != b.user_id or event.event_id != sent.event_id:
            raise Failure(
                f"B's reply: got sender {event.sender} event {event.event_id}, "
                f"expected {b.user_id} {sent.event_id}"
            )
        log("A read B's reply")

        name = f"Bob nio {marker[:8]}"
        check("set_displayname B", await b.set_displayname(name), ProfileSetDisplayNameResponse)
        own = check(
            "get_displayname B (own)", await b.get_displayname(), ProfileGetDisplayNameResponse
        )
        if own.displayname != name:
            raise Failure(f"get_displayname B (own): {own.displayname!r}, expected {name!r}")
        # Across organisations the profile arrives once org1 applied B's record.
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            seen = check(
                "get_displayname of B as A",
                await a.get_displayname(b.user_id),
                ProfileGetDisplayNameResponse,
            )
            if seen.displayname == name:
                break
            if time.monotonic() > deadline:
                raise Failure(
                    f"get_displayname of B as A: {seen.displayname!r} after {STEP_TIMEOUT} s, "
                    f"expected {name!r}"
                )
            await asyncio.sleep(0.2)
        log("A and B read B's display name")

        check("room_leave B", await b.room_leave(room_id), RoomLeaveResponse)
        await sync_until("A", a, "B's leave", membership_in(room_id, b.user_id, "leave"))
        log("A sees B's leave")
        await sync_until("B", b, "own leave", lambda resp: room_id in resp.rooms.leave)
        log("B sees the room under rooms.leave")

        for who, client in (("A", a), ("B", b)):
            check(f"logout {who}", await client.logout(), LogoutResponse)
    finally:
        await a.close()
        await b.close()


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: nio_chat.py CONFIG.json")
    with open(sys.argv[1]) as f:
        config = json.load(f)
    try:
        asyncio.run(asyncio.wait_for(chat(config), OVERALL_TIMEOUT))
    except Failure as e:
        sys.exit(f"FAIL: {e}")
    except asyncio.TimeoutError:
        sys.exit(f"FAIL: the whole run took more than {OVERALL_TIMEOUT} s")
    print("PASS")


if __name__ == "__main__":
    main()

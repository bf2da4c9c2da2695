"""Does the local stack hold under hostile load? Many clients, a mix of requests, killed instances.

A local stack (`lukewarm serve`, the demo model unless `--model-dir`) is driven by
`--clients` concurrent clients for `--duration` seconds. Each request is drawn (seeded)
from a mix: valid uploads (raw and multipart), refusals the function gives (not an
image, a bad query, JSON with non-ASCII base64, a form of 10,000 tiny parts, an unknown
route, and images that once held an instance for seconds or hundreds of MB: a
progressive-JPEG scan bomb, an ICO holding a 13377x13377 PNG, a 33.5M x 1 PNG, each
also sent once before the load), page and health probes (GET and HEAD), and
bodies API Gateway or Lambda refuse (over Lambda's 6 MiB, over HTTP API's 10 MiB).
Before the load an idle instance is killed, and half-way a busy one: the largest image
the function accepts (128 MiB decoded, seconds of work) is sent, and the instance found
working on it is killed. The stack must drop both and serve on.

Every request must get an HTTP answer with a status its kind allows (429 is allowed
everywhere: the pool is capped). Prints counts per kind and status, latency
percentiles, and the stack's RSS and open file descriptors before and after, then one
line: `load: requests=<n> lost=<n> unexpected_5xx=<n> p99_ms=<n>`; lost is a request
with no HTTP answer, unexpected a 5xx its kind does not allow beyond the one request
the busy kill may cost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import random
import signal
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil
from PIL import Image

from bench.hostile import ico_holding_png, scan_bomb_jpeg, wide_png
from lukewarm.localstack.process import StackProcess

PHOTO = Path(__file__).resolve().parent.parent / "data" / "photos" / "coffee.png"
BOUNDARY = "lukewarmLoadBoundary"


@dataclass(frozen=True)
class Kind:
    """One kind of request: how to send it, how often, and the statuses it may get."""

    name: str
    weight: int
    method: str
    path: str
    body: bytes | None
    content_type: str | None
    allowed: frozenset[int]
    delivered: bool = False
    """Also sent once before the load, until an instance answers it (not 429), so that it
    reaches the function: under load, a large body rarely finds an instance free."""


def form(fields: list[tuple[str, bytes, str | None]]) -> bytes:
    """A multipart/form-data body; a field with a type is a file."""
    chunks = []
    for name, data, media_type in fields:
        disposition = f'form-data; name="{name}"' + ('; filename="f"' if media_type else "")
        headers = f"Content-Disposition: {disposition}\r\n"
        if media_type:
            headers += f"Content-Type: {media_type}\r\n"
        chunks.append(f"--{BOUNDARY}\r\n{headers}\r\n".encode() + data + b"\r\n")
    return b"".join(chunks) + f"--{BOUNDARY}--\r\n".encode()


def kinds(photo: bytes) -> list[Kind]:
    multipart = f"multipart/form-data; boundary={BOUNDARY}"
    tiny_parts = form(
        [(f"f{i}", b"x", None) for i in range(10_000)] + [("image", photo, "image/png")]
    )
    ok, throttled = 200, 429
    return [
        Kind("caption raw", 10, "POST", "/caption", photo, "image/png", frozenset({ok, throttled})),
        Kind(
            "caption form",
            4,
            "POST",
            "/caption",
            form([("image", photo, "image/png")]),
            multipart,
            frozenset({ok, throttled}),
        ),
        Kind(
            "not an image",
            15,
            "POST",
            "/caption",
            b"hello" * 40,
            "image/png",
            frozenset({400, throttled}),
        ),
        Kind(
            "bad query",
            10,
            "POST",
            "/caption?beam=99",
            photo,
            "image/png",
            frozenset({400, throttled}),
        ),
        Kind(
            "non-ascii base64",
            10,
            "POST",
            "/caption",
            json.dumps({"image": "é"}, ensure_ascii=False).encode(),
            "application/json",
            frozenset({400, throttled}),
        ),
        Kind(
            "10,000 parts",
            4,
            "POST",
            "/caption",
            tiny_parts,
            multipart,
            frozenset({400, throttled}),
        ),
        Kind(
            "JPEG scan bomb",
            3,
            "POST",
            "/caption",
            scan_bomb_jpeg(),
            "image/jpeg",
            frozenset({413, throttled}),
            delivered=True,
        ),
        Kind(
            "ICO holding a big PNG",
            3,
            "POST",
            "/caption",
            ico_holding_png(),
            "image/x-icon",
            frozenset({415, throttled}),
            delivered=True,
        ),
        Kind(
            "33.5M x 1 PNG",
            3,
            "POST",
            "/caption",
            wide_png(),
            "image/png",
            frozenset({413, throttled}),
            delivered=True,
        ),
        Kind("unknown route", 10, "GET", "/nowhere", None, None, frozenset({404, throttled})),
        Kind("health", 15, "GET", "/health", None, None, frozenset({ok, throttled})),
        Kind("head page", 10, "HEAD", "/", None, None, frozenset({ok, throttled})),
        Kind(
            "over 6 MiB",
            1,
            "POST",
            "/caption",
            b"\0" * (7 * 2**20),
            "application/octet-stream",
            frozenset({500}),  # API Gateway's answer when Lambda refuses the payload
        ),
        Kind(
            "over 10 MiB",
            1,
            "POST",
            "/caption",
            b"\0" * (11 * 2**20),
            "application/octet-stream",
            frozenset({413}),
        ),
    ]


@dataclass
class Tally:
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    unexpected: Counter[tuple[str, int]] = field(default_factory=Counter)
    lost: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + sum(self.lost.values())


async def client(
    session: aiohttp.ClientSession,
    url: str,
    mix: list[Kind],
    rng: random.Random,
    stop_at: float,
    tally: Tally,
) -> None:
    weights = [kind.weight for kind in mix]
    while time.monotonic() < stop_at:
        await send(session, url, rng.choices(mix, weights)[0], tally)


async def send(session: aiohttp.ClientSession, url: str, kind: Kind, tally: Tally) -> int | None:
    """One request of `kind`, tallied: its status, or None if it got no HTTP answer."""
    headers = {"Content-Type": kind.content_type} if kind.content_type else {}
    started = time.perf_counter()
    try:
        async with session.request(
            kind.method, url + kind.path.lstrip("/"), data=kind.body, headers=headers
        ) as response:
            await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as error:
        tally.lost[f"{kind.name}: {type(error).__name__}"] += 1
        return None
    tally.latencies_ms.append((time.perf_counter() - started) * 1000)
    tally.statuses[kind.name, status] += 1
    if status not in kind.allowed:
        tally.unexpected[kind.name, status] += 1
    return status


async def deliver(
    session: aiohttp.ClientSession, url: str, kind: Kind, stop_at: float, tally: Tally
) -> None:
    """Send `kind` until an instance answers it (anything but 429), or the load ends."""
    while time.monotonic() < stop_at and await send(session, url, kind, tally) == 429:
        await asyncio.sleep(0.05)


def instances(stack: StackProcess) -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process(stack.pid).children(recursive=True)
        if child.status() != psutil.STATUS_ZOMBIE
    ]


def footprint(stack: StackProcess) -> str:
    server = psutil.Process(stack.pid)
    children = instances(stack)
    rss_mb = sum(process.memory_info().rss for process in children) / 2**20
    return (
        f"server RSS {server.memory_info().rss / 2**20:.0f} MB, {server.num_fds()} fds; "
        f"{len(children)} instances, {rss_mb:.0f} MB RSS"
    )


def largest_accepted_image() -> bytes:
    """An 8192x4096 RGBA PNG: 128 MiB decoded, the function's limit; small on the wire."""
    buffer = io.BytesIO()
    Image.new("RGBA", (8192, 4096), (90, 140, 200, 255)).save(buffer, "PNG")
    return buffer.getvalue()


def working_instance(stack: StackProcess, timeout: float = 2.0) -> psutil.Process | None:
    """An instance running on a CPU or waiting for one (Linux state R), within `timeout`
    seconds: one serving a request; an idle instance sleeps in a read of its stdin."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in instances(stack):
            with contextlib.suppress(psutil.NoSuchProcess):
                if process.status() == psutil.STATUS_RUNNING:
                    return process
        time.sleep(0.01)
    return None


async def kill_busy_instance(
    session: aiohttp.ClientSession, stack: StackProcess, image: bytes, tally: Tally
) -> tuple[int | None, bool]:
    """Send the largest accepted image and kill the instance working hardest while it is
    in flight (the one decoding it), retrying while it is throttled: the pid killed (None
    if no try got through in 30 s), and whether the kill cost this request rather than a
    client's.

    The request is tallied like the clients' (kind "largest image"); the one 500 a busy
    kill may cost is not counted as unexpected.
    """
    kind = "largest image"

    async def send() -> int:
        async with session.post(
            stack.url + "caption", data=image, headers={"Content-Type": "image/png"}
        ) as response:
            await response.read()
            return response.status

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        started = time.perf_counter()
        request = asyncio.create_task(send())
        await asyncio.sleep(0.2)  # a throttled request is answered by now
        victim = None
        if not request.done():
            victim = await asyncio.to_thread(working_instance, stack)
            if victim is not None and not request.done():
                victim.send_signal(signal.SIGKILL)
            else:
                victim = None
        status = await request
        tally.latencies_ms.append((time.perf_counter() - started) * 1000)
        absorbed = victim is not None and status >= 500
        tally.statuses[kind + (" (killed)" if absorbed else ""), status] += 1
        if status not in (200, 429) and not absorbed:
            tally.unexpected[kind, status] += 1
        if victim is not None:
            return victim.pid, absorbed
    return None, False


def excuse_one_killed_request(tally: Tally) -> None:
    """When the busy kill cost a client's request rather than its own, move one unexpected
    5xx to a "(killed)" row, so that the table and the summary line count the same."""
    for (kind, status), count in sorted(tally.unexpected.items()):
        if status >= 500 and count > 0:
            tally.unexpected[kind, status] -= 1
            if not tally.unexpected[kind, status]:
                del tally.unexpected[kind, status]
            tally.statuses[kind, status] -= 1
            if not tally.statuses[kind, status]:
                del tally.statuses[kind, status]
            tally.statuses[f"{kind} (killed)", status] += 1
            return


async def warm(url: str, photo: bytes, count: int) -> None:
    """Start `count` instances at once, then leave them idle."""
    async with aiohttp.ClientSession() as session:

        async def one() -> None:
            async with session.post(
                url + "caption", data=photo, headers={"Content-Type": "image/png"}
            ) as response:
                await response.read()

        await asyncio.gather(*(one() for _ in range(count)))


async def drive(
    stack: StackProcess,
    mix: list[Kind],
    clients: int,
    duration: float,
    seed: int,
    slow_image: bytes,
) -> tuple[Tally, int | None, bool]:
    """Run the clients for `duration` seconds, killing a busy instance half-way."""
    tally = Tally()
    timeout = aiohttp.ClientTimeout(total=90)
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        # Under load a large body rarely finds an instance free: these go first, once each.
        for kind in mix:
            if kind.delivered:
                await deliver(session, stack.url, kind, time.monotonic() + 30, tally)
        stop_at = time.monotonic() + duration
        tasks = [
            asyncio.create_task(
                client(session, stack.url, mix, random.Random(seed + index), stop_at, tally)
            )
            for index in range(clients)
        ]
        await asyncio.sleep(duration / 2)
        killed, absorbed = await kill_busy_instance(session, stack, slow_image, tally)
        await asyncio.gather(*tasks)
    return tally, killed, absorbed


def percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=1000)[round(share * 1000) - 1] if len(values) > 1 else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--clients", type=int, default=48)
    parser.add_argument("--max-instances", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--model-dir", type=Path, default=None)
    args = parser.parse_args(argv)

    photo = PHOTO.read_bytes()
    mix = kinds(photo)
    options = {"no_warmer": True, "max_instances": args.max_instances}
    if args.model_dir is not None:
        options["model_dir"] = args.model_dir
    with StackProcess(**options) as stack:
        asyncio.run(warm(stack.url, photo, args.max_instances))
        before = footprint(stack)
        idle = instances(stack)[0]
        idle.send_signal(signal.SIGKILL)
        idle.wait(10)
        print(f"load: killed idle instance pid {idle.pid}", flush=True)
        print(
            f"load: {args.clients} clients for {args.duration:g} s, at most "
            f"{args.max_instances} instances, seed {args.seed}",
            flush=True,
        )
        started = time.perf_counter()
        tally, killed, absorbed = asyncio.run(
            drive(stack, mix, args.clients, args.duration, args.seed, largest_accepted_image())
        )
        print(f"load: killed busy instance pid {killed}" if killed else "load: no busy kill")
        elapsed = time.perf_counter() - started
        time.sleep(1.0)  # let the stack settle before its footprint is read
        after = footprint(stack)
        exits = stack.log().count("exited while idle")

    if killed is not None and not absorbed:
        excuse_one_killed_request(tally)
    print(f"{'kind':24}{'status':>8}{'count':>9}")
    for (name, status), count in sorted(tally.statuses.items()):
        flag = "  unexpected" if (name, status) in tally.unexpected else ""
        print(f"{name:24}{status:>8}{count:>9}{flag}")
    for reason, count in sorted(tally.lost.items()):
        print(f"lost: {reason} x{count}")
    latencies = tally.latencies_ms
    p99 = percentile(latencies, 0.99)
    print(
        f"latency ms: p50 {percentile(latencies, 0.5):.0f}, p90 {percentile(latencies, 0.9):.0f}, "
        f"p99 {p99:.0f}, max {max(latencies, default=0):.0f}; "
        f"{tally.requests / elapsed:.0f} requests/s"
    )
    print(f"before: {before}")
    print(f"after:  {after}")
    print(f"stack: {exits} dead idle instance(s) dropped before a request reached them")
    unexpected_5xx = sum(count for (_, status), count in tally.unexpected.items() if status >= 500)
    print(
        f"load: requests={tally.requests} lost={sum(tally.lost.values())} "
        f"unexpected_5xx={unexpected_5xx} p99_ms={p99:.0f}"
    )
    clean = (
        not tally.lost
        and unexpected_5xx == 0
        and not any(status < 500 for _, status in tally.unexpected)
    )
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())

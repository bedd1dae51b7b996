"""The reliability suite: the real processes (Rasa, action server, Telegram bridge under the
launcher's supervisor, against a local Bot API server) killed and failed while simulated
residents ask for help through Telegram.

    .venv/bin/python -m bench reliability          # the long form (make bench): ~30-40 min
    .venv/bin/python -m bench.reliability --short  # the short form (tests/test_reliability.py)

Runs, each printing tried / lost / doubled / orphans / crashes / refused (and card copies):
- kill at submit: the action server SIGKILLs itself right after the ticket is stored
  (fault point `after_ticket_commit`), and Rasa right before the turn is saved
  (`before_tracker_save`), so the resident is not told and tries again;
- random kill -9 of each process at random moments over ≥ 200 help requests;
- one 500 / 429 / timeout on the message that tells the ticket number;
- outages of the Bot API (500, 429 with retry_after, timeouts of requests it accepted) of
  two minutes each, while residents keep filing;
- ≥ 10,000 adversarial REST requests (Rasa's memory before and after, 5xx, timeouts) and
  ≥ 1,000 adversarial Telegram updates (bridge errors, residents left without a reply);
- the security checks (bench/security.py).

Definitions. tried: residents who asked for help. lost: one who asked but has no ticket,
or whose ticket's card never reached the staff group and is no longer queued. late: a
ticket whose card was still queued in the outbox (stored, not yet sent) when the run was
scored, after waiting up to DRAIN_SECONDS for the outbox to empty. doubled: a resident with more than
one ticket for one request. orphans: a ticket whose resident was never told its number,
or a card for a ticket that does not exist. crashes: process exits the run did not cause.
refused: requests answered 4xx (bad input) — a refusal, not a failure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.adversarial import rest_requests, telegram_updates
from bench.harness import free_port, rss_mib, save
from common import faults
from common.config import ROOT
from common.texts import say

if str(ROOT) not in sys.path:  # the local Bot API server lives with the tests
    sys.path.insert(0, str(ROOT))
from tests.fakes.bot_api import BotApi, message_update  # noqa: E402
from tests.fakes.http_api import HttpBotApi  # noqa: E402

NUMBER = re.compile(r"XW-[0-9A-Z]{5}")
TOKEN = "123456789:" + "r" * 35  # made up, of the shape Telegram gives
STAFF_CHAT = -1009876543210
STAFF_USER = 7001
SENDING = ("sendMessage", "editMessageText", "sendChatAction", "sendVoice")
DOWN = say("utter_bot_service_down")[:12]
FAILED = say("utter_ticket_failed")[:12]
# What the form asks (a substring of the bot's last message) → what a resident answers.
ANSWERS = (
    ("请核对", "0"),
    ("回复0提交", "0"),
    ("怎么称呼", "{name}"),
    ("称呼请用", "{name}"),
    ("联系电话", "{phone}"),
    ("号码好像不对", "{phone}"),
    ("哪个乡镇", "1"),
    ("没有找到这个乡镇", "1"),
    ("哪方面", "3"),
    ("1到8", "3"),
    ("是什么事", "{description}"),
)


# --------------------------------------------------------------------------- the stack


class Stack:
    """Rasa, action server and bridge under one Supervisor, with a local Bot API, on loopback."""

    def __init__(self, data_dir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.extra_env = extra_env or {}
        self.server = HttpBotApi(BotApi(chat_titles={STAFF_CHAT: "寻乌县残联 求助处理"}))
        self.kills: Counter[str] = Counter()
        self.fault_dir = data_dir / "faults"

    @property
    def api(self) -> BotApi:
        return self.server.api

    def __enter__(self) -> Stack:
        from common.config import settings
        from launcher.services import Supervisor, plan
        from launcher.training import ensure_model
        from tickets.store import store_for

        self.server.__enter__()
        env = {
            "XUNWU_DATA_DIR": str(self.data_dir),
            "RASA_PORT": str(free_port()),
            "ACTIONS_PORT": str(free_port()),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_BASE_URL": self.server.url,
            "TELEGRAM_MODE": "polling",
            "TELEGRAM_TIMEOUT": "3",
            "STAFF_CHAT_ID": str(STAFF_CHAT),
            "STAFF_USER_IDS": str(STAFF_USER),
            "RENOTIFY_MINUTES": "0",
            "RATE_LIMIT_PER_MINUTE": "1000",
            "RASA_TIMEOUT": "60",
            "ASR_ENABLED": "0",
            faults.VARIABLE: str(self.fault_dir),
            **self.extra_env,
        }
        self.saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        os.environ.pop("DATABASE_URL", None) if "DATABASE_URL" not in self.extra_env else None
        self.cfg = settings()
        model = Path(os.environ["XUNWU_TEST_MODEL"]) if os.environ.get("XUNWU_TEST_MODEL") else ensure_model(self.cfg)
        self.supervisor = Supervisor(self.cfg, plan(self.cfg, model), echo=False, alert=lambda s, n: None)
        self.supervisor.start(timeout=300)
        self.wait_rasa()
        self.server.api.wait_for(lambda: self.api.sent("deleteWebhook"), 120, "the bridge polling")
        self.store = store_for(self.cfg.database_url)
        return self

    def __exit__(self, *_: object) -> None:
        try:
            self.supervisor.stop()
        finally:
            self.server.__exit__()
            for key, value in self.saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def wait_rasa(self, timeout: float = 300.0) -> None:
        """Until Rasa has loaded its model and the action server answers."""
        from common.secrets import read_secret

        token = read_secret(self.cfg, "rasa_token")
        deadline = time.monotonic() + timeout
        health = f"http://{self.cfg.host}:{self.cfg.actions_port}/health"
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                rasa = httpx.get(f"{self.cfg.rasa_url}/status", params={"token": token}, timeout=5)
                if rasa.status_code == 200 and httpx.get(health, timeout=5).status_code == 200:
                    return
            time.sleep(1.0)
        raise RuntimeError("Rasa (or the action server) did not come back")

    def pid(self, name: str) -> int | None:
        svc = self.supervisor.running(name)
        return svc.proc.pid if svc.proc is not None and svc.proc.poll() is None else None

    def kill(self, name: str) -> bool:
        """SIGKILL the service `name` (its process group); the supervisor restarts it."""
        pid = self.pid(name)
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
            self.kills[name] += 1
            return True
        return False

    def arm(self, point: str) -> None:
        faults.arm(self.fault_dir, point)
        self.kills["rasa" if point == "before_tracker_save" else "actions"] += 1

    def exits(self) -> Counter[str]:
        return Counter({s.name: s.exits for s in self.supervisor.services})

    def crashes(self) -> int:
        """Exits the run did not cause (armed points that never fired are not counted as kills)."""
        armed_left = len(list(self.fault_dir.glob("*"))) if self.fault_dir.is_dir() else 0
        return max(0, sum(self.exits().values()) - (sum(self.kills.values()) - armed_left))

    def rss(self, name: str) -> float:
        pid = self.pid(name)
        return rss_mib(pid) if pid else 0.0


# --------------------------------------------------------------------------- residents


_people = iter(range(random.randint(10**6, 2 * 10**6) * 10, 10**9))


@dataclass
class Resident:
    """Someone who asks for help and answers whatever the form asks, until told a number."""

    stack: Stack
    person: int = field(default_factory=lambda: next(_people))
    before_confirm: Callable[[Resident], None] | None = None
    reply_timeout: float = 90.0
    patience: float = 600.0
    impatient: bool = False  # after "system down" says it again without looking for the number
    numbers: set[str] = field(default_factory=set)
    confirmed: int = 0
    resent: int = 0
    finished: bool = False

    @property
    def sender(self) -> str:
        return f"tg:{self.person}:{self.person}"

    def fill(self, template: str) -> str:
        return template.format(
            name="王阿姨", phone="138 1234 5678", description=f"轮椅坏了，想请人修（居民 {self.person}）"
        )

    def push(self, text: str) -> int:
        mark = self.stack.api.mark()
        if text == "0":
            self.confirmed += 1
            if self.before_confirm is not None:
                self.before_confirm(self)
        self.stack.server.push(message_update(self.stack.api, self.person, self.person, "王阿姨", text=text))
        return mark

    async def replies(self, mark: int, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            texts = self.stack.api.texts(self.person, mark)
            if texts:
                await asyncio.sleep(0.5)  # the rest of a multi-message reply
                return self.stack.api.texts(self.person, mark)
            await asyncio.sleep(0.2)
        return []

    async def ask_for_help(self) -> None:
        deadline = time.monotonic() + self.patience
        last = "转人工"
        mark = self.push(last)
        first = mark
        while time.monotonic() < deadline:
            texts = await self.replies(mark, self.reply_timeout)
            for text in self.stack.api.texts(self.person, first):  # a number may come at any moment
                self.numbers |= set(NUMBER.findall(text))
            if self.numbers:
                self.finished = True
                return
            if not texts:  # nothing came back (a process was down): say it again
                self.resent += 1
                mark = self.push(last)
                continue
            text = texts[-1]
            if DOWN in text or FAILED in text:
                await asyncio.sleep(3.0)
                if not self.impatient:
                    self.numbers |= {n for t in self.stack.api.texts(self.person, mark) for n in NUMBER.findall(t)}
                if self.numbers:  # told in the meantime (the number travels through the outbox)
                    self.finished = True
                    return
                self.resent += 1
                mark = self.push(last if DOWN in text else "转人工")
                continue
            answer = next((self.fill(a) for key, a in ANSWERS if key in text), "转人工")
            last = answer
            mark = self.push(answer)


async def run_residents(residents: list[Resident], concurrency: int) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(r: Resident) -> None:
        async with gate:
            await r.ask_for_help()

    await asyncio.gather(*(one(r) for r in residents))


DRAIN_SECONDS = 600.0


def drain(stack: Stack, timeout: float = DRAIN_SECONDS) -> None:
    """Wait until the outbox is empty (every card and number delivered or given up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if stack.store.outbox.pending_count() == 0:
                time.sleep(2.0)
                if stack.store.outbox.pending_count() == 0:
                    return
        time.sleep(1.0)


def score(stack: Stack, residents: list[Resident], name: str, **extra: Any) -> dict[str, Any]:
    """The row of one run (see the module docstring for the definitions)."""
    drain(stack)
    staff_texts = stack.api.texts(STAFF_CHAT)
    card = re.compile(r"(?:【紧急】[^\n]*\n)?求助 (XW-[0-9A-Z]{5})（")
    cards = Counter(m.group(1) for t in staff_texts if (m := card.match(t)))
    from tickets.outbox import OutboxKind

    lost = doubled = orphans = late = 0
    copies: list[int] = []
    examples: list[str] = []
    for r in residents:
        tickets = stack.store.for_sender(r.sender, limit=50)
        if not tickets:
            lost += 1
            examples.append(f"{r.sender}: no ticket (confirmed {r.confirmed}×, finished {r.finished})")
            continue
        if len(tickets) > 1:
            doubled += len(tickets) - 1
            examples.append(f"{r.sender}: {len(tickets)} tickets")
        told = {n for t in stack.api.texts(r.person) for n in NUMBER.findall(t)}
        for ticket in tickets:
            n = cards.get(ticket.number, 0)
            copies.append(n)
            if n == 0 and stack.store.outbox.pending_for(ticket.id, OutboxKind.STAFF_CARD):
                late += 1
                examples.append(f"{ticket.number}: card still queued")
            elif n == 0:
                lost += 1
                examples.append(f"{ticket.number}: no card")
            if ticket.number not in told:
                orphans += 1
                examples.append(f"{ticket.number}: resident never told")
    known = {t.number for r in residents for t in stack.store.for_sender(r.sender, limit=50)}
    foreign = [n for n in cards if n not in known and not _exists(stack, n)]
    orphans += len(foreign)
    return {
        "run": name,
        "tried": len(residents),
        "lost": lost,
        "doubled": doubled,
        "orphans": orphans,
        "late": late,
        "crashes": stack.crashes(),
        "refused": extra.pop("refused", 0),
        "card_copies_max": max(copies, default=0),
        "cards_twice": sum(1 for c in copies if c == 2),
        "resent_by_residents": sum(r.resent for r in residents),
        "kills": dict(stack.kills),
        "examples": examples[:5],
        **extra,
    }


def _exists(stack: Stack, number: str) -> bool:
    from tickets.store import TicketError

    try:
        stack.store.get(number)
        return True
    except TicketError:
        return False


def _reset_counts(stack: Stack) -> None:
    stack.kills.clear()
    for svc in stack.supervisor.services:
        svc.exits = 0


# --------------------------------------------------------------------------- the runs


def run_kill_at_submit(stack: Stack, tries: int) -> dict[str, Any]:
    """Each resident's confirmation kills the action server after the ticket is stored, or Rasa
    before the turn is saved (alternately). The ticket number still comes through the outbox;
    half of the residents do not wait for it and confirm again (a retried submit)."""
    _reset_counts(stack)
    points = ["after_ticket_commit", "before_tracker_save"]
    residents = []
    for i in range(tries):
        armed = {"done": False}

        def arm(r: Resident, point: str = points[i % 2], armed: dict = armed) -> None:
            if not armed["done"]:
                armed["done"] = True
                stack.arm(point)

        residents.append(Resident(stack, before_confirm=arm, impatient=i % 4 >= 2))
    for r in residents:  # one at a time: the crash point must be this resident's
        asyncio.run(run_residents([r], 1))
        stack.wait_rasa()
    return score(stack, residents, "kill -9 exactly at submit (action server / Rasa)")


def run_random_kills(stack: Stack, requests: int, concurrency: int, kills: int) -> dict[str, Any]:
    """`requests` residents, `concurrency` at a time; meanwhile `kills` SIGKILLs of the
    services in turn (action server, bridge, Rasa, …), each a few seconds after the last one
    came back, at a random moment of whatever is in flight."""
    _reset_counts(stack)
    residents = [Resident(stack) for _ in range(requests)]
    names = ["actions", "bot", "rasa"]
    rng = random.Random(16)

    async def killer(done: asyncio.Event) -> None:
        for k in range(kills):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), rng.uniform(2, 8))
            if done.is_set():
                return
            stack.kill(names[k % len(names)])
            await asyncio.sleep(1.0)
            await asyncio.to_thread(stack.wait_rasa)
            if names[k % len(names)] == "bot":
                await asyncio.to_thread(
                    stack.api.wait_for, lambda m=stack.api.mark(): stack.api.sent("deleteWebhook", since=m), 120
                )

    async def main() -> None:
        done = asyncio.Event()
        task = asyncio.create_task(killer(done))
        await run_residents(residents, concurrency)
        done.set()
        await task

    asyncio.run(main())
    return score(stack, residents, f"random kill -9 (action server, bridge, Rasa) over {requests} help requests")


def run_one_error_on_the_number(stack: Stack, kind: str, tries: int) -> dict[str, Any]:
    """The message that tells the number meets one 500 / 429 / timeout."""
    _reset_counts(stack)

    def fail(r: Resident) -> None:
        if kind == "timeout":
            stack.server.slow(2, 5.0, ("sendMessage",))  # the card and the number: both time out once
        else:
            stack.api.fail(int(kind), count=2, methods=("sendMessage",), retry_after=3 if kind == "429" else None)

    residents = [Resident(stack, before_confirm=fail) for _ in range(tries)]
    for r in residents:
        asyncio.run(run_residents([r], 1))
        stack.api.reset_failures()
    return score(stack, residents, f"one {kind} on the ticket-number message")


def run_outage(stack: Stack, kind: str, seconds: float, requests: int) -> dict[str, Any]:
    """The Bot API fails every send for `seconds` (500, 429 with retry_after, or accepting
    requests but answering after the timeout) while residents file; getUpdates still works."""
    _reset_counts(stack)
    residents = [Resident(stack, patience=seconds + 600) for _ in range(requests)]
    if kind == "timeout":
        stack.server.slow_for(seconds, 5.0, SENDING)
    else:
        stack.api.fail(int(kind), seconds=seconds, methods=SENDING, retry_after=10 if kind == "429" else None)
    asyncio.run(run_residents(residents, min(requests, 10)))
    stack.api.reset_failures()
    return score(stack, residents, f"Bot API {kind} for {seconds:.0f} s")


def run_bad_rest(stack: Stack, n: int, concurrency: int = 8) -> dict[str, Any]:
    """`n` adversarial REST requests to Rasa's channels and API: statuses, timeouts, memory."""
    from rasa_addons.server import REQUEST_MAX_SIZE  # the body limit Rasa runs with

    _reset_counts(stack)
    before = stack.rss("rasa")
    statuses: Counter[str] = Counter()
    by_kind: dict[str, Counter[int]] = {}
    errors: Counter[str] = Counter()
    oversized: Counter[str] = Counter()

    async def main() -> None:
        gate = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(base_url=stack.cfg.rasa_url, timeout=60) as client:

            async def one(name: str, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
                async with gate:
                    try:
                        resp = await client.request(method, path, headers=headers, content=body or None)
                        statuses[f"{resp.status_code // 100}xx"] += 1
                        by_kind.setdefault(name, Counter())[resp.status_code] += 1
                    except httpx.HTTPError as exc:
                        if len(body) > REQUEST_MAX_SIZE and not isinstance(exc, httpx.TimeoutException):
                            # Sanic answers 413 from the headers and closes while a client is
                            # still sending the body: a refusal, seen by the client as a reset
                            statuses["4xx"] += 1
                            oversized[type(exc).__name__] += 1
                            by_kind.setdefault(name, Counter())[413] += 1
                            return
                        errors[type(exc).__name__] += 1
                        by_kind.setdefault(name, Counter())[0] += 1

            await asyncio.gather(*(one(*r) for r in rest_requests(n)))

    started = time.monotonic()
    asyncio.run(main())
    time.sleep(5.0)
    after = stack.rss("rasa")
    five = sorted(k for k, c in by_kind.items() if any(s >= 500 or s == 0 for s in c))
    return {
        "run": f"{n} adversarial REST requests",
        "tried": n,
        "lost": 0,
        "doubled": 0,
        "orphans": 0,
        "crashes": stack.crashes(),
        "refused": statuses.get("4xx", 0),
        "statuses": dict(statuses),
        "timeouts_or_refused_connections": sum(errors.values()),
        "errors": dict(errors),
        "oversized_closed_while_sending": sum(oversized.values()),
        "kinds": len(by_kind),
        "kinds_with_5xx_or_timeouts": five,
        "rasa_rss_mib_before": before,
        "rasa_rss_mib_after": after,
        "rasa_rss_growth_pct": round(100 * (after - before) / before, 1) if before else None,
        "seconds": round(time.monotonic() - started, 1),
    }


def run_bad_updates(stack: Stack, n: int) -> dict[str, Any]:
    """`n` adversarial Telegram updates: bridge errors, and residents who got no answer."""
    _reset_counts(stack)
    people = [next(_people) for _ in range(max(10, n // 20))]
    bot_log = stack.data_dir / "logs" / "bot.log"
    start = bot_log.stat().st_size if bot_log.is_file() else 0  # this run's lines only
    must_answer: Counter[int] = Counter()
    mark = stack.api.mark()
    kinds: Counter[str] = Counter()
    for kind, update, answered in telegram_updates(n, people):
        stack.server.push_raw(update)
        kinds[kind] += 1
        if answered is not None:
            must_answer[answered] += 1
        time.sleep(0.02)
    deadline = time.monotonic() + 300
    short: list[int] = []
    while time.monotonic() < deadline:
        short = [p for p, k in must_answer.items() if len(stack.api.texts(p, mark)) < 1]
        if not short and stack.server.pending_updates == 0:
            break
        time.sleep(2.0)
    text = ""
    if bot_log.is_file():
        with bot_log.open("rb") as f:
            f.seek(start if bot_log.stat().st_size >= start else 0)  # rotated: the new file from its start
            text = f.read().decode(errors="replace")
    handler_errors = text.count("error while handling an update")
    skipped = text.count("cannot read (update_id")
    return {
        "run": f"{n} adversarial Telegram updates",
        "tried": n,
        "lost": 0,
        "doubled": 0,
        "orphans": 0,
        "crashes": stack.crashes(),
        "refused": skipped,
        "bridge_errors": handler_errors,
        "error_lines": text.count(" ERROR "),
        "residents_without_reply": len(short),
        "pending_updates": stack.server.pending_updates,
        "kinds": len(kinds),
    }


def run_security(stack: Stack) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from bench.security import as_json, run_checks

    logs = sorted((stack.data_dir / "logs").glob("*"))
    checks = run_checks(stack.cfg, log_files=logs, phones=["138 1234 5678"])
    refused = sum(c.refused for c in checks)
    row = {
        "run": "security checks",
        "tried": len(checks),
        "lost": 0,
        "doubled": 0,
        "orphans": 0,
        "crashes": stack.crashes(),
        "refused": refused,
        "not_refused": [c.name for c in checks if not c.refused],
    }
    return row, as_json(checks)


# --------------------------------------------------------------------------- the suite


@dataclass
class Plan:
    submit_tries: int
    requests: int
    concurrency: int
    kills: int
    one_error_tries: int
    outage_seconds: float
    outage_requests: int
    bad_rest: int
    bad_updates: int


LONG = Plan(8, 200, 8, 9, 4, 120.0, 5, 10_000, 1_000)
SHORT = Plan(2, 12, 3, 2, 1, 10.0, 3, 600, 120)


def run(
    plan: Plan, data_dir: Path, extra_env: dict[str, str] | None = None, log: Callable[[str], None] = print
) -> dict:
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    with Stack(data_dir, extra_env) as stack:
        clock = [time.monotonic()]

        def add(row: dict[str, Any]) -> None:
            row.setdefault("seconds", round(time.monotonic() - clock[0], 1))
            clock[0] = time.monotonic()
            rows.append(row)
            log(line(row))

        add(run_kill_at_submit(stack, plan.submit_tries))
        add(run_random_kills(stack, plan.requests, plan.concurrency, plan.kills))
        for kind in ("500", "429", "timeout"):
            add(run_one_error_on_the_number(stack, kind, plan.one_error_tries))
        for kind in ("500", "429", "timeout"):
            add(run_outage(stack, kind, plan.outage_seconds, plan.outage_requests))
        add(run_bad_rest(stack, plan.bad_rest))
        add(run_bad_updates(stack, plan.bad_updates))
        security, checks = run_security(stack)
        add(security)
    return {
        "rows": rows,
        "security_checks": checks,
        "plan": plan.__dict__,
        "seconds": round(time.monotonic() - started),
        "env": {k: v for k, v in (extra_env or {}).items() if "TOKEN" not in k and "URL" not in k},
    }


def line(row: dict[str, Any]) -> str:
    keys = ("tried", "lost", "late", "doubled", "orphans", "crashes", "refused")
    extra = {k: v for k, v in row.items() if k not in (*keys, "run", "examples")}
    counts = ", ".join(f"{k} {row.get(k, 0)}" for k in keys)
    return f"{row['run']}: {counts}  {json.dumps(extra, ensure_ascii=False)}"


def markdown(result: dict) -> str:
    lines = [
        "| run | tried | lost | doubled | orphans | crashes | refused | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        notes = []
        if r.get("late"):
            notes.append(f"{r['late']} cards still queued when scored")
        if "card_copies_max" in r:
            notes.append(f"cards at most {r['card_copies_max']}× ({r['cards_twice']} twice)")
        if "rasa_rss_mib_before" in r:
            before, after, growth = r["rasa_rss_mib_before"], r["rasa_rss_mib_after"], r["rasa_rss_growth_pct"]
            notes.append(
                f"Rasa {before:.0f} → {after:.0f} MiB ({growth:+.1f}%), "
                f"{r['statuses'].get('5xx', 0)} 5xx, {r['timeouts_or_refused_connections']} timeouts"
            )
        if "bridge_errors" in r:
            notes.append(
                f"{r['bridge_errors']} bridge errors, {r['residents_without_reply']} residents without a reply"
            )
        if r.get("not_refused"):
            notes.append("NOT refused: " + "; ".join(r["not_refused"]))
        lines.append(
            f"| {r['run']} | {r['tried']} | {r['lost']} | {r['doubled']} | {r['orphans']} | {r['crashes']} | "
            f"{r['refused']} | {'; '.join(notes)} |"
        )
    return "\n".join(lines)


def rows_ok(result: dict) -> Iterator[str]:
    """What breaks the issue's "Done when" in a result (empty when everything holds)."""
    for r in result["rows"]:
        for key in ("lost", "late", "doubled", "orphans", "crashes"):
            if r.get(key):
                yield f"{r['run']}: {key} {r[key]} {r.get('examples', '')}"
        if r.get("card_copies_max", 0) > 2:
            yield f"{r['run']}: a card arrived {r['card_copies_max']} times"
        if "statuses" in r and (r["statuses"].get("5xx") or r["timeouts_or_refused_connections"]):
            yield f"{r['run']}: {r['statuses']} {r['kinds_with_5xx_or_timeouts']}"
        if r.get("rasa_rss_growth_pct") is not None and r["rasa_rss_growth_pct"] > 10:
            yield f"{r['run']}: Rasa memory grew {r['rasa_rss_growth_pct']}%"
        if r.get("bridge_errors") or r.get("residents_without_reply"):
            yield f"{r['run']}: {r['bridge_errors']} bridge errors, {r['residents_without_reply']} without a reply"
        if r.get("not_refused"):
            yield f"security: not refused {r['not_refused']}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reliability", description=__doc__)
    parser.add_argument("--short", action="store_true", help="the short form (what make test runs)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    env = dict(item.split("=", 1) for item in args.env)
    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
        result = run(SHORT if args.short else LONG, Path(tmp), env)
    print(markdown(result))
    if not args.short:
        save("reliability" + (" [" + " ".join(f"{k}" for k in env) + "]" if env else ""), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

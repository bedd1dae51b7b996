"""The production shape on this machine (`make cluster-test`): PostgreSQL, Redis, haproxy,
2 Rasa replicas, 2 action servers and 2 bridges at once. 30 conversations whose turns
alternate between the replicas (20 of them help forms to a ticket, all with policy questions
and follow-ups), one replica killed and restarted mid-run: no broken conversation, every
ticket exactly once, no staff card sent twice, one poller."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from common.rasa_client import RasaClient, RasaUnavailable, parse_replies
from launcher.cluster import Cluster, cluster
from tests.bot.conftest import STAFF_CHAT, TOKEN
from tests.conftest import trained_model
from tests.fakes.bot_api import BotApi, message_update
from tests.fakes.http_api import HttpBotApi
from tickets.store import store_for

pytestmark = [pytest.mark.cluster, pytest.mark.integration]

HELP = [
    "你好",
    "护理补贴怎么申请",
    "要带什么材料",
    "转人工",
    "王阿姨",
    "13812345678",
    "1",
    "3",
    "轮椅坏了，想请人修",
    "0",
]
TALK = ["你好", "残疾人证怎么办", "要带什么材料", "就业有什么帮扶", "有没有技能培训", "谢谢"]
# what the reply to turn i of HELP says
EXPECT = {3: "怎么称呼", 4: "联系电话", 5: "哪个乡镇", 6: "哪方面", 7: "是什么事", 8: "请核对", 9: "XW-"}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, HttpBotApi]]:
    folder = Path(tmp_path_factory.mktemp("cluster"))
    with HttpBotApi(BotApi(chat_titles={STAFF_CHAT: "寻乌县残联"})) as server:
        env = {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_BASE_URL": server.url,
            "STAFF_CHAT_ID": str(STAFF_CHAT),
            "STAFF_USER_IDS": "7001",
            "RENOTIFY_MINUTES": "0",
            "ASR_ENABLED": "0",
        }
        with cluster(folder, trained_model(), replicas=2, action_servers=2, bridges=2, extra_env=env) as running:
            yield running, server


def converse(c: Cluster, n: int, script: list[str], turns: list[int], lock: threading.Lock) -> dict:
    """One conversation; turn i goes to replica i % 2 (to haproxy while that replica is down)."""
    tokens = {"bridge_token": c.env["BRIDGE_TOKEN"]}
    replicas = [RasaClient(c.replica_url(i), 60, c.env["RASA_TOKEN"], **tokens) for i in range(2)]
    front = RasaClient(c.front_url, 60, c.env["RASA_TOKEN"], **tokens)
    sender = f"cluster-{n}-{int(time.time())}"
    problems: list[str] = []
    sent = 0
    retried = 0
    for i, text in enumerate(script):
        texts: list[str] = []
        for attempt in range(20):
            client = replicas[i % 2] if attempt == 0 else front  # its replica down: through haproxy
            try:
                texts = parse_replies(client.send_sync(sender, text, empty_ok=True)).texts
                break
            except RasaUnavailable:
                retried += 1
                time.sleep(1)
        else:
            problems.append(f"turn {i} never answered")
            continue
        sent += 1
        with lock:
            turns[0] += 1
        joined = "\n".join(texts)
        if not joined.strip():
            problems.append(f"turn {i} ({text}) got no text")
        if script is HELP and i in EXPECT and EXPECT[i] not in joined:
            problems.append(f"turn {i} ({text}): expected {EXPECT[i]!r}, got {joined[:40]!r}")
    tracker = front.tracker_sync(sender)
    users = [e.get("text") for e in tracker["events"] if e["event"] == "user"]
    if users[-len(script) :] != script:
        problems.append(f"the stored history does not hold the turns: {users[-len(script) :]}")
    for client in (*replicas, front):
        client.close_sync()
    return {"sender": sender, "help": script is HELP, "problems": problems, "sent": sent, "retried": retried}


def test_thirty_conversations_across_replicas_and_two_bridges(running: tuple[Cluster, HttpBotApi]) -> None:
    c, server = running
    turns, lock = [0], threading.Lock()
    scripts = [HELP] * 20 + [TALK] * 10
    total = sum(len(s) for s in scripts)
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(converse, c, n, s, turns, lock) for n, s in enumerate(scripts)]
        while turns[0] < total // 3:
            time.sleep(0.05)
        os.killpg(c.pid("rasa-1"), signal.SIGKILL)  # mid-run: the supervisor restarts it
        killed_at = turns[0]
        results = [f.result(timeout=1200) for f in futures]
    broken = [r for r in results if r["problems"]]
    print(
        f"\nreplica rasa-1 killed after {killed_at} of {total} turns; turns sent again: "
        f"{sum(r['retried'] for r in results)}; broken conversations: {len(broken)} of {len(results)}"
    )
    assert killed_at < total
    assert not broken, broken[:3]
    store = store_for(c.cfg.database_url)
    per_sender = {r["sender"]: len(store.for_sender(r["sender"], limit=10)) for r in results if r["help"]}
    assert sorted(per_sender.values()) == [1] * 20, per_sender  # every help form: exactly one ticket
    deadline = time.monotonic() + 300  # restarted by the supervisor
    while c.supervisor.running("rasa-1").proc.poll() is not None and time.monotonic() < deadline:
        time.sleep(1)
    assert c.supervisor.running("rasa-1").exits == 1 and c.supervisor.running("rasa-1").proc.poll() is None

    # two bridges at once: every card exactly once, one poller answering each update once
    deadline = time.monotonic() + 180
    while store.outbox.pending_count() and time.monotonic() < deadline:
        time.sleep(1)
    assert store.outbox.pending_count() == 0
    cards = Counter(t.split("（")[0] for t in server.api.texts(STAFF_CHAT) if t.startswith("求助 XW-"))
    numbers = {t.number for s in per_sender for t in store.for_sender(s)}
    assert {n.removeprefix("求助 ") for n in cards} >= numbers
    assert set(cards.values()) == {1}, cards
    people = list(range(4_000_001, 4_000_011))
    for person in people:
        server.push(message_update(server.api, person, person, text="/help"))
    server.api.wait_for(lambda: all(server.api.texts(p) for p in people), 60, "every /help answered")
    time.sleep(3)
    assert all(len(server.api.texts(p)) == 1 for p in people)

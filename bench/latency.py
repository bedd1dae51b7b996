"""Latency: one simulated resident over the REST channel, with the action server in the loop.

`.venv/bin/python -m bench latency`

One sender holds one long conversation: ~20 warm-up turns, then 200 measured turns mixing
policy questions (written here, not taken from the evaluation set), follow-ups ("要带什么"),
and help-request forms filled in by digits (转人工 → name → phone → township digit →
category digit → description → 0), each followed by 查进度. Each turn is one
`POST /webhooks/rest/webhook`, timed on the client (keep-alive connection, loopback).
Reported: p50 / p95 / p99 per turn for policy turns, form turns and overall; the same per
third of the run (the tracker grows with every turn); the server CPU per turn of the Rasa
and action processes; and `POST /model/parse` alone for the policy questions (NLU cost).
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.harness import (
    ACTIONS_BUCKETS,
    RASA_BUCKETS,
    Running,
    cpu_seconds,
    load_average,
    percentiles,
    profile_summary,
    profiled,
    save,
    services,
)
from common.rasa_client import RasaClient

TARGET_P95_MS = 150.0
WARMUP_TURNS = 20
MEASURED_TURNS = 200
MAX_SECONDS = 900.0  # the whole run stops here even if turns are left
COMMAND = ".venv/bin/python -m bench latency"

# Policy questions a resident might type, written for this benchmark (not from bench/eval).
QUESTIONS = (
    "我是二级肢体残疾，每个月能领护理补贴吗",
    "家里穷，残疾人生活补贴找哪个部门申请",
    "残疾证办下来要多长时间",
    "办残疾证要去医院做鉴定吗",
    "残疾证过期了要重新办吗",
    "我妈的残疾证弄丢了怎么补",
    "残疾人可以吃低保吗，要什么条件",
    "重度残疾人的养老保险是政府帮交吗",
    "残疾人看病能不能报销多一点",
    "我儿子四岁还不会讲话，能申请康复救助吗",
    "自闭症孩子做康复，政府补多少钱",
    "寻乌哪里可以做康复训练",
    "想申请一辆轮椅，去哪里领",
    "助听器可以免费配吗",
    "孩子坐轮椅，能在普通学校读书吗",
    "残疾孩子上学有没有补助",
    "送教上门是怎么回事",
    "县里有特殊学校吗",
    "残疾人读大学有没有资助",
    "残疾人想开个小店，有扶持吗",
    "残疾人去哪里参加技能培训",
    "盲人可以学按摩吗，在哪学",
    "公益性岗位残疾人能报名吗",
    "单位招残疾人有什么好处",
    "残保金是什么东西",
    "残疾人在家里做手工有补贴吗",
    "农村残疾人养鸡养鸭有帮扶吗",
    "家里是危房，残疾人能申请改造吗",
    "家里厕所想装扶手，能申请无障碍改造吗",
    "残疾人被人骗了钱，找谁帮忙",
    "打官司请不起律师，残疾人有法律援助吗",
    "聋人去医院看病有手语翻译吗",
    "盲人用手机有读屏的软件吗",
    "街上盲道被车占了找谁管",
    "县残联的电话是多少",
    "残联在寻乌哪个位置",
    "村里有专门管残疾人的干部吗",
    "重度残疾人可以托养吗",
    "白天没人照顾残疾老人，有日间照料吗",
    "残疾人的补贴能在网上申请吗",
    "我在广东打工，残疾证能在那边办吗",
    "两项补贴可以一起拿吗",
    "全国助残日是几月几号",
    "残疾人有没有体育比赛可以参加",
    "寻乌的残疾人规划主要讲了什么",
    "规划到2025年要做到什么",
    "听说有政策找人，是政府主动上门吗",
    "脑瘫的孩子要配矫形器，能补贴吗",
)
FOLLOWUPS = (
    "那要带哪些东西去",
    "去哪里办呢",
    "找哪个部门",
    "一个月能拿多少",
    "要多长时间能办好",
    "家里人能帮我去办吗",
    "手机上能办吗",
    "什么样的人可以申请",
)
HELP_OPENERS = ("转人工", "我要找工作人员", "转人工")
NAMES = ("王阿姨", "李先生", "刘大姐", "陈伯", "钟师傅", "赖女士", "古老师", "谢大哥")
DESCRIPTIONS = (
    "我爸的护理补贴三个月没到账了",
    "想给孩子申请康复训练不知道怎么弄",
    "家里轮椅坏了想换一个",
    "残疾证到期了腿脚不方便去不了县里",
    "村里的路太窄轮椅过不去",
    "想找份在家能做的工作",
)
STATUS = ("查进度", "我的求助怎么样了", "查进度")
GREETINGS = ("你好", "您好", "在吗")

POLICY_KINDS = ("policy", "followup")
FORM_KINDS = ("form", "status")


@dataclass(frozen=True)
class Turn:
    """One message of the script and what kind of turn it is."""

    text: str
    kind: str  # policy | followup | form | status | greet


def phone(rng: random.Random) -> str:
    """A valid-looking mobile number."""
    return "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))


def help_form(rng: random.Random) -> list[Turn]:
    """A complete help request answered by digits, then a status check."""
    return [
        Turn(rng.choice(HELP_OPENERS), "form"),
        Turn(rng.choice(NAMES), "form"),
        Turn(phone(rng), "form"),
        Turn(str(rng.randint(1, 15)), "form"),
        Turn(str(rng.randint(1, 8)), "form"),
        Turn(rng.choice(DESCRIPTIONS), "form"),
        Turn("0", "form"),
        Turn(rng.choice(STATUS), "status"),
    ]


def script(rng: random.Random) -> Iterator[Turn]:
    """Endless varied turns: five question blocks (some with a follow-up), then a form."""
    questions = list(QUESTIONS)
    while True:
        rng.shuffle(questions)
        for start in range(0, len(questions), 5):
            for q in questions[start : start + 5]:
                yield Turn(q, "policy")
                if rng.random() < 0.5:
                    yield Turn(rng.choice(FOLLOWUPS), "followup")
            yield from help_form(rng)


def check(turn: Turn, reply: list[dict]) -> str | None:
    """What is wrong with a reply, or None."""
    texts = [m.get("text") or "" for m in reply]
    if not any(texts):
        return "no reply text"
    if turn.kind == "form" and turn.text == "0" and not any((m.get("custom") or {}).get("ticket") for m in reply):
        return "form did not create a ticket"
    if turn.kind == "status" and not any("编号" in t for t in texts):
        return "status did not list a ticket"
    return None


def _stats(samples: list[tuple[str, float]], kinds: tuple[str, ...] | None = None) -> dict:
    return percentiles([ms for kind, ms in samples if kinds is None or kind in kinds])


def measure(
    running: Running,
    turns: int = MEASURED_TURNS,
    warmup: int = WARMUP_TURNS,
    seed: int = 6,
    profile: bool = False,
    label: str = "latency",
) -> dict:
    """Run the single-resident script against running services and return the figures.

    With `profile`, py-spy samples both servers during the measured turns (bench/profiles/<label>-*.txt).
    """
    rng = random.Random(seed)
    turns_iter = script(rng)
    sender = f"latency-{seed}-{int(time.time())}"
    pids = running.pids()
    rasa = RasaClient.from_settings(running.cfg, timeout=60)
    problems: list[dict] = []
    samples: list[tuple[str, float]] = []
    deadline = time.monotonic() + MAX_SECONDS
    load_before = load_average()
    try:
        for text in (GREETINGS[0], *(next(turns_iter).text for _ in range(warmup - 1))):
            rasa.post_sync(sender, text).raise_for_status()
        with profiled(pids if profile else {}, label) as outs:
            cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
            wall0 = time.monotonic()
            for _ in range(turns):
                if time.monotonic() > deadline:
                    break
                turn = next(turns_iter)
                start = time.perf_counter()
                try:
                    resp = rasa.post_sync(sender, turn.text)
                except httpx.HTTPError as exc:
                    problems.append({"turn": len(samples) + 1, "text": turn.text, "problem": type(exc).__name__})
                    continue
                ms = (time.perf_counter() - start) * 1000
                samples.append((turn.kind, ms))
                problem = f"HTTP {resp.status_code}" if resp.status_code != 200 else check(turn, resp.json())
                if problem:
                    problems.append({"turn": len(samples), "text": turn.text, "problem": problem})
            wall = time.monotonic() - wall0
            cpu_per_turn = {
                name: round((cpu_seconds(pid) - cpu0[name]) * 1000 / max(1, len(samples)), 1)
                for name, pid in pids.items()
            }
        nlu = parse_only(rasa.sync_client, running.cfg.rasa_url, rasa.token)
    finally:
        rasa.close_sync()
    commit = sqlite_commit_ms(running.cfg.data_dir)
    n = len(samples)
    thirds = [samples[i * n // 3 : (i + 1) * n // 3] for i in range(3)]
    result = {
        "turns": n,
        "warmup_turns": warmup,
        "seconds": round(wall, 1),
        "overall_ms": _stats(samples),
        "policy_ms": _stats(samples, POLICY_KINDS),
        "form_ms": _stats(samples, FORM_KINDS),
        "by_kind_ms": {k: _stats(samples, (k,)) for k in ("policy", "followup", "form", "status")},
        "by_third_ms": [_stats(t) for t in thirds],
        "server_cpu_ms_per_turn": cpu_per_turn,
        "parse_only_ms": nlu,
        "sqlite_commit_ms": commit,
        "problems": len(problems),
        "problem_examples": problems[:5],
        "target_p95_ms": TARGET_P95_MS,
        "load_before": load_before,
        "load_after": load_average(),
        "model": running.model.name if running.model else None,
        "command": COMMAND,
    }
    if outs:
        result["profile"] = {
            "rasa": profile_summary(outs["rasa"], RASA_BUCKETS),
            "actions": profile_summary(outs["actions"], ACTIONS_BUCKETS),
        }
    result["target_met"] = result["overall_ms"].get("p95", 1e9) <= TARGET_P95_MS
    return result


def parse_only(client: httpx.Client, rasa_url: str, token: str, passes: int = 2) -> dict:
    """`POST /model/parse` alone (tokenise, featurise, DIET, knowledge ranking) per question."""
    questions = [*QUESTIONS, *FOLLOWUPS]
    times = []
    for _ in range(passes):
        for q in questions:
            start = time.perf_counter()
            client.post(f"{rasa_url}/model/parse", json={"text": q}, params={"token": token}).raise_for_status()
            times.append((time.perf_counter() - start) * 1000)
    return percentiles(times)


def sqlite_commit_ms(folder: Path, commits: int = 100) -> dict[str, float]:
    """Cost of one small SQLite commit in `folder` (where the tracker store lives), per journal mode.

    Rasa's SQL tracker store commits on the event loop: this is time no other turn can use.
    """
    out = {}
    modes = {
        "rollback journal (default)": (),
        "WAL + synchronous=NORMAL": ("journal_mode=WAL", "synchronous=NORMAL"),
    }
    for mode, pragmas in modes.items():
        path = folder / f"bench-commit-{len(out)}.db"
        con = sqlite3.connect(path)
        try:
            for pragma in pragmas:
                con.execute(f"PRAGMA {pragma}")
            con.execute("CREATE TABLE IF NOT EXISTS t (x TEXT)")
            con.commit()
            start = time.perf_counter()
            for i in range(commits):
                con.execute("INSERT INTO t VALUES (?)", (str(i),))
                con.commit()
            out[mode] = round((time.perf_counter() - start) * 1000 / commits, 3)
        finally:
            con.close()
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    return out


def run(turns: int = MEASURED_TURNS) -> dict:
    """Start the services in a temporary data folder, measure, save."""
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp, services(Path(tmp)) as running:
        result = measure(running, turns=turns)
    save("latency", result)
    return result


def markdown(result: dict) -> str:
    """The latency table of BENCHMARKS.md."""

    def row(name: str, s: dict) -> str:
        if not s.get("n"):
            return f"| {name} | 0 | – | – | – | – |"
        return f"| {name} | {s['n']} | {s['p50']:.0f} | {s['p95']:.0f} | {s['p99']:.0f} | {s['max']:.0f} |"

    lines = ["| turns | n | p50 ms | p95 ms | p99 ms | max ms |", "|---|---|---|---|---|---|"]
    lines.append(row("**all**", result["overall_ms"]))
    lines.append(row("policy (questions + follow-ups)", result["policy_ms"]))
    lines.append(row("form (help form by digits + 查进度)", result["form_ms"]))
    for kind, s in result["by_kind_ms"].items():
        lines.append(row(f"… {kind}", s))
    for i, s in enumerate(result["by_third_ms"], 1):
        lines.append(row(f"… third {i} of the run", s))
    lines.append(row("`POST /model/parse` only (NLU)", result["parse_only_ms"]))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=MEASURED_TURNS)
    args = parser.parse_args()
    result = run(args.turns)
    print(markdown(result))
    print(json.dumps({k: result[k] for k in ("server_cpu_ms_per_turn", "problems", "target_met")}, ensure_ascii=False))


if __name__ == "__main__":
    main()

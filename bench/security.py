"""The security checks (issue 16): what someone on the host, or a resident who knows another's
Telegram id, must not be able to do. Each check tries it against running services and says
whether it was refused. `run_checks(cfg)` is used by tests/test_security.py (the default
configuration of `make run`) and by `python -m bench reliability` (also the production
configuration: tokens from the environment, PostgreSQL).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from common.config import Settings
from common.secrets import NAMES, read_secret
from tickets.store import store_for

# A full phone as it may be typed (the masked form keeps 3 + 4 digits around ****).
FULL_PHONE = re.compile(r"(?<![0-9])1[3-9][0-9](?:[ \-.]?[0-9]){8}(?![0-9])")


@dataclass
class Check:
    name: str
    refused: bool
    detail: str = ""


def _status(call: Callable[[], httpx.Response]) -> tuple[int, str]:
    try:
        resp = call()
        return resp.status_code, resp.text[:200]
    except httpx.HTTPError as exc:
        return 0, type(exc).__name__


def _listening(port: int) -> list[str]:
    """Local addresses listening on TCP `port` (from /proc/net/tcp and tcp6)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, state = fields[1], fields[3]
            host, _, hexport = address.rpartition(":")
            if state == "0A" and int(hexport, 16) == port:
                found.append(host)
    return found


LOOPBACK = {"0100007F", "00000000000000000000000001000000"}


def run_checks(
    cfg: Settings,
    actions_url: str | None = None,
    log_files: Iterable[Path] = (),
    phones: Iterable[str] = (),
    ports: dict[str, int] | None = None,
) -> list[Check]:
    """Every check against the Rasa at cfg.rasa_url and the action server at `actions_url`."""
    rasa = cfg.rasa_url
    actions = actions_url or cfg.actions_url.removesuffix("/webhook")
    token = read_secret(cfg, "rasa_token")
    store = store_for(cfg.database_url)
    victim = "tg:7777777:7777777"
    if not store.for_sender(victim):
        store.create(victim, "受害人", "13912345678", "吉潭镇", "补贴", "别人的求助")
    before = len(store.open_tickets(limit=10_000))
    out: list[Check] = []
    http = httpx.Client(timeout=30)

    def refused(name: str, call: Callable[[], httpx.Response], ok: Callable[[int, str], bool]) -> None:
        status, text = _status(call)
        out.append(Check(name, ok(status, text), f"HTTP {status}"))

    def not_2xx(status: int, text: str) -> bool:
        return not 200 <= status < 300

    def no_leak(status: int, text: str) -> bool:
        return not 200 <= status < 300 or ("13912345678" not in text and "别人的求助" not in text)

    rest = f"{rasa}/webhooks/rest/webhook"
    body = {"sender": victim, "message": "查进度"}
    refused("REST as a tg: sender reads their tickets", lambda: http.post(rest, json=body), no_leak)
    refused(
        "REST as a tg: sender, with the API token", lambda: http.post(rest, json=body, params={"token": token}), no_leak
    )
    upper = {"sender": victim.upper(), "message": "查进度"}
    refused("REST as TG: (other case)", lambda: http.post(rest, json=upper), no_leak)
    streamed = {**body, "input_channel": "bridge"}
    refused(
        "REST streamed, claiming the bridge channel",
        lambda: http.post(rest, json=streamed, params={"stream": "true"}),
        no_leak,
    )
    bridge = f"{rasa}/webhooks/bridge/webhook"
    refused("bridge channel without its token", lambda: http.post(bridge, json=body), not_2xx)
    refused(
        "bridge channel with a wrong token",
        lambda: http.post(bridge, json=body, headers={"X-Xunwu-Bridge-Token": "x" * 43}),
        not_2xx,
    )
    tracker = f"{rasa}/conversations/{victim}/tracker"
    refused("read a tracker without the token", lambda: http.get(tracker), not_2xx)
    refused("read a tracker with a wrong token", lambda: http.get(tracker, params={"token": "wrong"}), not_2xx)
    events = f"{rasa}/conversations/{victim}/tracker/events"
    refused("append events", lambda: http.post(events, json={"event": "slot", "name": "phone", "value": "1"}), not_2xx)
    refused("replace (wipe) a conversation", lambda: http.put(events, json=[]), not_2xx)
    execute = f"{rasa}/conversations/{victim}/execute"
    refused(
        "run action_submit_help in another's name",
        lambda: http.post(execute, json={"name": "action_submit_help"}),
        not_2xx,
    )
    refused(
        "trigger an intent in another's conversation",
        lambda: http.post(f"{rasa}/conversations/{victim}/trigger_intent", json={"name": "request_help"}),
        not_2xx,
    )
    refused(
        "add a message to another's conversation",
        lambda: http.post(f"{rasa}/conversations/{victim}/messages", json={"text": "x", "sender": "user"}),
        not_2xx,
    )
    refused("unload the model (DELETE /model)", lambda: http.delete(f"{rasa}/model"), not_2xx)
    refused("replace the model (PUT /model)", lambda: http.put(f"{rasa}/model", json={"model_file": "/tmp/x"}), not_2xx)
    refused("start training (POST /model/train)", lambda: http.post(f"{rasa}/model/train", content=b"{}"), not_2xx)
    refused(
        "parse with the model (POST /model/parse)",
        lambda: http.post(f"{rasa}/model/parse", json={"text": "x"}),
        not_2xx,
    )
    refused("read the domain", lambda: http.get(f"{rasa}/domain"), not_2xx)
    refused("read the status", lambda: http.get(f"{rasa}/status"), not_2xx)
    forged = {
        "next_action": "action_submit_help",
        "sender_id": victim,
        "tracker": {
            "sender_id": victim,
            "slots": {"confirm": "yes", "contact_name": "伪造", "phone": "13800000000", "description": "伪造的求助"},
            "latest_message": {},
            "events": [],
            "active_loop": {},
            "latest_action_name": None,
        },
        "domain": {},
        "version": "3.6.21",
    }
    hook = f"{actions}/webhook"
    refused("action server: forge a ticket, no token", lambda: http.post(hook, json=forged), not_2xx)
    refused(
        "action server: forge a ticket, wrong token",
        lambda: http.post(hook, json=forged, headers={"X-Xunwu-Actions-Token": "wrong"}),
        not_2xx,
    )
    status_call = {**forged, "next_action": "action_ticket_status"}
    refused("action server: read another's tickets", lambda: http.post(hook, json=status_call), no_leak)
    refused("action server: list the actions", lambda: http.get(f"{actions}/actions"), not_2xx)
    after = len(store.open_tickets(limit=10_000))
    out.append(Check("no ticket was forged by any of the above", after == before, f"{before} → {after} open tickets"))
    if token:
        status, _ = _status(lambda: http.get(f"{rasa}/status", params={"token": token}))
        out.append(Check("(control) the API answers its own token", status == 200, f"HTTP {status}"))
    http.close()

    for name, port in (ports or {"rasa": cfg.rasa_port, "actions": cfg.actions_port}).items():
        hosts = _listening(port)
        out.append(Check(f"{name} listens on loopback only", bool(hosts) and set(hosts) <= LOOPBACK, ",".join(hosts)))
    commands = subprocess.run(["ps", "axww", "-o", "args"], capture_output=True, text=True).stdout
    secrets = [read_secret(cfg, n) for n in NAMES]
    out.append(Check("no secret on any command line (ps)", not any(s and s in commands for s in secrets)))
    data = cfg.data_dir
    mode = data.stat().st_mode & 0o777
    out.append(Check("data folder 0700", mode == 0o700, oct(mode)))
    loose = [str(p.relative_to(data)) for p in data.rglob("*") if p.stat().st_mode & 0o077]
    out.append(Check("every file in the data folder private (0600/0700)", not loose, ", ".join(loose[:5])))
    leaked = []
    wanted = [re.sub(r"\D", "", p) for p in phones]
    for path in log_files:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for m in FULL_PHONE.finditer(text):
            if not wanted or re.sub(r"\D", "", m.group(0)) in wanted:
                leaked.append(f"{path.name}: {m.group(0)}")
    out.append(Check("no full phone number in any log", not leaked, "; ".join(leaked[:3])))
    return out


def table(checks: list[Check]) -> list[str]:
    lines = ["| check | refused | detail |", "|---|---|---|"]
    lines += [f"| {c.name} | {'yes' if c.refused else '**NO**'} | {c.detail} |" for c in checks]
    return lines


def as_json(checks: list[Check]) -> list[dict[str, Any]]:
    return [{"check": c.name, "refused": c.refused, "detail": c.detail} for c in checks]


def dumps(checks: list[Check]) -> str:
    return json.dumps(as_json(checks), ensure_ascii=False, indent=1)

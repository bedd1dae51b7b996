"""`python -m tickets.cli`: staff work on tickets locally, without Telegram (actor "cli").

    python -m tickets.cli open              the tickets that are not closed
    python -m tickets.cli show XW-7K3P9     one ticket: its card, what the resident and staff
                                            said (text, voice, photos), and its history
    python -m tickets.cli claim XW-7K3P9    认领
    python -m tickets.cli reply XW-7K3P9 我们明天上午给您打电话
    python -m tickets.cli ask XW-7K3P9 您家住在几楼      a question: the resident's answer
                                            comes back to the ticket (so does a reply ending in ？)
    python -m tickets.cli close XW-7K3P9    已解决
    python -m tickets.cli reopen XW-7K3P9

Changes are stored in the configured database (DATABASE_URL) with the audit trail; what
they send (the reply to the resident, the card update) is queued in the outbox and goes
out when the Telegram bridge runs. Exit status: 0 done, 1 refused or unknown ticket,
2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys

from common.config import settings_or_exit
from common.texts import say
from tickets import views
from tickets.numbers import normalise_number
from tickets.store import TicketError, TicketStore, default_store

ACTOR = "cli"


def _run(store: TicketStore, args: argparse.Namespace) -> tuple[str, int]:
    """(what to print, exit status) for one command."""
    if args.command == "open":
        return views.open_list(store), 0
    number = normalise_number(args.number)
    if not number:
        return say("utter_staff_bad_number", text=args.number[:30]), 2
    try:
        if args.command == "show":
            return f"{views.card_text(store.get(number))}\n\n{views.ticket_text(store, number)}", 0
        if args.command == "claim":
            text, refused = views.claim(store, number, ACTOR, args.name)
            return text, int(refused)
        if args.command == "close":
            text, refused = views.close(store, number, ACTOR, args.name)
            return text, int(refused)
        if args.command == "reopen":
            return views.reopen(store, number, ACTOR), 0
        text = " ".join(args.text).strip()
        if not text:
            return say("utter_staff_reply_unknown"), 2
        question = True if args.command == "ask" else None  # a reply ending in ？ asks too
        try:
            sent = store.reply(number, ACTOR, args.name, text, question=question)
        except TicketError:
            store.get(number)  # unknown ticket: reported below
            return say("utter_staff_reply_closed", ticket=number), 1
        done = "utter_staff_asked_sent" if sent.waiting_on == "resident" else "utter_staff_reply_sent"
        return say(done, ticket=number), 0
    except TicketError:
        return say("utter_staff_ticket_unknown", ticket=number), 1


def main(argv: list[str] | None = None, store: TicketStore | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tickets.cli", description="Work on help requests locally.")
    parser.add_argument("--name", default=ACTOR, help='the staff name shown on the card (default "cli")')
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("open", help="the tickets that are not closed")
    for name, what in (("show", "card and history"), ("claim", "认领"), ("close", "已解决"), ("reopen", "reopen")):
        commands.add_parser(name, help=what).add_argument("number", help="the ticket number, e.g. XW-7K3P9")
    for name, what in (("reply", "reply to the resident"), ("ask", "ask the resident (the answer comes back)")):
        reply = commands.add_parser(name, help=what)
        reply.add_argument("number")
        reply.add_argument("text", nargs="+")
    args = parser.parse_args(argv)
    if store is None:
        settings_or_exit()
    text, status = _run(store or default_store(), args)
    print(text)
    return status


if __name__ == "__main__":
    sys.exit(main())

"""`python -m rasa_addons.action_server`: rasa_sdk's action server for `actions/`, which
only Rasa may call.

- Every route but `/health` needs the header `X-Xunwu-Actions-Token` (ACTIONS_TOKEN, from
  the environment or `<data>/secrets/`; endpoints.yml makes Rasa send it), compared in
  constant time: without it an action call is refused with 401 before any action runs,
  so nobody on the host can file a ticket in someone else's name or read their tickets
  by posting to the action server. With no token configured at all every call is refused.
- It binds XUNWU_HOST (loopback by default), not rasa_sdk's 0.0.0.0, and runs one worker.
- Files it creates are private (umask 077), and an error answer does not echo the
  request (rasa_sdk's own handler sends the whole tracker back, phone numbers included).
"""

from __future__ import annotations

import argparse
import hmac
import logging
import sys

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from common.config import Settings, settings_or_exit

log = logging.getLogger(__name__)

TOKEN_HEADER = "X-Xunwu-Actions-Token"
OPEN_PATHS = ("/health",)


def create_app(cfg: Settings, token: str, package: str = "actions") -> Sanic:
    """rasa_sdk's app for `package`, behind the token check."""
    from rasa_sdk.endpoint import create_app as sdk_app

    app = sdk_app(package, cors_origins=None)
    expected = token.encode()

    @app.middleware("request")
    async def only_rasa(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS:
            return None
        given = request.headers.get(TOKEN_HEADER, "").encode()
        if not expected or not hmac.compare_digest(given, expected):
            log.warning("refused a call to %s without the actions token", request.path)
            return response.json({"error": f"the action server needs the {TOKEN_HEADER} header"}, status=401)
        return None

    @app.exception(Exception)
    async def failed(request: Request, exception: Exception) -> HTTPResponse:
        log.error("an action call to %s failed", request.path, exc_info=exception)
        return response.json({"error": "the action failed"}, status=500)

    return app


def main(argv: list[str] | None = None) -> int:
    from common.logs import private_files
    from common.secrets import read_secret

    parser = argparse.ArgumentParser(prog="python -m rasa_addons.action_server")
    parser.add_argument("--port", type=int, default=None, help="default: ACTIONS_PORT")
    args = parser.parse_args(argv)
    from tickets.migrate import migrate_or_exit

    private_files()
    cfg = settings_or_exit()
    migrate_or_exit(cfg)  # DATABASE_URL unreachable: one line naming it, exit status 2
    logging.basicConfig(level=cfg.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = read_secret(cfg, "actions_token")
    if not token:
        log.warning("no ACTIONS_TOKEN (nor <data>/secrets/actions_token): every action call will be refused")
    app = create_app(cfg, token)
    port = args.port or cfg.actions_port
    log.info("action server on http://%s:%s (calls need %s)", cfg.host, port, TOKEN_HEADER)
    app.run(host=cfg.host, port=port, workers=1, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

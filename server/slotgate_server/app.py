"""The application factory: `uvicorn --factory slotgate_server.app:create_app`."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import gc
import logging
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from connexion.exceptions import ProblemException
from connexion.middleware import ConnexionMiddleware, MiddlewarePosition
from connexion.middleware.request_validation import RequestValidationMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from connexion.options import SwaggerUIOptions
from starlette.exceptions import HTTPException

from slotgate_server import auth, errors, protocol
from slotgate_server.framework import App, RequestValidation
from slotgate_server.metrics import Metrics
from slotgate_server.services import admission, leases, queue
from slotgate_server.settings import Settings
from slotgate_server.state import ServerState
from slotgate_server.store.database import Database
from slotgate_server.waiters import SlotsFreed

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> App:
    settings = settings or Settings.from_env()
    app = App(
        __name__,
        lifespan=functools.partial(lifespan, settings=settings),
        security_map={"bearer": auth.bearer_handler(settings.api_keys)},
        swagger_ui_options=SwaggerUIOptions(serve_spec=False, swagger_ui=False),
        middlewares=middlewares(),
    )
    spec = load_spec(with_security=settings.access_control)
    app.add_api(spec, strict_validation=True, validator_map=protocol.VALIDATORS)
    app.add_middleware(protocol.KeepEncodedSeparators, position=MiddlewarePosition.BEFORE_EXCEPTION)
    app.add_error_handler(405, protocol.method_not_allowed(spec))
    app.add_error_handler(errors.SlotgateError, errors.render_slotgate_error)
    app.add_error_handler(ProblemException, errors.render_http_error)
    app.add_error_handler(HTTPException, errors.render_http_error)
    app.add_error_handler(Exception, errors.render_unexpected_error)
    return app


def middlewares() -> list[Any]:
    """Connexion's middlewares, with its request validation built once per operation and a
    body without a Content-Type read as JSON before it. The spec and its UI are not served, so
    their middleware would only route every request once more."""
    stack: list[Any] = []
    for middleware in ConnexionMiddleware.default_middlewares:
        if middleware is RequestValidationMiddleware:
            stack += [protocol.AssumeJsonBody, RequestValidation]
        elif middleware is not SwaggerUIMiddleware:
            stack.append(middleware)
    return stack


def spec_path() -> Path:
    packaged = resources.files("slotgate_server") / "openapi.yaml"
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "openapi.yaml"  # a source checkout


def load_spec(*, with_security: bool) -> dict[str, Any]:
    """openapi.yaml as a dict; a server without API keys drops its security requirements."""
    spec: dict[str, Any] = yaml.safe_load(spec_path().read_text())
    if with_security:
        return spec
    spec = copy.deepcopy(spec)
    spec.pop("security", None)
    for path_item in spec["paths"].values():
        for operation in path_item.values():
            if isinstance(operation, dict):
                operation.pop("security", None)
    return spec


@contextlib.asynccontextmanager
async def lifespan(_app: ConnexionMiddleware, *, settings: Settings) -> AsyncIterator[dict[str, Any]]:
    db = Database(settings.database_url)
    await db.migrate()
    await db.open()
    server = ServerState(settings=settings, db=db, metrics=Metrics(), freed=SlotsFreed())
    spare_the_garbage_collector()
    tasks = [
        asyncio.create_task(sweep_forever(server), name="slotgate-lease-sweep"),
        asyncio.create_task(queue.heartbeat_forever(server), name="slotgate-heartbeat"),
    ]
    if not db.is_sqlite:
        tasks.append(asyncio.create_task(admission.relay_freed(server), name="slotgate-freed-relay"))
    try:
        yield {"slotgate": server}
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await db.dispose()


# Container objects allocated, net of those freed, that set off a collection of the youngest
# generation (Python's default is 700).
YOUNG_COLLECTION_THRESHOLD = 10_000


@functools.cache  # once per process, however many apps it serves
def spare_the_garbage_collector() -> None:
    """Keep Python's cyclic garbage collector from costing a tenth of the server's time.

    A request makes no cyclic garbage, but with a few dozen requests in flight their live
    objects pass the default 700 again and again: the collector ran every few acquires, and
    the survivors it promoted set off a full collection several times a second, each scanning
    everything the app built at startup (the contract, its validators, the modules). With a
    higher threshold the in-flight objects of the requests never set it off; what startup
    built is frozen out of every later collection, since it lives as long as the process."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, oldest)


async def sweep_forever(server: ServerState) -> None:
    """Reclaim expired leases every SLOTGATE_LEASE_SWEEP_SECONDS. Acquires also reclaim on the
    spot, so a slow or failing sweep delays nothing but the slot counts people read."""
    while True:
        await asyncio.sleep(server.settings.lease_sweep_seconds)
        try:
            reclaimed = await leases.sweep(server)
        except Exception:
            logger.exception("The lease sweep failed; it runs again in %s s", server.settings.lease_sweep_seconds)
        else:
            if reclaimed:
                logger.info("Reclaimed %d expired lease(s)", reclaimed)

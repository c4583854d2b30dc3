"""The live dashboard's websocket: staff only; a snapshot on connect, then the group's events."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from dashboard import fragments
from dashboard.services import VIEWER_TTL, dashboard_viewer_present_mark

FORBIDDEN = 4403  # close code for anonymous and non-staff users (the handshake is refused)


def is_staff(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_staff)


class DashboardConsumer(AsyncWebsocketConsumer):
    seen: dict[str, set[int]]

    async def connect(self) -> None:
        if not is_staff(self.scope.get("user")):
            await self.close(code=FORBIDDEN)
            return
        # Join before reading the snapshot so no event falls between the two; events whose rows
        # the snapshot already holds are dropped in dashboard_event.
        self.seen = {}
        await self.channel_layer.group_add(fragments.GROUP, self.channel_name)
        await self.accept()
        self.heartbeat = asyncio.get_running_loop().create_task(self._heartbeat())
        snapshot = await database_sync_to_async(fragments.snapshot_render)()
        self.seen = snapshot.ids
        await self.send(text_data=snapshot.html)

    async def _heartbeat(self) -> None:
        """Tell the gateways someone is watching, so they render and publish live events, and tell
        the browser the socket is alive (connection.js calls a socket silent for long stalled)."""
        while True:
            await dashboard_viewer_present_mark()
            await asyncio.sleep(VIEWER_TTL / 3)
            await self.send(text_data=fragments.live_stamp())

    async def disconnect(self, code: int) -> None:
        heartbeat = getattr(self, "heartbeat", None)
        if heartbeat is not None:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        await self.channel_layer.group_discard(fragments.GROUP, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        return  # the page sends nothing; ignore whatever arrives

    async def dashboard_event(self, event: dict[str, Any]) -> None:
        ids = event.get("ids") or []
        if ids and set(ids) <= self.seen.get(event.get("kind") or "", set()):
            return
        await self.send(text_data=event["html"])

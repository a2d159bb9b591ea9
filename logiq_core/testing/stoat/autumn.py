"""The double's file server (Autumn), on its own loopback port like Stoat's separate CDN host.

``POST /{tag}`` takes a multipart ``file`` with ``X-Bot-Token``, enforces the tag's size limit
and image-only rule (by the bytes, as Autumn does, not by the declared type) and Autumn's
``upload`` bucket (10 per 10 s per tag), and answers ``{"id"}``. ``GET /{tag}/{id}`` and
``GET /{tag}/{id}/{filename}`` download. A message may attach each uploaded ``attachments`` file
once, and only its uploader may; anything else is ``UnknownAttachment`` (see the handlers).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web

from logiq_core.stoat.uploads import UPLOAD_TAGS, sniff_image_type
from logiq_core.testing.stoat.ulid import new_ulid

if TYPE_CHECKING:
    from logiq_core.testing.stoat.server import StoatDouble

MAX_REQUEST_BYTES = 25 * 1024 * 1024


@dataclass
class StoredFile:
    """A file the double's Autumn holds; ``message_id`` is set once a message attaches it."""

    id: str
    tag: str
    filename: str
    content_type: str
    data: bytes
    uploader_id: str
    message_id: str | None = None
    downloads: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.data)

    def wire(self) -> dict[str, Any]:
        """Stoat's ``File`` object, as found in ``Message.attachments``."""
        wire: dict[str, Any] = {
            "_id": self.id,
            "tag": self.tag,
            "filename": self.filename,
            "metadata": self.metadata,
            "content_type": self.content_type,
            "size": self.size,
        }
        if self.message_id is not None:
            wire["message_id"] = self.message_id
        return wire


def _metadata(content_type: str, data: bytes) -> dict[str, Any]:
    if content_type == "image/png" and len(data) >= 24:
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        return {"type": "Image", "width": width, "height": height}
    if content_type.startswith("image/"):
        return {"type": "Image", "width": 0, "height": 0}
    if content_type.startswith("text/"):
        return {"type": "Text"}
    return {"type": "File"}


def _error(status: int, error_type: str, **extra: Any) -> web.Response:
    return web.json_response({"type": error_type, "location": "double autumn", **extra}, status=status)


class AutumnDouble:
    """Autumn for one :class:`StoatDouble` (shares its world's tokens and rate limiter)."""

    def __init__(self, double: StoatDouble) -> None:
        self.double = double
        self.files: dict[str, StoredFile] = {}
        self.requests: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_post("/{tag}", self._upload)
        app.router.add_get("/{tag}/{id}", self._download)
        app.router.add_get("/{tag}/{id}/{filename}", self._download)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        double = self.double
        if double.latency:
            await asyncio.sleep(double.latency)
        tag = request.match_info["tag"]
        record: dict[str, Any] = {"method": "POST", "tag": tag}
        self.requests.append(record)
        token = request.headers.get("X-Bot-Token", "")
        user_id = double.world.tokens.get(token)
        if user_id is None or token in double.rejected_tokens:
            return web.Response(status=401, text="Unauthorized")
        spec = UPLOAD_TAGS.get(tag)
        if spec is None:
            return _error(404, "NotFound")
        allowed, headers, reset_after = double.rate_limiter.hit_bucket(user_id, "upload", tag)
        if not allowed:
            double.rate_limited_responses += 1
            return web.json_response({"retry_after": int(reset_after * 1000)}, status=429, headers=headers)
        if not request.content_type.startswith("multipart/"):
            return _error(400, "MissingData")
        part: Any = None
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if isinstance(part, BodyPartReader) and part.name == "file":
                break
            if part is not None:
                await part.release()
        if not isinstance(part, BodyPartReader):
            return _error(400, "MissingData")
        data = bytearray()
        while chunk := await part.read_chunk(64 * 1024):
            data.extend(chunk)
            if len(data) > spec.max_bytes:
                return _error(422, "FileTooLarge", max=spec.max_bytes)
        filename = part.filename or "file"
        record.update(filename=filename, size=len(data))
        if not data:
            return _error(422, "FileTooSmall")
        sniffed = sniff_image_type(bytes(data[:16]))
        if spec.images_only and sniffed is None:
            return _error(400, "FileTypeNotAllowed")
        declared = part.headers.get("Content-Type", "application/octet-stream")
        content_type = sniffed or declared.split(";", 1)[0].strip() or "application/octet-stream"
        stored = StoredFile(
            new_ulid(),
            tag,
            filename,
            content_type,
            bytes(data),
            user_id,
            metadata=_metadata(content_type, bytes(data)),
        )
        self.files[stored.id] = stored
        response = web.json_response({"id": stored.id})
        response.headers.update(headers)
        return response

    async def _download(self, request: web.Request) -> web.StreamResponse:
        stored = self.files.get(request.match_info["id"])
        if stored is None or stored.tag != request.match_info["tag"]:
            return _error(404, "NotFound")
        stored.downloads += 1
        disposition = "attachment" if "filename" in request.match_info else "inline"
        return web.Response(
            body=stored.data,
            content_type=stored.content_type,
            headers={"Content-Disposition": f'{disposition}; filename="{stored.filename}"'},
        )

    # --- used by the message handlers ---------------------------------------------------------
    def find_unused_attachment(self, file_id: str, uploader_id: str) -> StoredFile | None:
        """Stoat attaches a file once, only an ``attachments`` file, only its uploader's."""
        stored = self.files.get(file_id)
        if stored is None or stored.tag != "attachments" or stored.message_id is not None:
            return None
        return stored if stored.uploader_id == uploader_id else None

    def attachments_of(self, message: dict[str, Any] | str) -> list[StoredFile]:
        """The files attached to a message (given as the message or its id)."""
        message_id = message if isinstance(message, str) else str(message["_id"])
        found = self.double.world.messages.get(message_id) or {}
        return [self.files[a["_id"]] for a in found.get("attachments") or [] if a["_id"] in self.files]

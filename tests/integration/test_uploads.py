"""File uploads to Stoat's file server (Autumn) and attachments, against the double's Autumn."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import aiohttp
import pytest

from logiq_core.framework.commands import CommandContext, command
from logiq_core.framework.features import FeatureInfo, Phase
from logiq_core.framework.hookspecs import hookimpl
from logiq_core.stoat.rest import InvalidRequest, StoatAPI, StoatAPIError
from logiq_core.stoat.uploads import File, UploadRefused
from logiq_core.testing.stoat import StoatDouble, build_demo


def png(width: int = 2, height: int = 3) -> bytes:
    """A tiny valid PNG (the double reads its size from the header, like Autumn)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
async def world(stoat_double: StoatDouble) -> Any:
    demo = build_demo(stoat_double)
    async with StoatAPI(stoat_double.api_url, demo.bot_token) as api:
        yield stoat_double, demo, api


async def test_upload_returns_an_id_the_file_server_serves_back(world: Any) -> None:
    double, _demo, api = world
    transcript = File(b"ticket 42 transcript\n", "transcript.txt", "text/plain")
    file_id = await api.upload("attachments", transcript)
    assert api.autumn_url == double.autumn_url  # learnt from GET / (features.autumn.url)
    stored = double.files[file_id]
    assert (stored.data, stored.filename, stored.content_type) == (
        transcript.data,
        "transcript.txt",
        "text/plain",
    )
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{double.autumn_url}/attachments/{file_id}/transcript.txt") as response:
            assert response.status == 200
            assert await response.read() == transcript.data


async def test_send_message_uploads_files_first_and_attaches_them(world: Any) -> None:
    double, demo, api = world
    card = File(png(4, 2), "rank.png", "image/png")
    message = await api.send_message(
        demo.channels["general"], "your rank", attachments=[card, File(b"a,b\n", "data.csv", "text/csv")]
    )
    attached = double.attachments_of(message.id)
    assert [(f.filename, f.data) for f in attached] == [("rank.png", card.data), ("data.csv", b"a,b\n")]
    assert attached[0].metadata == {"type": "Image", "width": 4, "height": 2}
    assert [a.filename for a in message.attachments or []] == ["rank.png", "data.csv"]
    only_a_file = await api.send_message(demo.channels["general"], attachments=[card])
    assert only_a_file.content is None and len(double.attachments_of(only_a_file.id)) == 1


async def test_files_a_tag_refuses_are_refused_before_any_upload(world: Any) -> None:
    double, demo, api = world
    with pytest.raises(UploadRefused, match="at most 500,000 bytes"):
        await api.upload("emojis", File(png() + b"\x00" * 500_000, "big.png", "image/png"))
    with pytest.raises(UploadRefused, match="images only"):
        await api.upload("avatars", File(b"hello", "notes.txt", "text/plain"))
    with pytest.raises(UploadRefused, match="its bytes are image/png"):
        await api.upload("icons", File(png(), "icon.jpg", "image/jpeg"))
    with pytest.raises(UploadRefused, match="empty"):
        await api.upload("attachments", File(b"", "empty.txt", "text/plain"))
    with pytest.raises(UploadRefused, match="unknown upload tag"):
        await api.upload("stickers", File(b"x", "x.txt", "text/plain"))
    too_big = File(b"\x00" * 20_000_001, "huge.bin", "application/octet-stream")
    with pytest.raises(UploadRefused, match="at most 20,000,000 bytes"):
        await api.send_message(
            demo.channels["general"], "two files", attachments=[File(b"ok", "ok.txt"), too_big]
        )
    with pytest.raises(InvalidRequest, match="at most 5 attachments"):
        await api.send_message(
            demo.channels["general"], attachments=[File(b"x", f"{n}.txt") for n in range(6)]
        )
    assert double.autumn.requests == []  # nothing reached the file server
    assert double.files == {}


async def test_the_double_enforces_autumn_limits_on_raw_uploads(world: Any) -> None:
    double, demo, _api = world
    headers = {"X-Bot-Token": demo.bot_token}

    async def raw_upload(tag: str, data: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
        form = aiohttp.FormData()
        form.add_field("file", data, filename="f", content_type=content_type)
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{double.autumn_url}/{tag}", data=form, headers=headers) as response:
                return response.status, await response.json()

    assert await raw_upload("emojis", png() + b"\x00" * 500_000, "image/png") == (
        422,
        {"type": "FileTooLarge", "max": 500_000, "location": "double autumn"},
    )
    status, body = await raw_upload("avatars", b"just text", "image/png")  # the bytes decide
    assert (status, body["type"]) == (400, "FileTypeNotAllowed")
    status, body = await raw_upload("avatars", png(), "image/png")
    assert status == 200 and double.files[body["id"]].tag == "avatars"


async def test_unknown_and_reused_attachment_ids_are_refused_like_stoat(world: Any) -> None:
    _double, demo, api = world
    channel = demo.channels["general"]
    with pytest.raises(StoatAPIError) as refused:
        await api.send_message(channel, "x", attachments=["01J0000000000000000000NONE"])
    assert refused.value.type == "UnknownAttachment"
    file_id = await api.upload("attachments", File(b"once", "once.txt", "text/plain"))
    await api.send_message(channel, "first", attachments=[file_id])
    with pytest.raises(StoatAPIError) as reused:
        await api.send_message(channel, "second", attachments=[file_id])
    assert reused.value.type == "UnknownAttachment"
    avatar_id = await api.upload("avatars", File(png(), "me.png", "image/png"))
    with pytest.raises(StoatAPIError) as wrong_tag:
        await api.send_message(channel, "avatar as attachment", attachments=[avatar_id])
    assert wrong_tag.value.type == "UnknownAttachment"


async def test_uploads_have_their_own_bucket_and_the_client_waits_instead_of_collecting_429s(
    world: Any,
) -> None:
    double, _demo, api = world
    double.set_rate_limits(window_seconds=0.5, limits={"upload": 3, "messaging": 1})
    ids = [await api.upload("attachments", File(f"{n}".encode(), f"{n}.txt")) for n in range(7)]
    assert len(set(ids)) == 7
    assert double.rate_limited_responses == 0
    assert api.rate_limiter.waits >= 2  # 3 per window: waited at least twice for a fresh one
    assert "upload:attachments" in api.rate_limiter


class FilesPlugin:
    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo("files", "sends a transcript", Phase.STABLE, 100)

    @hookimpl
    def logiq_register_commands(self, register: Any) -> None:
        @command("transcript", description="Send a transcript")
        async def transcript(ctx: CommandContext) -> None:
            await ctx.reply(
                "Here it is.", attachments=[File(b"line 1\nline 2\n", "transcript.txt", "text/plain")]
            )

        @command("badcard", description="Send an avatar that is not an image")
        async def badcard(ctx: CommandContext) -> None:
            await ctx.api.upload("avatars", File(b"not an image", "card.png", "image/png"))

        register(transcript)
        register(badcard)


async def test_a_command_replies_with_a_file(logiq_harness: Any) -> None:
    async with logiq_harness(extra_plugins={"files": FilesPlugin()}) as h:
        reply = await h.command(h.demo.member_ids[0], "!transcript")
        assert reply["content"] == "Here it is."
        assert [(f.filename, f.data) for f in h.double.attachments_of(reply)] == [
            ("transcript.txt", b"line 1\nline 2\n")
        ]
        refused = await h.command(h.demo.member_ids[0], "!badcard")
        assert refused["content"].startswith("I could not send that: 'card.png' (image/png) is not a PNG")

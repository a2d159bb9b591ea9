"""Files for Stoat's file server (Autumn): what a file is, and what each upload tag accepts.

A plugin builds a :class:`File` (bytes, a filename and a content type) and hands it to
``ctx.reply(..., attachments=[file])``, ``api.send_message(..., attachments=[file])`` or
``api.upload(tag, file)``. Each file is checked against its tag's limits (PROTOCOL.md §5) before
anything is sent, so a file Stoat would refuse fails fast with :class:`UploadRefused` saying why.
"""

from __future__ import annotations

from dataclasses import dataclass

ATTACHMENTS = "attachments"
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


@dataclass(frozen=True, slots=True)
class UploadTag:
    """One Autumn tag: its size limit in bytes and whether it takes images only."""

    name: str
    max_bytes: int
    images_only: bool


# Autumn's defaults (Revolt.toml ``[files.limit]``): sizes in decimal megabytes.
UPLOAD_TAGS: dict[str, UploadTag] = {
    tag.name: tag
    for tag in (
        UploadTag(ATTACHMENTS, 20_000_000, images_only=False),
        UploadTag("avatars", 4_000_000, images_only=True),
        UploadTag("backgrounds", 6_000_000, images_only=True),
        UploadTag("icons", 2_500_000, images_only=True),
        UploadTag("banners", 6_000_000, images_only=True),
        UploadTag("emojis", 500_000, images_only=True),
    )
}


class UploadRefused(ValueError):
    """A file Stoat would refuse for its tag (too large, empty, wrong type): nothing was sent."""


@dataclass(frozen=True, slots=True, repr=False)
class File:
    """A file to upload: its bytes, the name members see, and its MIME type."""

    data: bytes
    filename: str
    content_type: str = "application/octet-stream"

    @property
    def size(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:  # never dump the bytes into a log line
        return f"File({self.filename!r}, {self.content_type!r}, {self.size} bytes)"


def sniff_image_type(data: bytes) -> str | None:
    """The image type the bytes actually are (Autumn looks at content, not at names)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_upload(tag: str, file: File) -> UploadTag:
    """Refuse, before any request, what Autumn would refuse for ``tag``; return the tag."""
    spec = UPLOAD_TAGS.get(tag)
    if spec is None:
        raise UploadRefused(f"unknown upload tag {tag!r}; Stoat has {', '.join(UPLOAD_TAGS)}")
    if not isinstance(file.data, bytes | bytearray | memoryview):
        raise UploadRefused(f"{file.filename!r}: data must be bytes, not {type(file.data).__name__}")
    if not file.filename or len(file.filename) > 128 or "/" in file.filename:
        raise UploadRefused("a file needs a name of 1-128 characters without '/'")
    if file.size == 0:
        raise UploadRefused(f"{file.filename!r} is empty; Stoat refuses empty files")
    if file.size > spec.max_bytes:
        raise UploadRefused(
            f"{file.filename!r} is {file.size:,} bytes; Stoat's {tag!r} take at most {spec.max_bytes:,} bytes"
        )
    if spec.images_only:
        declared = file.content_type.split(";", 1)[0].strip().lower()
        actual = sniff_image_type(bytes(file.data[:16]))
        if declared not in IMAGE_TYPES or actual is None:
            raise UploadRefused(
                f"{file.filename!r} ({declared or 'no type'}) is not a PNG, JPEG, GIF or WebP "
                f"image; Stoat's {tag!r} take images only"
            )
        if actual != declared:
            raise UploadRefused(f"{file.filename!r} says {declared} but its bytes are {actual}")
    return spec


__all__ = [
    "ATTACHMENTS",
    "IMAGE_TYPES",
    "UPLOAD_TAGS",
    "File",
    "UploadRefused",
    "UploadTag",
    "check_upload",
    "sniff_image_type",
]

"""The rank card: a 1050×450 PNG drawn with Pillow (avatar, name, level, progress bar, rank)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont, ImageOps

WIDTH, HEIGHT = 1050, 450
BACKGROUND = (35, 39, 46)
PANEL = (47, 52, 61)
ACCENT = (255, 111, 97)
TEXT = (240, 240, 240)
MUTED = (170, 175, 185)
AVATAR = 240


@dataclass(frozen=True, slots=True)
class CardFacts:
    name: str
    level: int
    xp_into_level: int
    xp_for_level: int
    total_xp: int
    rank: int
    members: int


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


@lru_cache(maxsize=1)
def _base() -> Image.Image:
    """The background and panel, drawn once and copied for every card."""
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((30, 30, WIDTH - 30, HEIGHT - 30), radius=30, fill=PANEL)
    return image


def _avatar(avatar: bytes | None, name: str) -> Image.Image:
    size = (AVATAR, AVATAR)
    picture: Image.Image | None = None
    if avatar:
        try:
            with Image.open(io.BytesIO(avatar)) as opened:
                picture = ImageOps.fit(opened.convert("RGB"), size)
        except (OSError, ValueError, Image.DecompressionBombError):
            picture = None  # not an image Pillow can read: draw the initial instead
    if picture is None:
        picture = Image.new("RGB", size, ACCENT)
        draw = ImageDraw.Draw(picture)
        initial = (name[:1] or "?").upper()
        draw.text((AVATAR / 2, AVATAR / 2), initial, font=_font(120), fill=TEXT, anchor="mm")
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).ellipse((0, 0, AVATAR - 1, AVATAR - 1), fill=255)
    picture.putalpha(mask)
    return picture


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@lru_cache(maxsize=1)
def _palette() -> Image.Image:
    """The palette of a card without a photo (its colours and their anti-aliased shades)."""
    sample = _draw(CardFacts("Sample Member", 12, 1_234, 2_345, 34_567, 8, 1_000), None)
    return sample.quantize(colors=128, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)


def render_card(facts: CardFacts, avatar: bytes | None = None) -> bytes:
    """The card as PNG bytes."""
    image = _draw(facts, avatar)
    # A palette PNG: deflating 1.4 MB of RGB rows dominates the render; a palette is several
    # times quicker to write and a fraction of the size. Without a photo the card's own palette
    # is known in advance (mapping to it is cheaper than finding one).
    if avatar is None:
        paletted = image.quantize(palette=_palette(), dither=Image.Dither.NONE)
    else:
        paletted = image.quantize(colors=192, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    out = io.BytesIO()
    paletted.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _draw(facts: CardFacts, avatar: bytes | None) -> Image.Image:
    image = _base().copy()
    picture = _avatar(avatar, facts.name)
    image.paste(picture, (70, (HEIGHT - AVATAR) // 2), picture)
    draw = ImageDraw.Draw(image)
    left = 70 + AVATAR + 50
    right = WIDTH - 70
    draw.text((left, 95), _fit(facts.name, 24), font=_font(52), fill=TEXT)
    draw.text((right, 100), f"RANK #{facts.rank}", font=_font(40), fill=ACCENT, anchor="ra")
    draw.text((left, 185), f"LEVEL {facts.level}", font=_font(44), fill=TEXT)
    draw.text(
        (right, 195),
        f"{facts.xp_into_level:,} / {facts.xp_for_level:,} XP",
        font=_font(32),
        fill=MUTED,
        anchor="ra",
    )
    top, bottom = 260, 310
    draw.rounded_rectangle((left, top, right, bottom), radius=25, fill=BACKGROUND)
    share = facts.xp_into_level / facts.xp_for_level if facts.xp_for_level > 0 else 0.0
    filled = left + int((right - left) * max(0.0, min(1.0, share)))
    if filled - left >= 50:
        draw.rounded_rectangle((left, top, filled, bottom), radius=25, fill=ACCENT)
    elif filled > left:
        draw.ellipse((left, top, left + 50, bottom), fill=ACCENT)
    draw.text(
        (left, 335),
        f"{facts.total_xp:,} XP in all · {facts.members:,} on the board",
        font=_font(28),
        fill=MUTED,
    )
    return image

"""``logiq new-plugin NAME``: a ready plugin distribution that installs and passes its tests at once.

The template is what docs/plugins.md teaches: one module importing only ``logiq_core.plugin``,
a command, a Beanie document, a listener, a typed setting from plugins.toml, and end-to-end
tests on the Stoat test double that need no pytest configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from logiq_core.framework.errors import LogiqError
from logiq_core.framework.features import FEATURE_NAME, Phase


class ScaffoldError(LogiqError):
    """The plugin could not be written (the message says why and what to do)."""


@dataclass(frozen=True)
class PluginTemplate:
    name: str
    description: str
    phase: Phase
    author: str

    @property
    def module(self) -> str:
        return f"logiq_{self.name}"

    @property
    def distribution(self) -> str:
        return f"logiq-{self.name.replace('_', '-')}"

    document = "Note"

    @property
    def config_model(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("_")) + "Config"

    def files(self) -> dict[str, str]:
        return {
            "pyproject.toml": self.pyproject(),
            "README.md": self.readme(),
            f"{self.module}/__init__.py": self.plugin(),
            f"tests/test_{self.name}.py": self.tests(),
            ".gitignore": ".venv/\n.logiq/\n__pycache__/\n*.egg-info/\n",
        }

    def pyproject(self) -> str:
        authors = f'authors = [{{ name = "{self.author}" }}]\n' if self.author else ""
        return f"""[build-system]
requires = ["hatchling>=1.24"]
build-backend = "hatchling.build"

[project]
name = "{self.distribution}"
version = "0.1.0"
description = "{self.description}"
readme = "README.md"
requires-python = ">=3.11"
{authors}dependencies = ["logiq>=0.1"]

[project.optional-dependencies]
test = ["logiq[test]>=0.1"]

# The entry-point name is the feature's name: the bot finds the plugin through it.
[project.entry-points."logiq.plugins"]
{self.name} = "{self.module}"

[tool.hatch.build.targets.wheel]
packages = ["{self.module}"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

    def plugin(self) -> str:
        n = self.name
        return f'''"""{n}: {self.description}"""

from beanie import Document
from pydantic import Field

from logiq_core import plugin as logiq


class {self.config_model}(logiq.PluginConfig):
    """[plugins.{n}.config] in plugins.toml, checked when the bot loads the plugin."""

    wave: bool = Field(default=True, description="React 👋 to the greeting")
    wave_at: str = Field(default="hi {n}", min_length=1, description="The greeting, in lower case")


class {self.document}(Document):
    """A member's note, in the collection {n}_{_snake(self.document)} (the core adds the prefix)."""

    server_id: str
    user_id: str
    text: str


@logiq.command("{n}", description="Remember a note and say how many you have")
async def note(ctx: logiq.CommandContext, text: logiq.Rest = "hello") -> None:
    await {self.document}(server_id=ctx.server_id, user_id=ctx.author_id, text=text).insert()
    count = await ctx.author_state.inc("notes")  # atomic, per member and server
    await ctx.reply(f"Noted: {{text}} (#{{count}})")


async def wave(ctx: logiq.PluginContext, event: logiq.MessageEvent) -> None:
    if (event.content or "").strip().lower() == {self.config_model}.of(ctx).wave_at:
        await ctx.api.add_reaction(event.channel, event.id, "👋")


@logiq.hookimpl
def logiq_feature() -> logiq.FeatureInfo:
    return logiq.FeatureInfo(
        description="{self.description}",
        default_phase=logiq.Phase.{self.phase.name},
        config={self.config_model},
    )


@logiq.hookimpl
def logiq_document_models() -> list[type[Document]]:
    return [{self.document}]


@logiq.hookimpl
def logiq_register_commands(register: logiq.Register) -> None:
    register([note])


@logiq.hookimpl
def logiq_register_listeners(register: logiq.Register, config: {self.config_model}) -> None:
    if config.wave:  # wave = false under [plugins.{n}.config] in plugins.toml turns it off
        register(logiq.Listener(logiq.MessageEvent, wave))
'''

    def tests(self) -> str:
        n = self.name
        return f'''"""{n} end to end: a real bot on the Stoat test double, with the real embedded storage."""


async def test_the_command_replies_and_counts_per_member(logiq_harness):
    async with logiq_harness(["{n}"], rollout={{"{n}": "stable"}}) as h:
        assert (await h.command(h.demo.alice, "!{n} buy milk"))["content"] == "Noted: buy milk (#1)"
        assert (await h.command(h.demo.alice, "!{n}"))["content"] == "Noted: hello (#2)"
        assert (await h.command(h.demo.bob, "!{n}"))["content"] == "Noted: hello (#1)"


async def test_the_listener_waves_back(logiq_harness):
    async with logiq_harness(["{n}"], rollout={{"{n}": "stable"}}) as h:
        await h.wait_for_reaction(await h.say(h.demo.bob, "hi {n}"), "👋")


async def test_hidden_on_a_server_outside_its_rollout(logiq_harness):
    async with logiq_harness(["{n}"], rollout={{"{n}": "internal"}}) as h:
        reply = await h.command(h.demo.alice, "!{n}")
        assert reply["content"] == "`{n}` is not available on this server."
'''

    def readme(self) -> str:
        n = self.name
        return f"""# {self.distribution}

{self.description}. A plugin for [Logiq](https://pypi.org/project/logiq/), the Stoat community bot.

| command | what |
|---|---|
| `!{n} [text]` | remember a note; answers how many you have on this server |

It also reacts 👋 to a message saying `hi {n}` (set `wave = false` under `[plugins.{n}.config]`
in plugins.toml to turn that off, or `wave_at = "..."` to change the words; a misspelled key
stops the plugin from loading, and `logiq plugins` names it).

It ships at **{self.phase.value}**: an operator opens it to servers with `logiq rollout ...`.

## Develop

```bash
pip install -e ".[test]"
pytest
```

The tests run a real bot against the Stoat test double that ships with Logiq, with the real
embedded storage; no Stoat account or MongoDB is needed.
"""


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


def write_plugin(
    name: str,
    directory: Path,
    *,
    description: str = "",
    phase: str = "beta",
    author: str = "",
    force: bool = False,
) -> Path:
    """Write ``logiq-<name>/`` under ``directory`` and return its path."""
    from logiq_core.framework.commands.builtin import builtin_commands

    if not FEATURE_NAME.match(name):
        raise ScaffoldError(
            f"plugin name {name!r}: use 2-32 characters of a-z, 0-9 and _, starting with a letter "
            "(it is the feature's name, its command and its module logiq_<name>)"
        )
    core = {alias for command in builtin_commands() for alias in command.names()}
    if name in core:
        raise ScaffoldError(f"{name!r} is a core command; choose another name")
    try:
        chosen_phase = Phase(phase.lower())
    except ValueError:
        raise ScaffoldError(f"phase {phase!r}: choose one of {', '.join(p.value for p in Phase)}") from None
    if '"' in description or "\\" in description or "\n" in description:
        raise ScaffoldError("the description must be one line without quotes or backslashes")
    template = PluginTemplate(name, description or f"The {name} feature", chosen_phase, author)
    root = directory / template.distribution
    if root.exists() and any(root.iterdir()) and not force:
        raise ScaffoldError(f"{root} already exists and is not empty; pass --force to overwrite")
    for relative, text in template.files().items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root

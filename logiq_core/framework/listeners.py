"""Event listeners that plugins register (see ``logiq_register_listeners``).

A listener is checked when it is made: the event type must be an event class (not its name as a
string, which would never match), the handler an ``async def``, and when the handler annotates
its event parameter, the annotation must accept that event class. A wrong listener fails its
plugin at load with a message that says what to write instead; the bot runs on without it.

The bot's own messages never reach listeners (Stoat echoes them back; the core drops them).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from logiq_core.stoat.events import EVENT_TYPES, StoatEvent

if TYPE_CHECKING:
    from logiq_core.framework.context import PluginContext

E = TypeVar("E", bound=StoatEvent)


class ListenerError(TypeError):
    """A listener that can never work (the message says how to write it)."""


@dataclass(frozen=True, slots=True)
class Listener(Generic[E]):
    """Call ``handler(ctx, event)`` for every event of ``event_type`` (a class from
    :mod:`logiq_core.stoat.events`, e.g. ``MessageEvent``) on servers where the plugin's feature is
    enabled.

    ``timeout`` bounds one call; a listener that exceeds it is cancelled and counted as failed.
    With ``direct_messages`` the listener also receives events outside any server (direct
    messages and their reactions) whatever the feature's phase: the handler works out which
    server such an event belongs to and checks ``ctx.is_enabled(server_id)`` itself.
    """

    event_type: type[E]
    handler: Callable[[PluginContext, E], Awaitable[None]]
    timeout: float = 10.0
    direct_messages: bool = False

    def __post_init__(self) -> None:
        _validate(self.event_type, self.handler, self.timeout)

    @property
    def name(self) -> str:
        return str(getattr(self.handler, "__qualname__", repr(self.handler)))

    def deliver(self, context: PluginContext, event: StoatEvent) -> Awaitable[None]:
        """Call the handler with an event of this listener's class (the dispatcher routes by
        exact class; anything else is a routing bug, refused here rather than mis-delivered)."""
        if not isinstance(event, self.event_type):
            raise TypeError(
                f"listener {self.name} is for {self.event_type.__name__}, not {type(event).__name__}"
            )
        return self.handler(context, event)


class EventListener(Protocol):
    """What the core sees of any :class:`Listener`, whatever its event class: the dispatcher
    holds listeners of many classes together and calls :meth:`deliver` with events it routed
    to each by class."""

    @property
    def event_type(self) -> type[StoatEvent]: ...

    @property
    def timeout(self) -> float: ...

    @property
    def direct_messages(self) -> bool: ...

    @property
    def name(self) -> str: ...

    def deliver(self, context: PluginContext, event: StoatEvent) -> Awaitable[None]: ...


def _validate(event_type: object, handler: object, timeout: float) -> None:
    if isinstance(event_type, str):
        known = _event_class_named(event_type)
        shown = known.__name__ if known is not None else "MessageEvent"
        raise ListenerError(
            f"Listener({event_type!r}, ...): the event type is the class, not its name: write "
            f"Listener({shown}, handler) with {shown} imported from logiq_core.plugin"
        )
    if not inspect.isclass(event_type):
        raise ListenerError(f"Listener({event_type!r}, ...): the first argument must be an event class")
    if event_type not in EVENT_TYPES.values():  # events are routed by their exact class
        known = _event_class_named(event_type.__name__)
        hint = f" (did you mean {known.__name__}?)" if known is not None else ""
        raise ListenerError(
            f"Listener({event_type.__name__}, ...): not an event the socket delivers{hint}; "
            "listen to one of the event classes in logiq_core.plugin, e.g. MessageEvent"
        )
    name = getattr(handler, "__name__", repr(handler))
    if not inspect.iscoroutinefunction(handler):
        raise ListenerError(
            f"listener {name}: the handler must be "
            f"async def {name}(ctx: PluginContext, event: {event_type.__name__}) -> None"
        )
    if timeout <= 0:
        raise ListenerError(f"listener {name}: timeout must be above 0")
    try:
        parameters = list(inspect.signature(handler).parameters.values())
    except (TypeError, ValueError):
        return
    if len(parameters) < 2 and not any(p.kind is p.VAR_POSITIONAL for p in parameters):
        raise ListenerError(
            f"listener {name}: the handler takes (ctx, event): "
            f"async def {name}(ctx: PluginContext, event: {event_type.__name__}) -> None"
        )
    try:
        hints = typing.get_type_hints(handler)
    except Exception:
        return  # an annotation that cannot be resolved here is not ours to judge
    annotation = hints.get(parameters[1].name) if len(parameters) >= 2 else None
    if annotation is None or annotation is Any:
        return
    accepted = typing.get_args(annotation) or (annotation,)
    if not any(inspect.isclass(a) and issubclass(event_type, a) for a in accepted):
        shown = getattr(annotation, "__name__", repr(annotation))
        raise ListenerError(
            f"listener {name} is registered for {event_type.__name__} but its event parameter "
            f"is annotated {shown}: register Listener({shown}, {name}) or annotate "
            f"event: {event_type.__name__}"
        )


def _event_class_named(name: str) -> type | None:
    """The event class for a class name or a Stoat event type (``"Message"`` → MessageEvent)."""
    for tag, event_class in EVENT_TYPES.items():
        if name in (event_class.__name__, tag):
            return event_class
    return None


def check_listener(item: object, quiet: bool = False) -> bool:
    """What the plugin manager asks of everything handed to ``logiq_register_listeners``."""
    if isinstance(item, Listener):
        return True
    if quiet:
        return False
    from logiq_core.framework.plugins import PluginLoadError

    if inspect.iscoroutinefunction(item):
        raise PluginLoadError(
            f"registered the function {item.__name__} as a listener: register "
            f"Listener(MessageEvent, {item.__name__}) with the event class it handles"
        )
    raise PluginLoadError(f"registered {item!r} as a listener: register Listener(EventClass, handler)")

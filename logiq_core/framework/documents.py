"""Binding Beanie document classes to a database, and creating their declared indexes.

:func:`init_documents` is what :class:`~logiq_core.framework.storage.Storage` calls at start. It
does what ``init_beanie`` does, with fewer round trips: every class's ``createIndexes`` at once,
and a class already prepared in this process (tests and the sandbox start many bots) only
re-bound to the new database. Both rely on Beanie 2 internals (``pyproject.toml`` pins
``beanie<3``); ``tests/integration/test_storage_indexes.py`` and the rebinding test in
``tests/integration/test_storage.py`` guard them.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import weakref
from collections.abc import Sequence
from typing import Any

from beanie import Document, init_beanie
from beanie.odm.fields import IndexModelField
from beanie.odm.utils.init import Initializer
from beanie.odm.utils.typing import get_index_attributes
from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.driver_info import DriverInfo

_BEANIE_DRIVER = DriverInfo(name="beanie", version=importlib.metadata.version("beanie"))
INDEX_CREATIONS_AT_ONCE = 4
"""createIndexes commands in flight at start, each on a connection of the client's pool. The
embedded server runs them one at a time anyway (measured: no faster, no slower than 1); a
MongoDB across a network waits a quarter of the round trips."""


def declared_indexes(document: type[Document]) -> list[IndexModel]:
    """The indexes Beanie creates for ``document``: its ``Indexed`` fields merged with its
    ``Settings.indexes`` (an index in ``Settings`` replaces a field's index on the same keys).

    Mirrors Beanie's ``Initializer.init_indexes`` for a document without ``merge_indexes`` or a
    parent Document (:func:`init_documents` leaves those to Beanie), through two of Beanie 2's
    own helpers: ``tests/integration/test_storage_indexes.py`` is the guard that the two agree
    for every document, on whatever Beanie is installed.
    """
    found = []
    for name, field in document.model_fields.items():
        attributes = get_index_attributes(field)
        if attributes is not None:
            direction, options = attributes
            found.append(IndexModelField(IndexModel([(field.alias or name, direction)], **options)))
    settings_indexes = document.get_settings().indexes
    if settings_indexes:
        found = IndexModelField.merge_indexes(found, settings_indexes)
    indexes: list[IndexModel] = IndexModelField.list_to_index_model(found)
    return indexes


def _needs_beanie_for_indexes(document: type[Document]) -> bool:
    """Whether ``document``'s indexes depend on its class hierarchy: merged with a parent's
    (``merge_indexes``), or a parent Document whose own indexes Beanie creates first."""
    if getattr(getattr(document, "Settings", None), "merge_indexes", False):
        return True
    return any(issubclass(base, Document) and base is not Document for base in document.__mro__[1:])


_prepared: weakref.WeakKeyDictionary[type[Document], dict[str, Any]] = weakref.WeakKeyDictionary()
"""Document classes Beanie has prepared in this process, with the ``Settings`` it read then."""


def _settings_source(document: type[Document]) -> dict[str, Any]:
    """What Beanie reads a document's settings from (as its ``init_settings`` does)."""
    settings = getattr(document, "Settings", None)
    if settings is None:
        return {}
    return {name: getattr(settings, name) for name in dir(settings) if not name.startswith("__")}


def _rebindable(document: type[Document]) -> bool:
    """Whether ``document`` was prepared with the settings it has now, and depends on nothing
    but its own class and its database: no union document, time series, inheritance root,
    links or ``custom_init`` (which Beanie runs at every binding): those always go through
    Beanie."""
    prepared = _prepared.get(document)
    if prepared is None or prepared != _settings_source(document):
        return False  # never prepared, or its Settings changed since (a collection renamed)
    settings = document.get_settings()
    return (
        settings.union_doc is None
        and settings.timeseries is None
        and not settings.is_root
        and not document.get_link_fields()
        and not hasattr(document, "custom_init")
    )


def _rebind(document: type[Document], database: AsyncDatabase[dict[str, Any]]) -> None:
    """Bind a document class Beanie already prepared to ``database``.

    Beanie's initialisation of a class is mostly about the class (its settings, expression
    fields, event actions), the same for every database; only the database, the collection
    and the cache change. A process that starts several bots (tests) then pays for it once.
    The server's major version (used for links, which a plain document has none of) stays
    the one read when the class was first prepared.
    """
    settings = document.get_settings()
    settings.pymongo_db = database  # what Beanie's set_database and set_collection do
    settings.pymongo_collection = database[document.get_collection_name()]
    Initializer.init_cache(document)  # a fresh cache: nothing read through the old database


async def init_documents(
    database: AsyncDatabase[dict[str, Any]], document_models: Sequence[type[Document]]
) -> None:
    """Bind ``document_models`` to ``database`` (Beanie) and create their declared indexes.

    Beanie alone handles one class after another, asking each collection for its indexes (used
    only to drop undeclared ones, which Logiq never allows) and then creating them: two round
    trips per class, in sequence. Here Beanie binds the classes without touching indexes, and
    every class's ``createIndexes`` (idempotent for an index that exists as declared) is sent at
    once. The indexes that exist afterwards are the same. Documents whose indexes depend on
    their class hierarchy are left to Beanie. A plain class Beanie already prepared in this
    process is only bound to ``database`` (:func:`_rebind`); when no class is new, Beanie's
    two questions to the server (``buildInfo``, ``listCollections``) are not asked again.
    """
    models = list(document_models)
    if any(_needs_beanie_for_indexes(model) for model in models):
        await init_beanie(database=database, document_models=models)
        return
    known = [model for model in models if _rebindable(model)]
    fresh = [model for model in models if model not in known]
    if fresh:
        await init_beanie(database=database, document_models=fresh, skip_indexes=True)
        for model in fresh:
            if issubclass(model, Document):
                _prepared[model] = _settings_source(model)
    if known:
        if callable(getattr(database.client, "append_metadata", None)):
            database.client.append_metadata(_BEANIE_DRIVER)  # as init_beanie does
        for model in known:
            _rebind(model, database)
    connections = asyncio.Semaphore(INDEX_CREATIONS_AT_ONCE)

    async def create(model: type[Document], indexes: list[IndexModel]) -> None:
        async with connections:
            await model.get_pymongo_collection().create_indexes(indexes)

    try:
        async with asyncio.TaskGroup() as creations:  # the first failure cancels the others
            for model in models:
                if issubclass(model, Document) and (indexes := declared_indexes(model)):  # views have none
                    creations.create_task(create(model, indexes))
    except ExceptionGroup as failed:
        # The first failure, as Beanie would raise it: callers handle a PyMongoError, not a group.
        raise failed.exceptions[0] from None

"""Every index a document declares exists after a start, made as Beanie itself would make it.

Storage creates the indexes itself (Beanie binds the classes with ``skip_indexes``, then every
collection's ``createIndexes`` is sent at once): these tests hold that to Beanie's own result,
command for command, for every document the core and the installed plugins declare, and check
on the server that each declared index exists after a start on a fresh database and after a
second start on the same one.
"""

from __future__ import annotations

from collections import Counter as Multiset
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import pytest
from beanie import Document, Indexed, init_beanie
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, monitoring
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from logiq_core.app.bot import Bot
from logiq_core.app.settings import Settings
from logiq_core.app.web.config import WebConfig
from logiq_core.framework.documents import declared_indexes, init_documents
from logiq_core.framework.policy import Policy
from logiq_core.framework.storage import Storage
from logiq_core.testing.storage import storage_for


class IndexProbe(Document):
    """Every way a document declares an index: a field, an aliased field, ``Settings.indexes``
    (one replacing a field's own index on the same key), options and directions."""

    plain: Annotated[str, Indexed()]
    unique: Annotated[int, Indexed(unique=True)]
    aliased: Annotated[str, Indexed()] = Field(alias="shown_as")
    replaced: Annotated[str, Indexed()]
    at: datetime

    class Settings:
        name = "indexprobe_docs"
        indexes = [
            IndexModel([("replaced", ASCENDING)], unique=True),
            IndexModel([("plain", ASCENDING), ("at", DESCENDING)], name="plain_then_newest"),
        ]


class MergedBase(Document):
    kind: str

    class Settings:
        name = "indexprobe_merged"
        is_root = True
        indexes = [IndexModel([("kind", ASCENDING)])]


class MergedChild(MergedBase):
    size: int

    class Settings:
        merge_indexes = True
        indexes = [IndexModel([("size", DESCENDING)])]


class IndexedParent(Document):
    owner: Annotated[str, Indexed()]

    class Settings:
        name = "indexprobe_parent"


class ChildOfIndexedParent(IndexedParent):
    size: Annotated[int, Indexed()]

    class Settings:
        name = "indexprobe_child"


def every_document_model(tmp_path: Path) -> list[type[Document]]:
    """What a bot with every installed plugin and the dashboard stores."""
    bot = Bot(
        Settings(token="probe", api_url="http://127.0.0.1:9", data_dir=tmp_path),  # type: ignore[arg-type]
        policy=Policy(enable_unlisted=True),
        web_config=WebConfig(enabled=True),
    )
    bot.plugins.load()
    assert len(bot.plugins.loaded()) >= 5, "the test expects the repository's plugins installed"
    return [*bot.document_models(), IndexProbe]


class CreateIndexes(monitoring.CommandListener):
    def __init__(self) -> None:
        self.sent: Multiset[tuple[str, str]] = Multiset()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "createIndexes":
            for index in event.command["indexes"]:
                self.sent[(event.command["createIndexes"], repr(sorted(index.items())))] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def created_by(
    tmp_path: Path,
    name: str,
    how: Callable[[AsyncDatabase[dict[str, Any]], list[type[Document]]], Awaitable[None]],
    models: list[type[Document]],
) -> CreateIndexes:
    storage = storage_for(tmp_path / name)
    await storage.start()
    listener = CreateIndexes()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        storage.embedded.uri_of(storage.database_name),  # type: ignore[union-attr]
        event_listeners=[listener],
        tz_aware=True,
    )
    try:
        await how(client.get_default_database(), models)
    finally:
        await client.close()
        await storage.stop()
    return listener


async def beanie_alone(database: AsyncDatabase[dict[str, Any]], models: list[type[Document]]) -> None:
    await init_beanie(database=database, document_models=models)


async def test_the_same_indexes_are_requested_as_beanie_requests_for_every_document(tmp_path: Path) -> None:
    models = every_document_model(tmp_path)
    ours = await created_by(tmp_path, "ours", init_documents, models)
    beanies = await created_by(tmp_path, "beanie", beanie_alone, models)
    assert ours.sent == beanies.sent
    collections = {collection for collection, _ in ours.sent}
    assert "indexprobe_docs" in collections and any(name.startswith("economy_") for name in collections)
    assert len(ours.sent) >= 30  # the core and every plugin declared some


async def test_indexes_merged_along_a_class_hierarchy_are_left_to_beanie(tmp_path: Path) -> None:
    models: list[type[Document]] = [MergedBase, MergedChild]
    ours = await created_by(tmp_path, "ours", init_documents, models)
    beanies = await created_by(tmp_path, "beanie", beanie_alone, models)
    assert ours.sent == beanies.sent
    assert any('"size"' in spec or "'size'" in spec for _, spec in ours.sent)


async def test_a_listed_subclass_gets_its_parents_indexes_as_with_beanie(tmp_path: Path) -> None:
    """Beanie initialises a Document's parent first, the parent's indexes included, even when only
    the subclass is listed."""
    models: list[type[Document]] = [ChildOfIndexedParent]
    ours = await created_by(tmp_path, "ours", init_documents, models)
    beanies = await created_by(tmp_path, "beanie", beanie_alone, models)
    assert ours.sent == beanies.sent
    assert "indexprobe_parent" in {collection for collection, _ in ours.sent}


def declared(models: list[type[Document]]) -> dict[str, set[tuple[tuple[str, ...], bool]]]:
    """Collection -> its declared indexes as (key fields, unique): the embedded server keeps
    both (it reports every direction as ascending, and names indexes its own way)."""
    found: dict[str, set[tuple[tuple[str, ...], bool]]] = {}
    for model in models:
        for index in declared_indexes(model):
            spec = index.document
            found.setdefault(model.get_collection_name(), set()).add(
                (tuple(spec["key"]), bool(spec.get("unique", False)))
            )
    return found


async def existing(storage: Storage, collections: list[str]) -> dict[str, list[tuple[tuple[str, ...], bool]]]:
    found: dict[str, list[tuple[tuple[str, ...], bool]]] = {}
    for name in collections:
        information = await storage.database[name].index_information()
        found[name] = sorted(
            (tuple(field for field, _ in details["key"]), bool(details.get("unique", False)))
            for index_name, details in information.items()
            if index_name != "_id_"
        )
    return found


async def test_every_declared_index_exists_after_a_first_and_a_second_start(tmp_path: Path) -> None:
    models = every_document_model(tmp_path)
    first = storage_for(tmp_path / "data")
    await first.start(models)
    wanted = declared(models)
    try:
        after_first = await existing(first, sorted(wanted))
    finally:
        await first.stop()
    for collection, indexes in wanted.items():
        assert indexes <= set(after_first[collection]), collection
    second = storage_for(tmp_path / "data")
    await second.start(models)
    try:
        after_second = await existing(second, sorted(wanted))
    finally:
        await second.stop()
    assert after_second == after_first  # a second start neither loses nor duplicates an index


class UniqueProbe(Document):
    code: Annotated[str, Indexed(unique=True)]

    class Settings:
        name = "indexprobe_unique"


async def test_an_index_that_cannot_be_made_fails_the_start_with_the_servers_error(tmp_path: Path) -> None:
    """Two documents already share a value a new unique index forbids: the start fails with the
    database's own error (what callers handle), not an exception group."""
    storage = storage_for(tmp_path / "data")
    await storage.start()
    try:
        await storage.database["indexprobe_unique"].insert_many([{"code": "same"}, {"code": "same"}])
        with pytest.raises(PyMongoError) as failed:
            await init_documents(storage.database, [UniqueProbe, IndexProbe])
        assert not isinstance(failed.value, BaseExceptionGroup)
    finally:
        await storage.stop()

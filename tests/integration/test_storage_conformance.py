"""Every MongoDB operation shape Logiq's core and plugins use, against MongoDB's documented result.

Runs on the embedded nx-27017 server, or on the MongoDB at ``LOGIQ_MONGODB_URI`` when it is set
(collections named ``conformance_*`` are created there and dropped again). Shapes where the
embedded server differs are marked ``known_difference``: strict expected failures on the
embedded server (a fixed nx-27017 makes them fail loudly, so the README can drop the line), and
plain passing tests on MongoDB. The project avoids those shapes; :mod:`logiq_core.framework.portable`
has the portable way to write them, tested here on both.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from beanie import Document
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from logiq_core.framework.portable import count_matching, expand_dotted, upsert_increment
from logiq_core.framework.storage import Storage
from logiq_core.testing.storage import SharedStorageServer

EXTERNAL_URI = os.environ.get("LOGIQ_MONGODB_URI")
pytestmark = pytest.mark.asyncio(loop_scope="module")


def known_difference(reason: str) -> pytest.MarkDecorator:
    """A shape nx-27017 0.8.1 gets wrong (listed in the README); MongoDB must pass it."""
    return pytest.mark.xfail(EXTERNAL_URI is None, reason=f"nx-27017: {reason}", strict=True)


class ConformanceAccount(Document):
    server_id: str
    user_id: str
    balance: int = 0
    joined_at: datetime

    class Settings:
        name = "conformance_accounts"
        indexes = [IndexModel([("server_id", ASCENDING), ("user_id", ASCENDING)], unique=True)]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def storage(
    tmp_path_factory: pytest.TempPathFactory, logiq_shared_storage_server: SharedStorageServer
) -> AsyncIterator[Storage]:
    """The MongoDB at LOGIQ_MONGODB_URI, else a database of its own on the run's shared
    embedded server."""
    data_dir: Path = tmp_path_factory.mktemp("conformance")
    if EXTERNAL_URI:
        started = Storage(EXTERNAL_URI, data_dir)
    else:
        started = logiq_shared_storage_server.storage(data_dir)
    await started.start([ConformanceAccount])
    await ConformanceAccount.get_pymongo_collection().delete_many({})
    yield started
    await started.database.drop_collection("conformance_accounts")
    await started.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def coll(storage: Storage) -> AsyncIterator[Any]:
    name = f"conformance_{uuid.uuid4().hex[:10]}"
    collection = storage.database[name]
    yield collection
    await storage.database.drop_collection(name)


def stripped(document: dict[str, Any] | None) -> dict[str, Any] | None:
    if document is None:
        return None
    return {key: value for key, value in document.items() if key != "_id"}


# --- upserts ----------------------------------------------------------------------------------
async def test_upsert_inc_creates_the_document_from_the_query_and_the_increment(coll: Any) -> None:
    result = await coll.update_one({"server_id": "S", "user_id": "U"}, {"$inc": {"xp": 5}}, upsert=True)
    assert result.upserted_id is not None and result.matched_count == 0
    await coll.update_one({"server_id": "S", "user_id": "U"}, {"$inc": {"xp": 7}}, upsert=True)
    assert stripped(await coll.find_one({})) == {"server_id": "S", "user_id": "U", "xp": 12}


@known_difference("a dotted $inc on an upsert that inserts is stored as a literal dotted key")
async def test_first_dotted_inc_on_an_upsert_makes_a_nested_document(coll: Any) -> None:
    await coll.update_one({"k": 1}, {"$inc": {"histogram.5": 1, "n": 1}}, upsert=True)
    assert stripped(await coll.find_one({"k": 1})) == {"k": 1, "histogram": {"5": 1}, "n": 1}


@known_difference("a dotted $setOnInsert on an upsert is stored as a literal dotted key")
async def test_dotted_set_on_insert_makes_a_nested_document(coll: Any) -> None:
    await coll.update_one({"k": 1}, {"$setOnInsert": {"wallet.coins": 10}}, upsert=True)
    assert stripped(await coll.find_one({"k": 1})) == {"k": 1, "wallet": {"coins": 10}}


async def test_dotted_set_on_an_upsert_makes_a_nested_document(coll: Any) -> None:
    await coll.update_one({"k": 1}, {"$set": {"settings.prefix": "?"}}, upsert=True)
    assert stripped(await coll.find_one({"k": 1})) == {"k": 1, "settings": {"prefix": "?"}}


async def test_dotted_inc_on_an_existing_document_nests(coll: Any) -> None:
    await coll.insert_one({"k": 1})
    await coll.update_one({"k": 1}, {"$inc": {"histogram.5": 1}})
    await coll.update_one({"k": 1}, {"$inc": {"histogram.5": 2, "histogram.7": 1}}, upsert=True)
    assert stripped(await coll.find_one({"k": 1})) == {"k": 1, "histogram": {"5": 3, "7": 1}}


async def test_set_on_insert_applies_only_when_the_upsert_inserts(coll: Any) -> None:
    await coll.update_one({"k": 1}, {"$setOnInsert": {"created": 1}, "$inc": {"n": 1}}, upsert=True)
    await coll.update_one({"k": 1}, {"$setOnInsert": {"created": 2}, "$inc": {"n": 1}}, upsert=True)
    assert stripped(await coll.find_one({"k": 1})) == {"k": 1, "created": 1, "n": 2}


@known_difference("find_one_and_update with upsert ignores $setOnInsert when it inserts")
async def test_find_one_and_update_upsert_applies_set_on_insert(coll: Any) -> None:
    after = await coll.find_one_and_update(
        {"k": 1},
        {"$setOnInsert": {"created": 1}, "$inc": {"n": 1}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    assert stripped(after) == {"k": 1, "created": 1, "n": 1}


async def test_nested_equality_in_an_upsert_query_becomes_a_nested_field(coll: Any) -> None:
    await coll.update_one({"k": 1, "owner.id": "U"}, {"$inc": {"n": 1}}, upsert=True)
    assert stripped(await coll.find_one({"k": 1})) == {"k": 1, "owner": {"id": "U"}, "n": 1}


# --- dates --------------------------------------------------------------------------------------
async def test_dates_written_on_insert_and_upsert_come_back_as_dates(coll: Any) -> None:
    at = datetime(2026, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
    await coll.insert_one({"k": 1, "at": at})
    await coll.update_one({"k": 2}, {"$set": {"at": at}}, upsert=True)
    for key in (1, 2):
        found = await coll.find_one({"k": key})
        assert isinstance(found["at"], datetime) and found["at"] == at
    assert await coll.count_documents({"at": {"$lte": at + timedelta(seconds=1)}}) == 2


@known_difference("a date $set on an existing document is stored as text, so range queries miss it")
async def test_a_date_set_on_an_existing_document_stays_a_date(coll: Any) -> None:
    at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    await coll.insert_one({"k": 1, "at": at})
    await coll.update_one({"k": 1}, {"$set": {"at": at + timedelta(hours=1)}})
    found = await coll.find_one({"k": 1})
    assert isinstance(found["at"], datetime)
    assert await coll.count_documents({"at": {"$gt": at}}) == 1


async def test_beanie_save_keeps_dates_as_dates(storage: Storage) -> None:
    at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    account = ConformanceAccount(server_id="S", user_id="dates", joined_at=at)
    await account.insert()
    account.joined_at = at + timedelta(days=1)
    await account.save()
    found = await ConformanceAccount.find_one(ConformanceAccount.user_id == "dates")
    assert found is not None and found.joined_at == at + timedelta(days=1)
    assert await ConformanceAccount.find(ConformanceAccount.joined_at > at).count() == 1


# --- find_one_and_update --------------------------------------------------------------------------
async def test_find_one_and_update_returns_before_or_after_and_none_on_a_miss(coll: Any) -> None:
    after = await coll.find_one_and_update(
        {"k": 1}, {"$inc": {"v": 1}}, upsert=True, return_document=ReturnDocument.AFTER
    )
    assert stripped(after) == {"k": 1, "v": 1}
    before = await coll.find_one_and_update(
        {"k": 1}, {"$inc": {"v": 1}}, return_document=ReturnDocument.BEFORE
    )
    assert stripped(before) == {"k": 1, "v": 1}
    assert (
        await coll.find_one_and_update({"k": 2}, {"$inc": {"v": 1}}, upsert=True) is None
    )  # BEFORE an insert
    assert await coll.find_one_and_update({"k": 1, "v": {"$lt": 0}}, {"$set": {"v": 9}}) is None
    assert (await coll.find_one({"k": 1}))["v"] == 2


async def test_conditional_claim_takes_the_earliest_match_once(coll: Any) -> None:
    await coll.insert_many([{"key": f"t{i}", "run_ts": 100.0 - i, "claim": None} for i in range(5)])
    claims = []
    for token in ("a", "b", "c", "d", "e", "f"):
        claimed = await coll.find_one_and_update(
            {"run_ts": {"$lte": 98.5}, "claim": None},
            {"$set": {"claim": token}, "$inc": {"attempts": 1}},
            sort=[("run_ts", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        claims.append(claimed["key"] if claimed else None)
    assert claims == ["t4", "t3", "t2", None, None, None]
    assert await coll.count_documents({"attempts": 1}) == 3


async def test_counter_find_one_and_update_upsert_counts_from_one(coll: Any) -> None:
    values = [
        (
            await coll.find_one_and_update(
                {"server_id": "S"}, {"$inc": {"value": 1}}, upsert=True, return_document=ReturnDocument.AFTER
            )
        )["value"]
        for _ in range(3)
    ]
    assert values == [1, 2, 3]


# --- indexes and duplicate keys ---------------------------------------------------------------------
async def test_unique_index_refuses_a_duplicate_insert_with_code_11000(coll: Any) -> None:
    await coll.create_index([("server_id", ASCENDING)], unique=True)
    await coll.insert_one({"server_id": "S"})
    with pytest.raises(DuplicateKeyError) as raised:
        await coll.insert_one({"server_id": "S"})
    assert raised.value.code == 11000
    with pytest.raises(DuplicateKeyError):
        await coll.update_one({"server_id": "T", "x": 1}, {"$set": {"server_id": "S"}}, upsert=True)
    assert await coll.count_documents({}) == 1


async def test_compound_unique_index_allows_each_part_alone(coll: Any) -> None:
    await coll.create_index([("server_id", ASCENDING), ("number", ASCENDING)], unique=True)
    await coll.insert_many(
        [{"server_id": "S", "number": 1}, {"server_id": "S", "number": 2}, {"server_id": "T", "number": 1}]
    )
    with pytest.raises(DuplicateKeyError):
        await coll.insert_one({"server_id": "S", "number": 1})
    assert await coll.count_documents({}) == 3


@known_difference("find_one_and_update answers None instead of raising DuplicateKeyError")
async def test_find_one_and_update_raises_on_a_duplicate_key(coll: Any) -> None:
    await coll.create_index([("u", ASCENDING)], unique=True)
    await coll.insert_one({"u": 1})
    with pytest.raises(DuplicateKeyError):
        await coll.find_one_and_update({"u": 2, "x": 1}, {"$set": {"u": 1}}, upsert=True)


async def test_beanie_unique_index_refuses_a_second_account(storage: Storage) -> None:
    at = datetime(2026, 5, 1, tzinfo=UTC)
    await ConformanceAccount(server_id="S", user_id="twice", joined_at=at).insert()
    with pytest.raises(DuplicateKeyError):
        await ConformanceAccount(server_id="S", user_id="twice", joined_at=at).insert()


# --- reads ------------------------------------------------------------------------------------------
async def test_sorts_with_limits_in_and_counts(coll: Any) -> None:
    await coll.insert_many([{"a": i % 3, "b": i, "t": 1000.0 + i} for i in range(10)])
    top = (
        await coll.find({"a": {"$in": [0, 1]}}, {"_id": 0, "b": 1})
        .sort([("t", DESCENDING)])
        .limit(3)
        .to_list()
    )
    assert top == [{"b": 9}, {"b": 7}, {"b": 6}]
    two_keys = (
        await coll.find({}, {"_id": 0, "a": 1, "b": 1})
        .sort([("a", ASCENDING), ("b", DESCENDING)])
        .limit(4)
        .to_list()
    )
    assert two_keys == [{"a": 0, "b": 9}, {"a": 0, "b": 6}, {"a": 0, "b": 3}, {"a": 0, "b": 0}]
    assert await coll.count_documents({"a": 0}) == 4
    assert await coll.count_documents({"t": {"$lt": 1005.0}}) == 5
    assert await coll.count_documents({"a": {"$ne": 0}}) == 6
    assert await coll.count_documents({"missing": None}) == 10  # null matches an absent field
    assert await coll.count_documents({"b": {"$gte": 3, "$lt": 6}}) == 3


async def test_beanie_queries_sort_limit_and_count(storage: Storage) -> None:
    at = datetime(2026, 5, 1, tzinfo=UTC)
    await ConformanceAccount.insert_many(
        [
            ConformanceAccount(server_id="rich", user_id=f"u{i}", balance=i * 10, joined_at=at)
            for i in range(6)
        ]
    )
    richest = (
        await ConformanceAccount.find(ConformanceAccount.server_id == "rich")
        .sort(-ConformanceAccount.balance)
        .limit(2)
        .to_list()
    )
    assert [a.user_id for a in richest] == ["u5", "u4"]
    assert (
        await ConformanceAccount.find(
            ConformanceAccount.server_id == "rich", ConformanceAccount.balance >= 30
        ).count()
        == 3
    )
    found = await ConformanceAccount.find({"user_id": {"$in": ["u1", "u3", "nobody"]}}).to_list()
    assert sorted(a.user_id for a in found) == ["u1", "u3"]


async def test_aggregation_match_group_sort(coll: Any) -> None:
    await coll.insert_many([{"a": i % 3, "b": i} for i in range(10)])
    cursor = await coll.aggregate(
        [
            {"$match": {"a": {"$in": [0, 1]}}},
            {"$group": {"_id": "$a", "n": {"$sum": 1}, "total": {"$sum": "$b"}}},
            {"$sort": {"_id": 1}},
        ]
    )
    assert await cursor.to_list() == [{"_id": 0, "n": 4, "total": 18}, {"_id": 1, "n": 3, "total": 12}]


# --- other updates and deletes --------------------------------------------------------------------------
async def test_array_and_bound_updates(coll: Any) -> None:
    await coll.insert_one({"k": 1})
    await coll.update_one({"k": 1}, {"$push": {"recent": {"$each": [1, 2, 3], "$slice": -2}}})
    await coll.update_one({"k": 1}, {"$pull": {"recent": 2}})
    await coll.update_one({"k": 1}, {"$max": {"best": 5}, "$min": {"low": 3}, "$inc": {"f": 0.5}})
    await coll.update_one({"k": 1}, {"$max": {"best": 4}, "$unset": {"low": ""}})
    assert stripped(await coll.find_one({"k": 1})) == {"k": 1, "recent": [3], "best": 5, "f": 0.5}


@known_difference("$addToSet on a missing field does nothing instead of creating the array")
async def test_add_to_set_creates_the_array(coll: Any) -> None:
    await coll.insert_one({"k": 1})
    await coll.update_one({"k": 1}, {"$addToSet": {"tags": "a"}})
    await coll.update_one({"k": 1}, {"$addToSet": {"tags": "a"}})
    assert stripped(await coll.find_one({"k": 1})) == {"k": 1, "tags": ["a"]}


async def test_deletes_report_their_counts(coll: Any) -> None:
    await coll.insert_many([{"a": i % 2} for i in range(6)])
    assert (await coll.delete_one({"a": 0})).deleted_count == 1
    assert (await coll.delete_many({"a": 1})).deleted_count == 3
    assert (await coll.delete_one({"a": 5})).deleted_count == 0
    assert await coll.count_documents({}) == 2


# --- the portable helpers -------------------------------------------------------------------------------
async def test_upsert_increment_nests_dotted_increments_on_both_servers(coll: Any) -> None:
    await coll.create_index([("feature", ASCENDING), ("minute", ASCENDING)], unique=True)
    query = {"feature": "economy", "minute": 5}
    await upsert_increment(coll, query, {"histogram.5": 1, "calls": 1}, on_insert={"histogram": {}})
    after = await upsert_increment(
        coll,
        query,
        {"histogram.5": 2, "histogram.9": 1, "calls": 1},
        set_fields={"last": 7.5},
        return_document=True,
    )
    expected = {"feature": "economy", "minute": 5, "histogram": {"5": 3, "9": 1}, "calls": 2, "last": 7.5}
    assert stripped(after) == expected
    assert stripped(await coll.find_one(query)) == expected
    assert await coll.count_documents({}) == 1


async def test_count_matching_counts_what_count_documents_counts(coll: Any) -> None:
    await coll.insert_many(
        [{"server_id": "S", "xp": xp} for xp in (0, 5, 10, 15)] + [{"server_id": "T", "xp": 9}]
    )
    for query in ({"server_id": "S", "xp": {"$gt": 0}}, {"server_id": "S"}, {}, {"server_id": "none"}):
        assert await count_matching(coll, query) == await coll.count_documents(query)
    assert await count_matching(coll, {"server_id": "S", "xp": {"$gt": 5}}) == 2


async def test_upsert_increment_applies_on_insert_fields_once(coll: Any) -> None:
    query = {"server_id": "S", "user_id": "U"}
    first = await upsert_increment(
        coll, query, {"wallet.coins": 5}, on_insert={"wallet.bank": 100, "since": 1.0}, return_document=True
    )
    second = await upsert_increment(
        coll, query, {"wallet.coins": -2}, on_insert={"since": 2.0}, return_document=True
    )
    assert stripped(first) == {
        "server_id": "S",
        "user_id": "U",
        "wallet": {"bank": 100, "coins": 5},
        "since": 1.0,
    }
    assert stripped(second) == {
        "server_id": "S",
        "user_id": "U",
        "wallet": {"bank": 100, "coins": 3},
        "since": 1.0,
    }


async def test_expand_dotted_builds_nested_documents() -> None:
    assert expand_dotted({"a.b": 1, "a.c.d": 2, "e": 3}) == {"a": {"b": 1, "c": {"d": 2}}, "e": 3}
    with pytest.raises(ValueError, match="also set to a value"):
        expand_dotted({"a": 1, "a.b": 2})

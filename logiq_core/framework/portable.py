"""Storage operations that give the same result on the embedded server and on MongoDB.

The embedded nx-27017 server (0.8.1) differs from MongoDB on a few update shapes; the storage
conformance tests (``tests/integration/test_storage_conformance.py``) pin each one down, and the
README lists them under "What the embedded server cannot do". The shape plugins hit most is a
counter document created on first use with dotted increments::

    # MongoDB: {"histogram": {"5": 1}}; nx-27017: {"histogram.5": 1} (a literal dotted key)
    await collection.update_one(query, {"$inc": {"histogram.5": 1}}, upsert=True)

:func:`upsert_increment` does the same thing portably: it updates the document if it exists (one
write, the common case) and otherwise creates it with its on-insert fields first, then applies
the increments to the document that now exists. Give the collection a unique index on the query
fields so that two first writes racing each other cannot create two documents.

:func:`count_matching` counts documents the way that is fast on both: nx-27017 runs pymongo's
``count_documents`` (a ``$group`` on ``_id: 1``) about 60 times slower than a ``$group`` on
``_id: None`` (a minute for 100,000 documents).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo import ReturnDocument

# Collections as Beanie hands them out (``Document.get_pymongo_collection()``): async pymongo.
AnyCollection = Any


async def count_matching(collection: AnyCollection, query: Mapping[str, Any]) -> int:
    """How many documents match ``query`` (``count_documents``, fast on the embedded server too)."""
    rows = await collection.aggregate([{"$match": dict(query)}, {"$group": {"_id": None, "n": {"$sum": 1}}}])
    async for row in rows:
        return int(row["n"])
    return 0


def expand_dotted(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1, "a.c": 2}`` → ``{"a": {"b": 1, "c": 2}}`` (for inserts and $setOnInsert)."""
    nested: dict[str, Any] = {}
    for path, value in fields.items():
        *parents, leaf = path.split(".")
        target = nested
        for part in parents:
            child = target.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"{path!r} goes through {part!r}, which is also set to a value")
            target = child
        if isinstance(target.get(leaf), dict) and isinstance(value, Mapping):
            target[leaf].update(value)
        else:
            target[leaf] = value
    return nested


def _equality_fields(query: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: value
        for key, value in query.items()
        if not key.startswith("$")
        and not (isinstance(value, Mapping) and any(k.startswith("$") for k in value))
    }


async def upsert_increment(
    collection: Any,
    query: Mapping[str, Any],
    increments: Mapping[str, float],
    *,
    set_fields: Mapping[str, Any] | None = None,
    on_insert: Mapping[str, Any] | None = None,
    return_document: bool = False,
) -> dict[str, Any] | None:
    """``$inc`` (dotted paths allowed) on the document matching ``query``, creating it first if
    there is none, with MongoDB's result on both servers.

    ``set_fields`` are ``$set`` on every call (avoid dates there: on the embedded server a date
    ``$set`` on an existing document is stored as text; store Unix seconds instead);
    ``on_insert`` only when the document is created (dotted paths become nested documents).
    ``collection`` is a pymongo collection (``MyDocument.get_pymongo_collection()``). With
    ``return_document`` the document after the update is returned (else None).
    """
    seed = _equality_fields(query)
    if not seed:
        raise ValueError("upsert_increment needs a query with at least one field equal to a value")
    update: dict[str, Any] = {"$inc": dict(increments)}
    if set_fields:
        update["$set"] = dict(set_fields)
    for attempt in range(2):
        if return_document:
            found = await collection.find_one_and_update(
                dict(query), update, return_document=ReturnDocument.AFTER
            )
            if found is not None:
                return dict(found)
        else:
            result = await collection.update_one(dict(query), update)
            if result.matched_count:
                return None
        if attempt == 0:
            # Create it without the increments (dotted $inc/$setOnInsert on an upsert is the
            # shape the embedded server gets wrong), then increment the document that exists.
            created = {**expand_dotted(seed), **expand_dotted(on_insert or {})}
            await collection.update_one(dict(query), {"$setOnInsert": created}, upsert=True)
    raise RuntimeError(f"upsert_increment: no document matches {dict(query)!r} after creating it")


__all__ = ["expand_dotted", "upsert_increment"]

"""Collections behind the alias: creating one, finding the live one, switching to another.

Readers only ever name the alias (CITEBOT_QDRANT_COLLECTION). A full rebuild fills a new
collection `<alias>-<time>` and moves the alias in one request, so readers see the old
index or the new one, never half of one; collections of that name the alias does not
point at are a killed rebuild's leftovers, dropped by the next indexer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from retrieval.errors import IndexMismatchError, IndexMissingError
from retrieval.qdrant.connection import QdrantSettings
from retrieval.qdrant.layout import (
    DENSE,
    FORMAT,
    LEXICAL,
    META_ID,
    PAYLOAD_INDEXES,
    SENTENCES,
    TERMS,
)

if TYPE_CHECKING:
    from qdrant_client import QdrantClient


def new_collection(client: QdrantClient, settings: QdrantSettings, dim: int) -> str:
    """Create an empty collection with citebot's vectors and payload indexes; its name."""
    from qdrant_client import models

    name = f"{settings.collection}-{time.time_ns()}"
    idf = models.SparseVectorParams(modifier=models.Modifier.IDF)
    sentences = models.VectorParams(  # read back for the best sentence, never searched
        size=dim,
        distance=models.Distance.DOT,
        multivector_config=models.MultiVectorConfig(
            comparator=models.MultiVectorComparator.MAX_SIM
        ),
        hnsw_config=models.HnswConfigDiff(m=0),
        on_disk=True,
        datatype=models.Datatype.FLOAT16,
    )
    client.create_collection(
        name,
        vectors_config={
            DENSE: models.VectorParams(size=dim, distance=models.Distance.DOT),
            SENTENCES: sentences,
        },
        sparse_vectors_config={LEXICAL: idf, TERMS: idf},
        shard_number=settings.shards,
        replication_factor=settings.replicas,
    )
    if settings.kind != "local":  # local mode scans payloads and has no such indexes
        for field, schema in PAYLOAD_INDEXES.items():
            client.create_payload_index(name, field, field_schema=schema)
    return name


def live_collection(client: QdrantClient, alias: str) -> str | None:
    """The collection the alias points at; None before the first index."""
    for found in client.get_aliases().aliases:
        if found.alias_name == alias:
            return found.collection_name
    return None


def switch_alias(client: QdrantClient, alias: str, collection: str) -> None:
    """Point the alias at `collection`, in one request (Qdrant applies the list atomically)."""
    from qdrant_client import models

    operations: list[Any] = []
    if live_collection(client, alias) is not None:
        operations.append(
            models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias))
        )
    operations.append(
        models.CreateAliasOperation(
            create_alias=models.CreateAlias(collection_name=collection, alias_name=alias)
        )
    )
    client.update_collection_aliases(change_aliases_operations=operations)


def leftovers(client: QdrantClient, alias: str) -> list[str]:
    """Collections named for this alias that it does not point at."""
    live = live_collection(client, alias)
    prefix = f"{alias}-"
    return [
        c.name
        for c in client.get_collections().collections
        if c.name.startswith(prefix) and c.name[len(prefix) :].isdigit() and c.name != live
    ]


def field_is(key: str, value: str) -> Any:
    """The payload condition `key == value`."""
    from qdrant_client import models

    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def scroll_all(client: QdrantClient, collection: str, where: Any, **options: Any) -> Iterator[Any]:
    """Every point `where` selects, page by page (`options`: what each point carries)."""
    offset = None
    while True:
        points, offset = client.scroll(collection, where, limit=1024, offset=offset, **options)
        yield from points
        if offset is None:
            return


def read_meta(client: QdrantClient, collection: str) -> dict[str, Any] | None:
    """The collection's meta payload; None when it has none yet."""
    found = client.retrieve(collection, [META_ID], with_payload=True)
    return dict(found[0].payload or {}) if found else None


def check_meta(
    meta: dict[str, Any] | None, where: str, *, model: str | None, passage_settings: str | None
) -> dict[str, Any]:
    """`meta`, if the collection was built for this model and these passage settings (None
    accepts any)."""
    if meta is None or not meta.get("generation"):
        raise IndexMissingError(f"nothing is indexed in {where} yet", "run `citebot index`")
    if meta.get("format") != FORMAT:
        raise IndexMismatchError(f"{where} has another layout ({meta.get('format')})")
    if model is not None and meta["model"] != model:
        raise IndexMismatchError(f"{where} was built with model {meta['model']}, not {model}")
    if passage_settings is not None and meta["passage_settings"] != passage_settings:
        raise IndexMismatchError(
            f"{where} was cut with other passage settings ({meta['passage_settings']})"
        )
    return meta

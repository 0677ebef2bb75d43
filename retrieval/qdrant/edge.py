"""Qdrant's own storage engine in-process (qdrant-edge-py), behind the client calls citebot makes.

CITEBOT_QDRANT_URL=edge:/path/to/folder keeps the index in Edge shards: the same Rust code
that stores and searches a server's segments (HNSW, sparse inverted indexes with the IDF
modifier, payload indexes, conditional upserts), without a server. An Edge shard is one
collection's storage and nothing more, so this module adds what citebot needs around it:
a folder per collection and an alias file replaced atomically. Only the calls and request
shapes citebot uses are translated (retrieval/qdrant/*.py); anything else raises.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import qdrant_edge as qe
from qdrant_client import models

ALIASES = "aliases.json"
COLLECTIONS = "collections"
_MODES = {
    models.UpdateMode.INSERT_ONLY: qe.UpdateMode.InsertOnly,
    models.UpdateMode.UPDATE_ONLY: qe.UpdateMode.UpdateOnly,
    models.UpdateMode.UPSERT: qe.UpdateMode.Upsert,
}
_SCHEMAS = {"keyword": qe.PayloadSchemaType.Keyword, "integer": qe.PayloadSchemaType.Integer}


class EdgeClient:
    """The QdrantClient methods citebot calls, on Edge shards under one folder."""

    def __init__(self, folder: str) -> None:
        self.root = Path(folder)
        self._shards: dict[str, qe.EdgeShard] = {}
        self._lock = threading.RLock()

    # --- collections and aliases ----------------------------------------------------------

    def get_collections(self) -> SimpleNamespace:
        folder = self.root / COLLECTIONS
        names = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
        return SimpleNamespace(collections=[SimpleNamespace(name=n) for n in names])

    def get_aliases(self) -> SimpleNamespace:
        return SimpleNamespace(
            aliases=[
                SimpleNamespace(alias_name=alias, collection_name=name)
                for alias, name in self._aliases().items()
            ]
        )

    def create_collection(
        self,
        name: str,
        *,
        vectors_config: dict[str, models.VectorParams],
        sparse_vectors_config: dict[str, models.SparseVectorParams],
        **_: Any,  # shards and replicas: one Edge shard holds it all
    ) -> None:
        dense = {vector: _vector_params(params) for vector, params in vectors_config.items()}
        sparse = {
            vector: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)
            for vector in sparse_vectors_config
        }
        config = qe.EdgeConfig(vectors=dense, sparse_vectors=sparse)
        (self.root / COLLECTIONS).mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._shards[name] = qe.EdgeShard.create(str(self._folder(name)), config)

    def create_payload_index(self, collection: str, field: str, *, field_schema: str) -> None:
        operation = qe.UpdateOperation.create_field_index(field, _SCHEMAS[field_schema])
        self._shard(collection).update(operation)

    def delete_collection(self, name: str) -> None:
        with self._lock:
            shard = self._shards.pop(name, None)
            if shard is not None:
                shard.close()
            aliases = {a: c for a, c in self._aliases().items() if c != name}
            self._write_aliases(aliases)
            shutil.rmtree(self._folder(name), ignore_errors=True)

    def update_collection_aliases(self, *, change_aliases_operations: Sequence[Any]) -> None:
        with self._lock:
            aliases = self._aliases()
            for operation in change_aliases_operations:
                if isinstance(operation, models.DeleteAliasOperation):
                    aliases.pop(operation.delete_alias.alias_name, None)
                elif isinstance(operation, models.CreateAliasOperation):
                    created = operation.create_alias
                    aliases[created.alias_name] = created.collection_name
                else:
                    raise NotImplementedError(type(operation).__name__)
            self._write_aliases(aliases)

    # --- points ---------------------------------------------------------------------------

    def upsert(
        self,
        collection: str,
        points: Sequence[models.PointStruct],
        *,
        update_mode: models.UpdateMode | None = None,
        update_filter: models.Filter | None = None,
    ) -> None:
        converted = [qe.Point(_point_id(p.id), _vectors(p.vector), p.payload) for p in points]
        operation = qe.UpdateOperation.upsert_points(
            converted,
            condition=_filter(update_filter),
            update_mode=_MODES[update_mode] if update_mode else None,
        )
        self._shard(collection).update(operation)

    def delete(self, collection: str, points_selector: Any) -> None:
        if isinstance(points_selector, models.FilterSelector):
            operation = qe.UpdateOperation.delete_points_by_filter(_filter(points_selector.filter))
        else:
            ids = [_point_id(i) for i in points_selector.points]
            operation = qe.UpdateOperation.delete_points(ids)
        self._shard(collection).update(operation)

    def retrieve(
        self,
        collection: str,
        ids: Sequence[Any],
        *,
        with_payload: bool = True,
        with_vectors: bool | list[str] = False,
    ) -> list[Any]:
        shard = self._shard(collection)
        found = shard.retrieve([_point_id(i) for i in ids], with_payload, with_vectors)
        return [_record(r) for r in found]

    def scroll(
        self,
        collection: str,
        scroll_filter: models.Filter | None = None,
        *,
        limit: int,
        offset: Any = None,
        with_payload: bool | list[str] = True,
        with_vectors: bool | list[str] = False,
    ) -> tuple[list[Any], Any]:
        request = qe.ScrollRequest(
            offset=_point_id(offset) if offset is not None else None,
            limit=limit,
            filter=_filter(scroll_filter),
            with_payload=with_payload,
            with_vector=with_vectors,
        )
        records, following = self._shard(collection).scroll(request)
        return [_record(r) for r in records], following

    def query_batch_points(
        self, collection: str, requests: Sequence[models.QueryRequest]
    ) -> list[SimpleNamespace]:
        batch = qe.QueryBatchRequest([_query(r) for r in requests])
        answers = self._shard(collection).query_batch(batch)
        return [SimpleNamespace(points=[_record(p) for p in points]) for points in answers]

    def optimize_all(self, collection: str) -> None:
        """Build the shard's indexes (HNSW, payload) over what was written and flush it: an
        Edge shard has no background optimizer, as a server has."""
        shard = self._shard(collection)
        shard.optimize()
        shard.flush()

    def close(self) -> None:
        with self._lock:
            for shard in self._shards.values():
                shard.close()
            self._shards.clear()

    # --- folders --------------------------------------------------------------------------

    def _folder(self, name: str) -> Path:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"not a collection name: {name!r}")
        return self.root / COLLECTIONS / name

    def _shard(self, name: str) -> qe.EdgeShard:
        with self._lock:
            name = self._aliases().get(name, name)
            if name not in self._shards:
                folder = self._folder(name)
                if not folder.is_dir():
                    raise ValueError(f"Collection {name} not found")
                self._shards[name] = qe.EdgeShard.load(str(folder))
            return self._shards[name]

    def _aliases(self) -> dict[str, str]:
        try:
            return dict(json.loads((self.root / ALIASES).read_text("utf-8")))
        except FileNotFoundError:
            return {}

    def _write_aliases(self, aliases: dict[str, str]) -> None:
        """Replace the alias file whole: a reader sees the old aliases or the new ones."""
        staging = self.root / f".{ALIASES}.{uuid.uuid4().hex}"
        staging.write_text(json.dumps(aliases), "utf-8")
        os.replace(staging, self.root / ALIASES)


def _vector_params(params: models.VectorParams) -> qe.EdgeVectorParams:
    """Dense vectors as citebot configures them: plain, or a multivector kept on disk in
    float16 without a graph (m=0)."""
    if params.multivector_config is None:
        return qe.EdgeVectorParams(size=params.size, distance=qe.Distance.Dot)
    return qe.EdgeVectorParams(
        size=params.size,
        distance=qe.Distance.Dot,
        on_disk=True,
        multivector_config=qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim),
        datatype=qe.VectorStorageDatatype.Float16,
        hnsw_config=qe.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10_000),
    )


def _point_id(point_id: Any) -> Any:
    return uuid.UUID(point_id) if isinstance(point_id, str) else point_id


def _vectors(vector: Any) -> dict[str, Any]:
    return {
        name: qe.SparseVector(v.indices, v.values) if isinstance(v, models.SparseVector) else v
        for name, v in (vector or {}).items()
    }


def _record(found: Any) -> SimpleNamespace:
    """An Edge record or scored point as the client's (str ids for UUIDs, a dict vector)."""
    point_id = found.id
    vector = found.vector
    return SimpleNamespace(
        id=str(point_id) if isinstance(point_id, uuid.UUID) else point_id,
        score=getattr(found, "score", None),
        payload=found.payload,
        vector=vector if isinstance(vector, dict) else None,
    )


def _query(request: models.QueryRequest) -> qe.QueryRequest:
    query = request.query
    if isinstance(query, models.SparseVector):
        query = qe.SparseVector(query.indices, query.values)
    return qe.QueryRequest(
        limit=request.limit,
        query=qe.Query.Nearest(query, using=request.using),
        filter=_filter(request.filter),
        with_payload=bool(request.with_payload),
        with_vector=False,
    )


def _filter(where: models.Filter | None) -> qe.Filter | None:
    if where is None:
        return None
    return qe.Filter(
        must=[_condition(c) for c in where.must or []] or None,
        must_not=[_condition(c) for c in where.must_not or []] or None,
    )


def _condition(condition: Any) -> Any:
    if isinstance(condition, models.HasIdCondition):
        return qe.HasIdCondition({_point_id(i) for i in condition.has_id})
    if not isinstance(condition, models.FieldCondition):
        raise NotImplementedError(type(condition).__name__)
    if condition.range is not None:
        bounds = condition.range
        return qe.FieldCondition(
            condition.key,
            range=qe.RangeFloat(gte=bounds.gte, gt=bounds.gt, lte=bounds.lte, lt=bounds.lt),
        )
    match = condition.match
    if isinstance(match, models.MatchValue):
        return qe.FieldCondition(condition.key, match=qe.MatchValue(match.value))
    if isinstance(match, models.MatchAny):
        return qe.FieldCondition(condition.key, match=qe.MatchAny(list(match.any)))
    if isinstance(match, models.MatchSubstring):
        return qe.FieldCondition(condition.key, match=qe.MatchSubstring(match.substring))
    raise NotImplementedError(type(match).__name__)

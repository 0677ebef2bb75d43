"""What citebot's Qdrant points cost in memory and disk, per storage configuration of the dense
vector, measured with qdrant-edge-py (Qdrant's storage engine in-process, no server).

    .venv/bin/python benchmarks/qdrant_sizing.py [--passages 200000] [--queries 200]
    .venv/bin/python benchmarks/qdrant_sizing.py --passages 50000 --configs f32-ram sq8-ram

Each point is shaped like citebot's: a 384-d unit "dense" vector (DOT), two sparse vectors
("lexical" BM25 weights, "terms" all 1.0, both with the IDF modifier, 40-70 terms each), a
~900-byte payload, and payload indexes on doc_id, day, source and kind. The data is synthetic:
dense vectors are clustered (2,000 random centres plus noise, normalised) because uniform random
unit vectors are an unrealistically hard case for HNSW; term indices are drawn from a Zipf-like
vocabulary of 200k terms; the text is random words.

Configurations of the dense vector (payload is on disk and the sparse indexes are in RAM in all):
- f32-ram: float32 originals in RAM (memory "cached": mmap loaded into the page cache).
- f32-disk: float32 originals on disk (on_disk=True).
- sq8-ram: int8 scalar quantization kept in RAM (always_ram), originals on disk.
- bq1-ram: 1-bit binary quantization kept in RAM, originals on disk.

Each configuration is built in a fresh process (upsert in batches of 500, then
EdgeShard.optimize(), which runs the optimizers until none is planned and so builds the HNSW
graph, then flush), then loaded and queried in another fresh process, so memory figures are not
mixed. Memory is reported as two parts of that process's RSS growth: anonymous memory (heap:
structures loaded into RAM, quantized vectors kept in RAM) and resident pages of the mmapped
segment files (from /proc/self/smaps, per part of the segment; the WAL is reported apart). An
empty shard of the same configuration is measured the same way and subtracted before
extrapolating to a million passages. HNSW is checked from each segment's segment.json and from
indexed_vectors_count. Queries are dense-only, limit 50, default search params, after 20 warm-up
queries; recall@10 is against exact float32 search computed with numpy on the same vectors. The
page cache is warm (the build just wrote the files), so on-disk latencies are best cases.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

DIM = 384
CENTRES = 2_000
NOISE = 0.04  # per dimension: noise norm ~0.78, so a point's cosine to its centre is ~0.8
VOCABULARY = 200_000
BATCH = 500  # points per upsert
SEED = 7
CONFIGS = ("f32-ram", "f32-disk", "sq8-ram", "bq1-ram")
PAYLOAD_INDEXES = {"doc_id": "keyword", "day": "integer", "source": "keyword", "kind": "keyword"}
WORDS = [
    "".join(chr(97 + c) for c in np.random.default_rng(n).integers(0, 26, 2 + n % 9))
    for n in range(5_000)
]


# ---------------------------------------------------------------- synthetic data


def centres() -> np.ndarray:
    rng = np.random.default_rng(SEED)
    out = rng.normal(size=(CENTRES, DIM)).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def clustered(rng: np.random.Generator, middles: np.ndarray, n: int) -> np.ndarray:
    picked = middles[rng.integers(0, len(middles), n)]
    out = picked + rng.normal(scale=NOISE, size=(n, DIM)).astype(np.float32)
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def batches(passages: int) -> Iterator[tuple[int, int]]:
    for start in range(0, passages, BATCH):
        yield start, min(passages, start + BATCH)


def dense_batch(middles: np.ndarray, start: int, stop: int) -> np.ndarray:
    return clustered(np.random.default_rng([SEED, 1, start]), middles, stop - start)


def all_dense(passages: int) -> np.ndarray:
    middles = centres()
    return np.concatenate([dense_batch(middles, a, b) for a, b in batches(passages)])


def queries(count: int) -> np.ndarray:
    return clustered(np.random.default_rng([SEED, 2]), centres(), count)


def zipf_cdf() -> np.ndarray:
    weights = 1.0 / np.arange(1, VOCABULARY + 1)
    return np.cumsum(weights) / weights.sum()


def term_indices(rng: np.random.Generator, cdf: np.ndarray) -> np.ndarray:
    wanted = int(rng.integers(40, 71))
    drawn = np.unique(np.searchsorted(cdf, rng.random(wanted * 4)))
    return np.sort(rng.permutation(drawn)[:wanted]).astype(np.int64)


def doc_path(doc: int) -> str:
    return f"corpus/batch-{doc // 1000:03d}/report-{doc:06d}-{WORDS[doc % 5000]}.md"


def point_key(n: int) -> str:
    """16 hex chars naming passage n; its integer value is the point id."""
    doc, paragraph = divmod(n, 10)
    return hashlib.blake2b(f"{doc_path(doc)}:{paragraph}".encode(), digest_size=8).hexdigest()


def payload(rng: np.random.Generator, n: int) -> dict[str, Any]:
    doc, paragraph = divmod(n, 10)
    drawn = rng.integers(0, len(WORDS), 150)
    ends = np.cumsum([len(WORDS[w]) + 1 for w in drawn])
    taken = int(np.searchsorted(ends, 600)) + 1
    path = doc_path(doc)
    url = f"https://example.org/reports/{doc:06d}/{WORDS[(doc * 7) % 5000]}" if doc % 2 else None
    day = 20_100_101 + (doc % 15) * 10_000 + (doc % 12) * 100 + doc % 28 if doc % 3 else None
    date = f"{day // 10000}-{day // 100 % 100:02d}-{day % 100:02d}" if day else None
    start = paragraph * 620
    return {
        "doc_id": hashlib.blake2b(path.encode(), digest_size=8).hexdigest(),
        "text": " ".join(WORDS[w] for w in drawn[:taken]),
        "start": start,
        "end": start + int(ends[taken - 1]),
        "paragraph": paragraph,
        "title": " ".join(WORDS[(doc * k) % 5000] for k in (3, 5, 11, 13)).title(),
        "path": path,
        "url": url,
        "date": date,
        "day": day,
        "source": (path + " " + (url or "")).lower(),
        "key": point_key(n),
    }


def write_dataset(passages: int, data: Path) -> float:
    """Payloads (JSON lines) and sparse vectors (flat arrays) for every passage, generated once
    so each configuration's build process only reads them. Returns the mean payload bytes."""
    rng, cdf = np.random.default_rng([SEED, 3]), zipf_cdf()
    indices, counts, sizes = [], [], []
    with (data / "payloads.jsonl").open("w", encoding="utf-8") as out:
        for n in range(passages):
            line = json.dumps(payload(rng, n))
            sizes.append(len(line))
            out.write(line + "\n")
            terms = term_indices(rng, cdf)
            indices.append(terms)
            counts.append(len(terms))
    flat = np.concatenate(indices).astype(np.uint32)
    np.save(data / "term_indices.npy", flat)
    np.save(data / "term_weights.npy", rng.uniform(0.3, 2.5, len(flat)).astype(np.float32))
    np.save(data / "term_offsets.npy", np.concatenate([[0], np.cumsum(counts)]))
    return float(np.mean(sizes))


# ---------------------------------------------------------------- memory and disk


def proc_status() -> dict[str, float]:
    """VmRSS, RssAnon, RssFile and VmHWM of this process, in MB."""
    wanted = {"VmRSS", "RssAnon", "RssFile", "VmHWM"}
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in wanted:
            out[name] = int(value.split()[0]) / 1024
    return out


def allocated_bytes(folder: Path) -> int:
    """Disk blocks actually used under folder (like du), not apparent file sizes."""
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file())


def disk_part(relative: Path) -> str:
    """Which part of a point a segment file stores, from its path inside the segment."""
    top = relative.parts[0]
    if top == "vector_storage-dense":
        return "quantized" if relative.name.startswith("quantized") else "dense"
    if top == "vector_index-dense":
        return "hnsw"
    if top.endswith(("-lexical", "-terms")):
        return "sparse"
    return {"payload_storage": "payload", "payload_index": "payload index"}.get(top, "other")


def mapped_parts(folder: Path) -> dict[str, float]:
    """Resident MB of this process's mappings of the shard's files, by part (from smaps)."""
    parts: dict[str, float] = {}
    part = None
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and not fields[0].endswith(":"):  # a mapping's header line
            path = Path(fields[5]) if len(fields) > 5 else None
            part = None
            if path is not None and path.is_relative_to(folder):
                inside = path.relative_to(folder)
                part = "wal" if inside.parts[0] == "wal" else disk_part(Path(*inside.parts[2:]))
        elif part is not None and fields[0] == "Rss:":
            parts[part] = parts.get(part, 0.0) + int(fields[1]) / 1024
    return parts


def disk_parts(folder: Path) -> dict[str, int]:
    parts: dict[str, int] = {}
    for segment in (folder / "segments").iterdir():
        for file in segment.rglob("*"):
            if file.is_file():
                part = disk_part(file.relative_to(segment))
                parts[part] = parts.get(part, 0) + file.stat().st_blocks * 512
    return parts


# ---------------------------------------------------------------- shard configuration


def edge_config(name: str) -> Any:
    import qdrant_edge as qe

    quantization: Any = None
    if name == "sq8-ram":
        quantization = qe.ScalarQuantizationConfig(
            type=qe.ScalarType.Int8, quantile=0.99, always_ram=True
        )
    elif name == "bq1-ram":
        quantization = qe.BinaryQuantizationConfig(always_ram=True)
    dense = qe.EdgeVectorParams(
        size=DIM,
        distance=qe.Distance.Dot,
        on_disk=name != "f32-ram",
        quantization_config=quantization,
    )
    sparse = {
        name: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf) for name in ("lexical", "terms")
    }
    # Optimizer and HNSW defaults (indexing threshold, segment number, m, ef_construct), as a
    # server would use them.
    return qe.EdgeConfig(vectors={"dense": dense}, sparse_vectors=sparse, on_disk_payload=True)


def create_payload_indexes(shard: Any) -> None:
    import qdrant_edge as qe

    kinds = {"keyword": qe.PayloadSchemaType.Keyword, "integer": qe.PayloadSchemaType.Integer}
    for field, kind in PAYLOAD_INDEXES.items():
        shard.update(qe.UpdateOperation.create_field_index(field, kinds[kind]))


def read_points(data: Path, passages: int) -> Iterator[list[Any]]:
    """Batches of qdrant_edge Points built from the dataset files and the dense generator."""
    import qdrant_edge as qe

    middles = centres()
    flat = np.load(data / "term_indices.npy", mmap_mode="r")
    weights = np.load(data / "term_weights.npy", mmap_mode="r")
    offsets = np.load(data / "term_offsets.npy")
    with (data / "payloads.jsonl").open(encoding="utf-8") as lines:
        for start, stop in batches(passages):
            vectors = dense_batch(middles, start, stop)
            points = []
            for row, n in enumerate(range(start, stop)):
                body = json.loads(next(lines))
                span = slice(offsets[n], offsets[n + 1])
                terms = flat[span].tolist()
                named = {
                    "dense": vectors[row].tolist(),
                    "lexical": qe.SparseVector(terms, weights[span].tolist()),
                    "terms": qe.SparseVector(terms, [1.0] * len(terms)),
                }
                points.append(qe.Point(int(body["key"], 16), named, body))
            yield points


def segment_indexes(folder: Path) -> list[str]:
    """The dense vector's index type ("hnsw" or "plain") in each segment's segment.json."""
    found = []
    for meta in sorted(folder.glob("segments/*/segment.json")):
        config = json.loads(meta.read_text())["config"]["vector_data"]["dense"]
        found.append(config["index"]["type"])
    return found


# ---------------------------------------------------------------- child processes


def run_build(name: str, folder: Path, data: Path, passages: int) -> dict[str, Any]:
    import qdrant_edge as qe

    before = proc_status()
    started = time.perf_counter()
    shard = qe.EdgeShard.create(str(folder), edge_config(name))
    create_payload_indexes(shard)
    for points in read_points(data, passages):
        shard.update(qe.UpdateOperation.upsert_points(points))
    upserted = time.perf_counter()
    optimized = shard.optimize()
    shard.flush()
    finished = time.perf_counter()
    info = shard.info()
    result = {
        "upsert_s": upserted - started,
        "optimize_s": finished - upserted,
        "optimized": optimized,
        "points": info.points_count,
        "segments": info.segments_count,
        "indexed_vectors": info.indexed_vectors_count,
        "build_peak_mb": proc_status()["VmHWM"] - before["VmRSS"],
    }
    shard.close()
    return result


def timed_queries(
    shard: Any, asked: np.ndarray, params: Any
) -> tuple[list[list[int]], list[float]]:
    import qdrant_edge as qe

    found, seconds = [], []
    for vector in asked:
        request = qe.QueryRequest(
            limit=50,
            query=qe.Query.Nearest(vector.tolist(), using="dense"),
            with_payload=False,
            params=params,
        )
        began = time.perf_counter()
        hits = shard.query(request)
        seconds.append(time.perf_counter() - began)
        found.append([int(hit.id) for hit in hits])
    return found, seconds


def recall_at_10(found: list[list[int]], truth: np.ndarray) -> float:
    expected = truth.tolist()  # python ints: numpy uint64 and int ids must compare equal
    pairs = zip(found, expected, strict=True)
    return float(np.mean([len(set(f[:10]) & set(t[:10])) / 10 for f, t in pairs]))


def run_serve(name: str, folder: Path, data: Path) -> dict[str, Any]:
    import qdrant_edge as qe

    asked, truth = np.load(data / "queries.npy"), np.load(data / "truth.npy")
    before = proc_status()
    shard = qe.EdgeShard.load(str(folder))
    loaded, loaded_parts = proc_status(), mapped_parts(folder)
    timed_queries(shard, asked[:20], None)  # warm up
    found, seconds = timed_queries(shard, asked, None)
    after, after_parts = proc_status(), mapped_parts(folder)
    ms = np.array(seconds) * 1000
    result: dict[str, Any] = {
        "load_anon_mb": loaded["RssAnon"] - before["RssAnon"],
        "anon_mb": after["RssAnon"] - before["RssAnon"],
        "file_mb": after["RssFile"] - before["RssFile"],
        "loaded_parts": loaded_parts,
        "mapped_parts": after_parts,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "recall": recall_at_10(found, truth),
    }
    if name.startswith("f32"):
        exact = qe.SearchParams(exact=True)
        found, _ = timed_queries(shard, asked[:20], exact)
        result["exact_recall"] = recall_at_10(found, truth[:20])
    else:
        raw = qe.SearchParams(quantization=qe.QuantizationSearchParams(rescore=False))
        result["raw_recall"] = recall_at_10(timed_queries(shard, asked, raw)[0], truth)
        over = qe.QuantizationSearchParams(rescore=True, oversampling=3.0)
        found, _ = timed_queries(shard, asked, qe.SearchParams(quantization=over))
        result["oversampled_recall"] = recall_at_10(found, truth)
    shard.close()
    return result


def child(mode: str, name: str, folder: Path, data: Path, passages: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", mode, "--config", name]
    command += ["--folder", str(folder), "--data", str(data), "--passages", str(passages)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- parent


def ground_truth(passages: int, count: int, data: Path) -> None:
    """Exact top-10 ids by dot product, computed with numpy over the same vectors."""
    vectors, asked = all_dense(passages), queries(count)
    ids = np.array([int(point_key(n), 16) for n in range(passages)], dtype=np.uint64)
    scores = asked @ vectors.T
    top = np.argsort(-scores, axis=1)[:, :10]
    np.save(data / "queries.npy", asked)
    np.save(data / "truth.npy", ids[top])


def measure(name: str, scratch: Path, data: Path, passages: int) -> dict[str, Any]:
    """Build and serve the configuration, and an empty shard of it: the empty one's disk and
    memory are the fixed cost, left out of the per-million extrapolation."""
    row: dict[str, Any] = {"name": name}
    for prefix, size in (("empty_", 0), ("", passages)):
        folder = scratch / f"{name}-{size}"
        built = child("build", name, folder, data, size)
        disk = {
            "segments_b": allocated_bytes(folder / "segments"),
            "wal_b": allocated_bytes(folder / "wal"),
            "parts": disk_parts(folder),
            "indexes": segment_indexes(folder),
        }
        served = child("serve", name, folder, data, size)
        row.update({prefix + key: value for key, value in {**built, **disk, **served}.items()})
    return row


def hnsw_note(row: dict[str, Any]) -> str:
    """Dense vectors in HNSW = indexed vectors minus the two sparse ones (always indexed)."""
    dense_indexed = row["indexed_vectors"] - 2 * row["points"]
    built = sum(kind == "hnsw" for kind in row["indexes"])
    return f"{dense_indexed / row['points']:.0%} ({built}/{len(row['indexes'])} seg)"


def shard_mapped_mb(parts: dict[str, float]) -> float:
    """Resident pages of the shard's segment files; the WAL is left out (a fixed-size log)."""
    return sum(mb for part, mb in parts.items() if part != "wal")


def print_table(rows: list[dict[str, Any]], passages: int) -> None:
    per_m = 1_000_000 / passages
    print(
        f"{'config':<9} {'build s':>7} {'HNSW':>14} {'disk MB':>7} {'WAL MB':>6} "
        f"{'anon MB':>7} {'mmap MB':>7} {'p50 ms':>6} {'p99 ms':>6} {'R@10':>5} "
        f"{'raw':>5} {'os3':>5} | per 1M: {'anon MB':>7} {'mmap MB':>7} {'RAM MB':>6} "
        f"{'disk GB':>7}"
    )
    for r in rows:
        anon = r["anon_mb"] - r["empty_anon_mb"]
        mapped = shard_mapped_mb(r["mapped_parts"]) - shard_mapped_mb(r["empty_mapped_parts"])
        disk = r["segments_b"] - r["empty_segments_b"]
        raw = f"{r['raw_recall']:.3f}" if "raw_recall" in r else "-"
        over = f"{r['oversampled_recall']:.3f}" if "oversampled_recall" in r else "-"
        print(
            f"{r['name']:<9} {r['upsert_s'] + r['optimize_s']:7.1f} {hnsw_note(r):>14} "
            f"{r['segments_b'] / 2**20:7.0f} {r['wal_b'] / 2**20:6.0f} {r['anon_mb']:7.0f} "
            f"{shard_mapped_mb(r['mapped_parts']):7.0f} {r['p50_ms']:6.2f} {r['p99_ms']:6.2f} "
            f"{r['recall']:5.3f} {raw:>5} {over:>5} | per 1M: {anon * per_m:7.0f} "
            f"{mapped * per_m:7.0f} {(anon + mapped) * per_m:6.0f} {disk * per_m / 2**30:7.2f}"
        )


def print_notes(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        exact = r.get("exact_recall")
        extra = f"; exact search agrees with numpy: R@10 {exact:.3f}" if exact is not None else ""
        print(
            f"{r['name']}: upsert {r['upsert_s']:.1f} s + optimize {r['optimize_s']:.1f} s "
            f"(optimize() returned {r['optimized']}); {r['points']:,} points in {r['segments']} "
            f"segments, dense index per segment {r['indexes']}; build peak RSS "
            f"+{r['build_peak_mb']:.0f} MB; anon right after load {r['load_anon_mb']:.0f} MB{extra}"
        )
        print(
            f"    empty shard (fixed cost, subtracted in the per-1M columns): disk "
            f"{r['empty_segments_b'] / 2**20:.1f} MB, anon {r['empty_anon_mb']:.0f} MB, "
            f"mmap {shard_mapped_mb(r['empty_mapped_parts']):.0f} MB"
        )
        parts = sorted(r["parts"].items(), key=lambda kv: -kv[1])
        print("    disk bytes/point: " + ", ".join(f"{k} {v / r['points']:.0f}" for k, v in parts))
        for when, key in (("after load", "loaded_parts"), ("after queries", "mapped_parts")):
            resident = sorted(r[key].items(), key=lambda kv: -kv[1])
            listed = ", ".join(f"{k} {v:.0f}" for k, v in resident if v >= 0.5) or "none"
            print(f"    resident file pages {when}, MB: {listed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    parser.add_argument("--child", choices=["build", "serve"])
    parser.add_argument("--config", choices=CONFIGS)
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--data", type=Path)
    args = parser.parse_args()
    if args.child == "build":
        print(json.dumps(run_build(args.config, args.folder, args.data, args.passages)))
        return
    if args.child == "serve":
        print(json.dumps(run_serve(args.config, args.folder, args.data)))
        return
    from importlib.metadata import version

    import qdrant_edge  # noqa: F401  (fail early when it is missing)

    rows = []
    with tempfile.TemporaryDirectory(prefix="qdrant-sizing-") as scratch:
        data = Path(scratch)
        payload_bytes = write_dataset(args.passages, data)
        ground_truth(args.passages, args.queries, data)
        print(
            f"qdrant-edge-py {version('qdrant-edge-py')}, {os.cpu_count()} cores, "
            f"{args.passages:,} passages, {args.queries} queries (dense, limit 50), "
            f"payload {payload_bytes:.0f} B as JSON, "
            f"{np.diff(np.load(data / 'term_offsets.npy')).mean():.1f} terms per sparse vector",
            flush=True,
        )
        for name in args.configs:
            began = time.perf_counter()
            rows.append(measure(name, data, data, args.passages))
            print(f"  {name} measured in {time.perf_counter() - began:.0f} s", flush=True)
    print_table(rows, args.passages)
    print(
        "disk: segment files (allocated blocks) after optimize+flush, WAL apart. anon: RssAnon "
        "growth of a fresh process after load + queries. mmap: resident pages of the segment "
        "files mapped by that process (smaps), WAL excluded. per 1M: (measured - empty shard) "
        "scaled to a million passages, RAM = anon + mmap. R@10: default search params; raw: "
        "quantized scores without rescoring; os3: rescoring with oversampling 3."
    )
    print_notes(rows)


if __name__ == "__main__":
    main()

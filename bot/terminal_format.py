"""Pure functions that turn engine results into terminal text or JSON-ready dicts.

Whatever came from a document, a file name or the user goes through `printable` on its
way to the terminal; JSON needs no such care, `json.dumps` escapes control characters.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

from bot.printable import printable
from retrieval.records import Answer, Hit, Source

if TYPE_CHECKING:  # importing them costs `ask` a third of a second
    from retrieval.evaluation import EvalReport
    from retrieval.store.generations import Manifest
    from retrieval.store.indexer import IndexReport


def answer_to_dict(answer: Answer) -> dict[str, Any]:
    return {
        "query": answer.query,
        "answered": answer.answered,
        "threshold": answer.threshold if answer.calibrated else None,
        "filters": answer.filters or None,
        "hits": [_hit_to_dict(hit, answer) for hit in answer.hits],
    }


def _hit_to_dict(hit: Hit, answer: Answer) -> dict[str, Any]:
    return {
        "text": hit.passage.text,
        "score": round(hit.score, 4),
        "weak": _weak(hit, answer),
        "signals": _signals(hit),
        "best_sentence": hit.best_sentence,
        "source": {
            **_source_to_dict(hit.source),
            "start": hit.passage.start,
            "end": hit.passage.end,
            "paragraph": hit.passage.paragraph,
        },
        "also_in": [_source_to_dict(source) for source in hit.also_in],
    }


def _signals(hit: Hit) -> dict[str, float]:
    """The raw scores behind the hit: the signals, and the reranker's when one ran."""
    signals = {"dense": round(hit.dense, 4), "lexical": round(hit.lexical, 4)}
    if hit.rerank is not None:
        signals["rerank"] = round(hit.rerank, 4)
    return signals


def _source_to_dict(source: Source) -> dict[str, Any]:
    return {"path": source.path, "title": source.title, "date": source.date, "url": source.url}


def _weak(hit: Hit, answer: Answer) -> bool:
    return not answer.calibrated or hit.score < answer.threshold


def format_answer(answer: Answer, width: int = 88) -> str:
    lines = [f"Q: {printable(answer.query)}", ""]
    if answer.filters:
        lines[-1:] = [f"   ({printable(answer.filters)})", ""]
    if not answer.hits:
        lines.append(
            "No document matches these filters."
            if answer.filters
            else "Nothing is indexed yet: add documents to the corpus and run `citebot index`."
        )
        return "\n".join(lines)
    if not answer.calibrated:
        lines += [
            "This model has no calibrated threshold, so no passage is claimed as the answer: "
            'set CITEBOT_MIN_SCORE (README, "Honest no-match"). The nearest ones:',
            "",
        ]
    elif not answer.answered:
        lines += [
            f"No passage matches this well (best score {answer.hits[0].score:.2f}, "
            f"a good match scores {answer.threshold:.2f} or more). The nearest ones:",
            "",
        ]
    for rank, hit in enumerate(answer.hits, 1):
        weak = " · weak" if answer.calibrated and hit.score < answer.threshold else ""
        lines.append(f"[{rank}] score {hit.score:.2f}{weak}")
        lines += textwrap.wrap(
            printable(hit.passage.text, lines=True),
            width,
            initial_indent="    ",
            subsequent_indent="    ",
        )
        if hit.best_sentence and hit.best_sentence != hit.passage.text:
            lines += textwrap.wrap(
                f"Best sentence: {printable(hit.best_sentence, lines=True)}",
                width,
                initial_indent="    ",
                subsequent_indent="      ",
            )
        lines.append(f"    Source: {_describe_source(hit)}")
        if hit.also_in:
            also = ", ".join(source.path for source in hit.also_in)
            lines.append(f"    Also in: {printable(also)}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _describe_source(hit: Hit) -> str:
    parts = [f"“{hit.source.title}”", hit.source.path]
    parts.append(f"chars {hit.passage.start}–{hit.passage.end}")
    if hit.source.date:
        parts.append(hit.source.date)
    if hit.source.url:
        parts.append(hit.source.url)
    return printable(" · ".join(parts))


def format_index_report(report: IndexReport, listed: int = 20) -> str:
    """Counts first, then the files each change touched (at most `listed` of each kind)."""
    lines = []
    if report.rebuild_reason:
        lines.append(f"Rebuilt the whole index: {report.rebuild_reason}.")
    lines.append(
        f"{report.counts()} · {report.passages_total} passages ({report.passages_encoded} "
        f"encoded, {report.passages_reused} reused) in {report.seconds:.1f} s"
    )
    for label, paths in (
        ("added", report.added),
        ("updated", report.updated),
        ("removed", report.removed),
    ):
        lines += [f"  {label:8} {printable(path)}" for path in paths[:listed]]
        if len(paths) > listed:
            lines.append(f"  … and {len(paths) - listed} more {label}")
    lines += [f"  skipped  {printable(f'{s.path}: {s.reason}')}" for s in report.skipped]
    lines += [
        f"  failed   {printable(f'{s.path}: {s.reason}')} (previous version kept)"
        for s in report.failed
    ]
    return "\n".join(lines)


def format_status(
    manifest: Manifest, stale: list[str], damage: list[str], *, every_file: bool = False
) -> str:
    """Totals, every file that could not be indexed, and (with `every_file`) all the others;
    last, what is wrong with the index files themselves."""
    build = f", build {printable(manifest.encoder_build)}" if manifest.encoder_build else ""
    lines = [
        f"Model:     {printable(manifest.model)} ({manifest.dim} dimensions{build})",
        f"Indexed:   {len(manifest.documents)} documents, {manifest.passage_count} passages "
        f"(built {manifest.created_at})",
        f"Problems:  {len(manifest.skipped)} skipped, {len(manifest.failed)} failed",
    ]
    failed = {f.path: f.reason for f in manifest.failed}
    rows = [(s.path, "skipped", s.reason) for s in manifest.skipped]
    for path, entry in manifest.documents.items():
        if path in failed:
            rows.append(
                (path, "failed", f"{failed[path]}; serving the version of {entry.indexed_at}")
            )
        elif every_file:
            rows.append((path, "indexed", f"{entry.passages} passages, {entry.indexed_at}"))
    lines += [
        f"  {state:8} {printable(f'{path}: {detail}')}" for path, state, detail in sorted(rows)
    ]
    if stale:
        lines.append(f"Out of date: {len(stale)} files changed since; run `citebot index`")
        lines += [f"  {printable(change)}" for change in stale]
    if damage:
        lines.append(
            "Damaged:   the index cannot be served as it is; run `citebot index` to rebuild it"
        )
        lines += [f"  {printable(problem)}" for problem in damage]
    return "\n".join(lines)


def eval_to_dict(report: EvalReport) -> dict[str, Any]:
    m = report.metrics
    return {
        "set": report.set_name,
        "model": report.model,
        "queries": m.queries,
        "hit@1": round(m.hit_at_1, 4),
        "recall@5": round(m.recall_at_5, 4),
        "mrr@10": round(m.mrr_at_10, 4),
        "ndcg@10": round(m.ndcg_at_10, 4),
        "queries_per_s": round(report.queries_per_second, 1),
        "documents": report.documents,
        "passages": report.passages,
        "passages_per_s": round(report.passages_per_second, 1),
    }


def format_eval(report: EvalReport) -> str:
    d = eval_to_dict(report)
    return (
        f"{printable(d['set'])} · {printable(d['model'])} · {d['queries']} queries, "
        f"{d['documents']} documents, "
        f"{d['passages']} passages\n"
        f"hit@1 {d['hit@1']:.3f}  recall@5 {d['recall@5']:.3f}  MRR@10 {d['mrr@10']:.3f}  "
        f"nDCG@10 {d['ndcg@10']:.3f}\n"
        f"{d['queries_per_s']} queries/s · "
        + (
            f"indexing {d['passages_per_s']} passages/s"
            if d["passages_per_s"]
            else "vectors reused from an earlier run (--no-cache to time indexing)"
        )
    )

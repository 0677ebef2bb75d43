"""What a reindex costs on a synthetic corpus: full build, then one change of each kind.

    .venv/bin/python benchmarks/reindex_costs.py [--files 10000] [--model NAME]

Prints seconds and passages encoded per step; the one-file steps are also shown as a
fraction of the full build measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
from pathlib import Path

from retrieval.encoders.base import DEFAULT_MODEL, load_encoder
from retrieval.passages.cutting import PassageSettings
from retrieval.store.indexer import IndexReport, index_corpus

VOCABULARY = [
    "council",
    "harbour",
    "ferry",
    "budget",
    "school",
    "tram",
    "bridge",
    "river",
    "market",
    "station",
    "museum",
    "hospital",
    "library",
    "stadium",
    "airport",
    "park",
    "street",
    "tower",
    "canal",
    "festival",
    "report",
    "minister",
    "plan",
    "grain",
    "energy",
    "winter",
    "repairs",
    "shelter",
    "volunteers",
]


def write_corpus(corpus: Path, files: int, rng: random.Random) -> None:
    for n in range(files):
        folder = corpus / f"batch-{n // 500:02d}"
        folder.mkdir(exist_ok=True)
        sentences = [
            " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(8, 16))).capitalize() + "."
            for _ in range(rng.randint(2, 5))
        ]
        (folder / f"note-{n:05d}.txt").write_text(
            f"Note {n}\n\n" + " ".join(sentences), encoding="utf-8"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args()
    encoder = load_encoder(args.model)
    settings = PassageSettings()
    with tempfile.TemporaryDirectory() as scratch:
        corpus, index_dir = Path(scratch, "corpus"), Path(scratch, "index")
        corpus.mkdir()
        write_corpus(corpus, args.files, random.Random(1))
        target = corpus / "batch-00" / "note-00007.txt"

        def step(label: str) -> IndexReport:
            report = index_corpus(corpus, index_dir, encoder, settings)
            rows.append((label, report))
            return report

        rows: list[tuple[str, IndexReport]] = []
        step("full build")
        step("nothing changed")
        target.write_text(target.read_text(encoding="utf-8") + " Late addition on repairs.")
        step("one file edited")
        target.rename(target.with_name("renamed.txt"))
        step("one file renamed")
        target.with_name("renamed.txt").unlink()
        step("one file deleted")

        full = rows[0][1].seconds
        print(f"{args.files} files, model {encoder.name}, {os.cpu_count()} cores")
        print(
            f"{'step':18} {'seconds':>8} {'of full':>8} {'encoded':>8} {'reused':>8} {'total':>8}"
        )
        for label, report in rows:
            print(
                f"{label:18} {report.seconds:8.2f} {report.seconds / full:8.1%} "
                f"{report.passages_encoded:8d} {report.passages_reused:8d} "
                f"{report.passages_total:8d}"
            )


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()

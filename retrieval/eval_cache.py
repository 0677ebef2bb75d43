"""Where `citebot eval` keeps each set's index, so running a set again encodes nothing.

One index folder per set, model and passage settings under the user's cache directory
(`$XDG_CACHE_HOME/citebot/eval`, else `~/.cache/citebot/eval`), updated like any index:
an edited set re-encodes only what changed, and a damaged one is rebuilt.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def cache_folder(set_folder: Path, model: str, passage_settings: str) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    key = hashlib.blake2b(
        f"{set_folder.resolve()}\0{model}\0{passage_settings}".encode(), digest_size=8
    ).hexdigest()
    return base / "citebot" / "eval" / f"{set_folder.name}-{key}"

"""`python -m bot`: run the Telegram bot (the same as `citebot telegram`)."""

from __future__ import annotations

import sys

from bot.cli import main

sys.exit(main(["telegram", *sys.argv[1:]]))

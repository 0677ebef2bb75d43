"""Load on the Telegram bot: N chats × M questions at once through the fake Bot API.

The bot runs as in production (`python -m bot`, the real model and a FAISS index of the
seed corpus) in its own process, polling tests/fake_bot_api.py on 127.0.0.1. Every
question is pushed at once; the script reports answers per second and the time from
update to reply (p50/p99), read from the fake's request log. Not a test: run it by hand.

    python benchmarks/telegram_load.py                       # 200 chats × 5 questions
    python benchmarks/telegram_load.py --distinct 1000       # no question asked twice
    python benchmarks/telegram_load.py --rate-limit 30       # Telegram's throttle on
    python benchmarks/telegram_load.py --cold-start 5        # start to first answer, 5 runs

With --cold-start, a question waits in the fake's queue before the bot starts; each run
times a fresh bot process from its start to that question's answer.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fake_bot_api import FakeBotApi  # noqa: E402

TOPICS = [
    "How many troops did Russia withdraw from Crimea",
    "Where did Stoltenberg hold the press conference",
    "What did NATO say about the Black Sea",
    "Which warships entered the Black Sea",
    "What heavy weapons did Russia deploy to Crimea",
    "When did Shoigu announce the withdrawal",
    "How many battalion tactical groups were deployed in March",
    "What did the Secretary General say about deterrence",
    "Who held a press conference with Kaja Kallas",
    "Where were Su-25SM3 warplanes moved",
]


def questions(total: int, distinct: int) -> list[str]:
    """`total` questions taken in turn from `distinct` different texts."""
    texts = [
        TOPICS[n % len(TOPICS)] + ("?" if n < len(TOPICS) else f", case {n}?")
        for n in range(distinct)
    ]
    return [texts[n % distinct] for n in range(total)]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def bot_environment(fake: FakeBotApi, index_dir: Path, rate_limit: float) -> dict[str, str]:
    return {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "TELEGRAM_RATE_LIMIT": str(rate_limit),
        "CITEBOT_CORPUS": str(ROOT / "corpus"),
        "CITEBOT_INDEX": str(index_dir),
    }


def cold_start(index_dir: Path) -> float:
    """Seconds from starting a bot process to its answer to a question already waiting."""
    with FakeBotApi() as fake:
        fake.push_message(1, TOPICS[0] + "?")
        started = time.time()
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot"], cwd=ROOT, env=bot_environment(fake, index_dir, 0)
        )
        try:
            fake.wait_for(lambda: bool(fake.sent_calls("sendMessage")), timeout=120)
        finally:
            bot.send_signal(signal.SIGTERM)
            bot.wait(timeout=60)
        return fake.sent_calls("sendMessage")[0].at - started


def run(args: argparse.Namespace, index_dir: Path) -> dict[str, float]:
    total = args.chats * args.questions
    asked = questions(total, min(args.distinct, total))
    with FakeBotApi() as fake:
        environment = bot_environment(fake, index_dir, args.rate_limit)
        bot = subprocess.Popen([sys.executable, "-m", "bot"], cwd=ROOT, env=environment)
        try:
            fake.wait_for(lambda: fake.polls_waiting == 1, timeout=120)  # model loaded
            pushed: dict[tuple[int, int], float] = {}
            started = time.perf_counter()
            for n, question in enumerate(asked):
                chat = 1 + n % args.chats
                pushed[(chat, len(fake.messages(chat, include_user=True)) + 1)] = time.time()
                fake.push_message(chat, question)
            fake.wait_for(lambda: len(fake.sent_calls("sendMessage")) >= total, timeout=3600)
            seconds = time.perf_counter() - started
        finally:
            bot.send_signal(signal.SIGTERM)
            bot.wait(timeout=60)
        latencies = []
        for call in fake.sent_calls("sendMessage"):
            reply = json.loads(call.params.get("reply_parameters") or "{}")
            key = (int(call.params["chat_id"]), reply.get("message_id", -1))
            if call.status == 200 and key in pushed:
                latencies.append(call.at - pushed[key])
        return {
            "questions": total,
            "chats": args.chats,
            "distinct": min(args.distinct, total),
            "rate_limit": args.rate_limit,
            "answers_per_s": round(len(latencies) / seconds, 1),
            "p50_s": round(statistics.median(latencies), 3),
            "p99_s": round(percentile(latencies, 0.99), 3),
            "seconds": round(seconds, 1),
            "api_errors": len(fake.errors),
            "exit_code": bot.returncode,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--questions", type=int, default=5, help="per chat")
    parser.add_argument("--distinct", type=int, default=50, help="different question texts")
    parser.add_argument("--rate-limit", type=float, default=0, help="requests/s; 0: off")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--cold-start", type=int, default=0, metavar="RUNS")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        index_dir = Path(folder) / "index"
        subprocess.run(
            [sys.executable, "-m", "bot.cli", "index", "--corpus", "corpus", "--index", index_dir],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        if args.cold_start:
            times = [cold_start(index_dir) for _ in range(args.cold_start)]
            print(
                f"bot start to first answer: median {statistics.median(times):.2f} s "
                f"of {len(times)} ({', '.join(f'{t:.2f}' for t in times)})"
            )
            return
        figures = run(args, index_dir)
    if args.json:
        print(json.dumps(figures))
        return
    print(
        f"{figures['questions']} questions from {figures['chats']} chats "
        f"({figures['distinct']} distinct), rate limit {args.rate_limit or 'off'}: "
        f"{figures['answers_per_s']} answers/s, update→reply p50 {figures['p50_s']} s, "
        f"p99 {figures['p99_s']} s ({figures['seconds']} s, {figures['api_errors']} API errors, "
        f"bot exit code {figures['exit_code']})"
    )


if __name__ == "__main__":
    main()

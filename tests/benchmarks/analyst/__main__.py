"""`make bench-analyst`: every question of the analyst benchmark, answered by the offline
planner in a real kernel, judged against pandas/scipy; right / refused / wrong / error by
category, and the median time of a job's planning and cells.

    .venv/bin/python -m tests.benchmarks.analyst [--only ID,ID] [--show wrong,error]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from tests.benchmarks.analyst.questions import QUESTIONS
from tests.benchmarks.analyst.run import run_questions


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="", help="question ids, comma-separated")
    parser.add_argument("--category", default="", help="only these categories")
    parser.add_argument("--show", default="wrong,error", help="outcomes to print in full")
    args = parser.parse_args()
    chosen = [q for q in QUESTIONS if not args.only or q.id in args.only.split(",")]
    if args.category:
        chosen = [q for q in chosen if q.category in args.category.split(",")]
    show = set(args.show.split(",")) if args.show else set()
    with tempfile.TemporaryDirectory() as tmp:
        results = asyncio.run(run_questions(chosen, Path(tmp)))
    by_category: dict[str, Counter[str]] = defaultdict(Counter)
    for result in results:
        by_category[result.question.category][result.verdict] += 1
        if result.verdict in show:
            outcome = result.outcome
            said = outcome.answer or outcome.refusal or outcome.error or ""
            print(f"--- {result.verdict.upper()} {result.question.id} ({result.question.file}): "
                  f"{result.question.text}\n    expected: {result.expected}\n"
                  + "\n".join("    " + line for line in said.splitlines()[:14]))
    total: Counter[str] = Counter()
    print(f"\n{'category':<12} {'right':>6} {'refused':>8} {'wrong':>6} {'error':>6} {'all':>5}")
    for category in sorted(by_category):
        counts = by_category[category]
        total.update(counts)
        print(f"{category:<12} {counts['right']:>6} {counts['refused']:>8} {counts['wrong']:>6} "
              f"{counts['error']:>6} {sum(counts.values()):>5}")
    print(f"{'all':<12} {total['right']:>6} {total['refused']:>8} {total['wrong']:>6} "
          f"{total['error']:>6} {sum(total.values()):>5}")
    must_refuse = [r for r in results if r.question.expected == "refuse"]
    answerable = [r for r in results if r.question.expected != "refuse"]
    right = sum(r.verdict == "right" for r in answerable)
    print(f"\nanswerable: {len(answerable)}, right {right} "
          f"({right / max(1, len(answerable)):.0%}); must refuse: {len(must_refuse)}, refused "
          f"{sum(r.verdict == 'right' for r in must_refuse)}")
    flagged = [r for r in results if r.ungrounded]
    print(f"answers with numbers found in no cell output: {len(flagged)}")
    for r in flagged:
        print(f"    {r.question.id}: {', '.join(r.ungrounded)}")
    times = [r.outcome.seconds for r in results]
    if times:
        print(f"median job time (planning and cells, after the inspection): "
              f"{statistics.median(times) * 1000:.0f} ms")


if __name__ == "__main__":
    main()

"""The plans' per-account running limit across two workers (two slots each) on real Redis and
PostgreSQL: an account never runs more jobs at once than its plan allows, its waiting jobs
never block other accounts', and a dead worker or a job out of attempts does not strand them.

The jobs' kernels log when they start and end (time.time() on this one machine), and wait at a
barrier for jobs that must be able to run beside them: a limit that let too many run shows as
overlapping intervals, and one that blocked others shows as a barrier that timed out.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from pyexec.core.redis_keys import held_key
from tests.support.deployment import (
    FAST_RECOVERY,
    Deployment,
    deployed,
    wait_final,
    wait_status,
)
from tests.support.services import PostgresCluster, RedisServer

PRO_LIMIT = 2
PLANS = {
    "free": {"requests_per_day": 100_000},  # limit 1 (the default); many status polls
    "pro": {"max_running_jobs": PRO_LIMIT},
}
BARRIER_SECONDS = 30
HELD_PATIENCE_SECONDS = 30


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresCluster, redis_server: RedisServer
) -> Iterator[Deployment]:
    with deployed(
        tmp_path_factory.mktemp("limits"),
        postgres.create_database(),
        redis_server,
        {
            **FAST_RECOVERY,
            "PYEXEC_PLANS": json.dumps(PLANS),
            "PYEXEC_KERNEL_POOL_SIZE": "2",
            # A job whose worker dies fails at once: only the reconciler can free its slot.
            "PYEXEC_JOB_MAX_ATTEMPTS": "1",
            "PYEXEC_LOG_LEVEL": "info",  # the reconciler's notes are checked
        },
        workers=2,
    ) as dep:
        yield dep


def times_log(dep: Deployment) -> Path:
    return dep.root / "times.log"


def timed_code(
    dep: Deployment, tag: str, *, wait_for: tuple[str, int] | None = None, hold: float = 0.3
) -> str:
    """Marked code that logs `<tag> start|met|timeout|end <time>`: after its start it waits
    (at most BARRIER_SECONDS) until `wait_for[1]` jobs tagged `wait_for[0]…` have started."""
    prefix, n = wait_for or ("", 0)
    return dep.marked_code(
        tag,
        "import time\n"
        f"_log, _tag = {str(times_log(dep))!r}, {tag!r}\n"
        "def _mark(what):\n"
        "    with open(_log, 'a') as f: f.write(f'{_tag} {what} {time.time()!r}\\n')\n"
        "def _started():\n"
        "    lines = [l.split() for l in open(_log).read().splitlines()]\n"
        f"    return sum(1 for t, w, _ in lines if t.startswith({prefix!r}) and w == 'start')\n"
        "_mark('start')\n"
        f"_deadline = time.monotonic() + {BARRIER_SECONDS}\n"
        f"while _started() < {n} and time.monotonic() < _deadline: time.sleep(0.02)\n"
        f"_mark('met' if _started() >= {n} else 'timeout')\n"
        f"time.sleep({hold})\n"
        "_mark('end')\n"
        "'ok'",
    )


def marks(dep: Deployment) -> dict[str, dict[str, float]]:
    """tag → {start, met|timeout, end: time}."""
    found: dict[str, dict[str, float]] = {}
    for line in times_log(dep).read_text().splitlines():
        tag, what, at = line.split()
        found.setdefault(tag, {})[what] = float(at)
    return found


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    # An end sorts before a start at the same instant: touching intervals do not overlap.
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def submit(c: httpx.Client, code: str) -> str:
    created = c.post("/v1/jobs", json={"code": code})
    assert created.status_code == 201, created.text
    return created.json()["id"]


def finish_all(dep: Deployment, jobs: list[tuple[str, str]]) -> list[dict]:
    finals = []
    for key, job_id in jobs:
        with dep.client(key) as c:
            finals.append(wait_final(c, job_id))
    return finals


def test_free_account_runs_one_job_at_a_time_and_blocks_no_one(deployment: Deployment) -> None:
    dep = deployment
    free = dep.api.create_key("free-limit@example.com", plan="free")
    other = dep.api.create_key("other-limit@example.com", plan="business")
    run = uuid.uuid4().hex[:6]
    free_tags = [f"free{run}-{i}" for i in range(5)]
    other_tags = [f"other{run}-{i}" for i in range(3)]
    jobs = []
    with dep.client(free) as c:
        # Whichever free job runs first keeps the account's slot until every job of the other
        # account has started: they must get past the free account's 4 waiting jobs.
        for tag in free_tags:
            jobs.append((free, submit(c, timed_code(dep, tag, wait_for=(f"other{run}", 3)))))
    with dep.client(other) as c:
        for tag in other_tags:
            jobs.append((other, submit(c, timed_code(dep, tag, hold=0.1))))

    finals = finish_all(dep, jobs)
    assert [j["status"] for j in finals] == ["completed"] * len(jobs), finals
    counts = dep.run_counts()
    assert [counts[t] for t in free_tags + other_tags] == [1] * len(jobs)
    seen = marks(dep)
    assert all("met" in seen[t] for t in free_tags), {t: seen[t] for t in free_tags}
    assert most_at_once([(seen[t]["start"], seen[t]["end"]) for t in free_tags]) == 1


def test_pro_account_reaches_its_limit_and_never_passes_it(deployment: Deployment) -> None:
    dep = deployment
    pro = dep.api.create_key("pro-limit@example.com", plan="pro")
    run = uuid.uuid4().hex[:6]
    tags = [f"pro{run}-{i}" for i in range(2 * PRO_LIMIT)]
    with dep.client(pro) as c:
        # Each waits until PRO_LIMIT of them have started: only possible if that many run at
        # once. Four slots are free, so only the plan can stop a third.
        jobs = [
            (pro, submit(c, timed_code(dep, t, wait_for=(f"pro{run}", PRO_LIMIT)))) for t in tags
        ]
    finals = finish_all(dep, jobs)
    assert [j["status"] for j in finals] == ["completed"] * len(jobs), finals
    assert [dep.run_counts()[t] for t in tags] == [1] * len(tags)
    seen = marks(dep)
    assert all("met" in seen[t] for t in tags), {t: seen[t] for t in tags}
    assert most_at_once([(seen[t]["start"], seen[t]["end"]) for t in tags]) == PRO_LIMIT


def test_held_jobs_run_after_the_worker_of_the_running_one_is_killed(
    deployment: Deployment,
) -> None:
    dep = deployment
    key = dep.api.create_key("free-killed@example.com", plan="free")
    run = uuid.uuid4().hex[:6]
    doomed = f"doomed{run}"
    waiting = [f"waiting{run}-{i}" for i in range(2)]
    with dep.client(key) as c:
        doomed_id = submit(c, dep.marked_code(doomed, "import time\ntime.sleep(120)"))
        [pid] = dep.wait_for_runs(doomed, 1)
        waiting_ids = [submit(c, timed_code(dep, t)) for t in waiting]
        # They wait for the account's slot, held in Redis and `pending` to the client.
        [account_id] = [
            r["account_id"]
            for r in dep.api.rows("SELECT account_id FROM jobs WHERE id = :id", id=doomed_id)
        ]
        wait_held(dep, account_id, len(waiting))
        assert [c.get(f"/v1/jobs/{j}").json()["status"] for j in waiting_ids] == ["pending"] * 2
        assert c.get(f"/v1/jobs/{doomed_id}").json()["status"] == "running"

        dep.worker_with_pid(pid).kill()
        # One attempt allowed: the doomed job fails; its slot frees when its entry expires.
        failed = wait_status(c, doomed_id, "failed", timeout=120)
        assert failed["error_message"].startswith("interrupted: the worker running it stopped")
    finals = finish_all(dep, [(key, j) for j in waiting_ids])
    assert [j["status"] for j in finals] == ["completed"] * 2, finals
    # While held (seconds, over many reconciler passes) they were not taken for lost jobs.
    logs = "".join(w.log_path.read_text(errors="replace") for w in dep.workers)
    assert "free slots of account" in logs
    assert not [j for j in waiting_ids if f"queued pending job {j} that Redis" in logs]
    assert [dep.run_counts()[t] for t in waiting] == [1, 1]
    seen = marks(dep)
    assert most_at_once([(seen[t]["start"], seen[t]["end"]) for t in waiting]) == 1


def wait_held(dep: Deployment, account_id: str, n: int) -> None:
    client = redis.Redis.from_url(dep.redis.url)
    try:
        deadline = time.monotonic() + HELD_PATIENCE_SECONDS
        while client.zcard(held_key(account_id)) < n:
            assert time.monotonic() < deadline, f"fewer than {n} jobs held"
            time.sleep(0.05)
    finally:
        client.close()

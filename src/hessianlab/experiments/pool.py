"""The runner's job pool: jobs in-process (one worker) or in spawned worker processes, with start-after order.

Every job is ``fn(name, ...)`` returning an outcome dict with its ``name``. ``after[name] = other`` holds the
job ``name`` back until the job ``other`` has returned; ``gate(args, outcome of other)`` then returns
``None`` to start it, or the outcome to report instead (the job is not run). A held-back job's own waiters
are settled the same way, so a failed source blocks its whole chain. Jobs waiting for a name that is not
among the jobs start at once.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterator, Mapping, Sequence

from hessianlab.experiments import jobs

Outcome = dict[str, Any]
Gate = Callable[[tuple[Any, ...], Outcome], "Outcome | None"]


class Dependencies:
    """Start-after bookkeeping for a driver that submits jobs itself: ``ready`` holds the arguments of the jobs
    that may start now; :meth:`settle` releases (or, through ``gate``, blocks) the waiters of a finished job."""

    def __init__(self, args: Sequence[tuple[Any, ...]], after: Mapping[str, str] | None, gate: Gate | None) -> None:
        after = dict(after or {})
        names = {a[0] for a in args}
        self.gate = gate
        self.waiting: dict[str, list[tuple[Any, ...]]] = {}
        self.ready: deque[tuple[Any, ...]] = deque()
        for a in args:
            source = after.get(a[0])
            if source in names:
                self.waiting.setdefault(source, []).append(a)
            else:
                self.ready.append(a)

    def settle(self, outcome: Outcome) -> list[Outcome]:
        """Release the waiters of ``outcome``'s job; returns the outcomes of those the gate blocks."""
        blocked, queue = [], [outcome]
        while queue:
            done = queue.pop()
            for a in self.waiting.pop(done["name"], []):
                instead = self.gate(a, done) if self.gate is not None else None
                if instead is None:
                    self.ready.append(a)
                else:
                    blocked.append(instead)
                    queue.append(instead)
        return blocked


class Pool:
    """Run jobs with up to ``workers`` processes (``1``: in this process), yielding outcomes as they finish."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, int(workers))
        self.executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)

    def map(self, fn: Callable[..., Outcome], args: Sequence[tuple[Any, ...]], *,
            after: Mapping[str, str] | None = None, gate: Gate | None = None) -> Iterator[Outcome]:
        """Outcomes of ``fn(*a)`` for every ``a`` in ``args`` (see the module docstring for ``after``/``gate``)."""
        order = Dependencies(args, after, gate)
        if self.workers == 1:
            while order.ready:
                outcome = fn(*order.ready.popleft())
                yield outcome
                yield from order.settle(outcome)
            return
        futures: dict[Future, tuple[Any, ...]] = {}
        while order.ready or futures:
            while order.ready:
                a = order.ready.popleft()
                try:
                    futures[self._executor().submit(fn, *a)] = a
                except BrokenProcessPool as exc:
                    outcome = broken(fn, a, exc)
                    yield outcome
                    yield from order.settle(outcome)
            if not futures:
                break
            finished, _ = wait(futures, return_when=FIRST_COMPLETED)
            for future in finished:
                a = futures.pop(future)
                try:
                    outcome = future.result()
                except BrokenProcessPool as exc:
                    outcome = broken(fn, a, exc)
                yield outcome
                yield from order.settle(outcome)

    def _executor(self) -> ProcessPoolExecutor:
        if self.executor is None:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
            self.executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=jobs.init_worker,
                                                initargs=(max(1, cores // self.workers), os.getpid()))
        return self.executor


def broken(fn: Callable[..., Outcome], a: tuple[Any, ...], exc: BaseException | str) -> Outcome:
    """The outcome of job ``fn(*a)`` whose worker died (or was lost) with ``exc``."""
    reason = f"worker process died ({exc})"
    if fn is jobs.train_job:
        return {"name": a[0], "stage": "train", "status": "failed", "reason": reason}
    return {"name": a[0], "stage": "analyse", "analyses": {aid: f"failed: {reason}" for aid, _, _ in a[2]}}

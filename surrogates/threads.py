"""How many threads the exact-probability solve uses: a policy that cannot stall.

The solve is many small operations on chunks of rows. Run with torch's intra-op threads,
every operation ends at an OpenMP barrier, and when other processes hold the cores each
barrier waits for a thread that is not running: on a loaded 2-core machine a 2-thread solve
took up to 50x longer than a 1-thread one. The solve therefore never splits an operation:
inside :func:`solve_threads` torch runs on **one** intra-op thread and the chunks go to a
pool of *worker* threads (torch releases the GIL in its kernels), each solving whole chunks
(:meth:`surrotag.surrogates.flow.ScoreDistribution._solve`). A worker that waits for a core
delays only its own chunk, never the others, so more workers than free cores cost nothing
beyond sharing the cores (``tests/benchmarks/bench_threads.py`` measures it quiet and under
its own background load). The number of workers is:

* an explicit count: the ``threads`` argument (``surrotag run/tag --threads N``), else the
  environment variable ``SURROTAG_THREADS`` (a positive integer, or ``auto``);
* otherwise (``auto``) the usable cores (``os.sched_getaffinity``), capped by
  ``OMP_NUM_THREADS`` when the user set it.

The chunks, hence the probabilities bit for bit, do not depend on the number of workers.
The plan records the load average when it was made.

Example:
    >>> with solve_threads(1) as plan:
    ...     plan.threads, solve_workers()
    (1, 1)
    >>> solve_workers() is None
    True
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

from .errors import SurrogateInputError

__all__ = [
    "ENV_VAR",
    "MAX_THREADS",
    "ThreadPlan",
    "choose_threads",
    "intra_op_threads",
    "parse_threads",
    "solve_threads",
    "solve_workers",
    "summarize_plans",
    "usable_cores",
]

#: Environment variable that fixes the solve's thread count (a positive integer, or ``auto``).
ENV_VAR: Final = "SURROTAG_THREADS"
#: Worker threads of the enclosing :func:`solve_threads` (None outside one).
_WORKERS: contextvars.ContextVar[int | None] = contextvars.ContextVar("workers", default=None)


@dataclass(frozen=True)
class ThreadPlan:
    """The thread count chosen for one solve, and why.

    Attributes:
        threads: worker threads of the solve (each runs torch on one intra-op thread).
        source: ``argument``, ``env SURROTAG_THREADS`` or ``auto``.
        reason: one line: the rule that gave ``threads``.
        cores_usable: cores this process may run on (``os.sched_getaffinity``).
        load_average: 1, 5 and 15-minute load averages when the plan was made (None where
            the OS has none).
        previous: torch's intra-op thread count before the solve (restored after it).
    """

    threads: int
    source: str
    reason: str
    cores_usable: int
    load_average: tuple[float, float, float] | None
    previous: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (the recast report's ``tagger.threads``)."""
        out = asdict(self)
        out["load_average"] = None if self.load_average is None else list(self.load_average)
        return out


def usable_cores() -> int:
    """Cores this process may run on (affinity mask; ``os.cpu_count()`` where there is none)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def _load_average() -> tuple[float, float, float] | None:
    try:
        one, five, fifteen = os.getloadavg()
    except (AttributeError, OSError):  # pragma: no cover - Windows
        return None
    return round(one, 2), round(five, 2), round(fifteen, 2)


#: Largest thread count accepted (a million segfaults torch's intra-op pool).
MAX_THREADS = 1024


def parse_threads(value: int | str | None) -> int | None:
    """A thread setting: a positive count, or None for ``auto`` (also ``""`` and ``0``).

    Raises:
        SurrogateInputError: anything else (a negative count, one above :data:`MAX_THREADS`,
            a word other than ``auto``).
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("", "auto", "0"):
            return None
        try:
            value = int(text)
        except ValueError:
            raise SurrogateInputError(
                f"threads {value!r}: give a positive integer or 'auto'"
            ) from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SurrogateInputError(f"threads {value!r}: give a positive integer or 'auto'")
    if value > MAX_THREADS:  # torch's thread pool crashes the process on absurd counts
        raise SurrogateInputError(
            f"threads {value}: at most {MAX_THREADS} (this machine has {os.cpu_count()} cores)"
        )
    return value or None


def _omp_cap() -> int | None:
    try:
        cap = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return None
    return cap if cap > 0 else None


def choose_threads(threads: int | str | None = None) -> ThreadPlan:
    """The worker-thread count of the next solve (see the module docstring for the rule).

    Args:
        threads: an explicit count, or None / ``"auto"`` for the environment variable
            :data:`ENV_VAR`, then the usable cores.

    Returns:
        The :class:`ThreadPlan` (not applied: :func:`solve_threads` applies it).

    Raises:
        SurrogateInputError: ``threads`` or ``SURROTAG_THREADS`` is not a count or ``auto``.
    """
    import torch

    previous = torch.get_num_threads()
    cores = usable_cores()
    load = _load_average()
    explicit = parse_threads(threads)
    source = "argument"
    if explicit is None and os.environ.get(ENV_VAR):
        explicit, source = parse_threads(os.environ[ENV_VAR]), f"env {ENV_VAR}"
    if explicit is not None:
        return ThreadPlan(
            explicit, source, f"{explicit} worker thread(s) asked for", cores, load, previous
        )
    omp = _omp_cap()
    n = cores if omp is None else max(1, min(cores, omp))
    capped = f", capped by OMP_NUM_THREADS={omp}" if omp is not None and omp < cores else ""
    reason = f"{n} worker thread(s): {cores} usable core(s){capped}"
    return ThreadPlan(n, "auto", reason, cores, load, previous)


@contextlib.contextmanager
def solve_threads(threads: int | str | None = None) -> Iterator[ThreadPlan]:
    """Run the enclosed solves on :func:`choose_threads`'s workers; restore torch's after.

    Inside, torch runs on one intra-op thread and :func:`solve_workers` gives the number
    of worker threads that :meth:`~surrotag.surrogates.flow.ScoreDistribution` solves use.

    Args:
        threads: as :func:`choose_threads`.

    Yields:
        The applied :class:`ThreadPlan`.
    """
    import torch

    plan = choose_threads(threads)
    token = _WORKERS.set(plan.threads)
    if plan.previous != 1:
        torch.set_num_threads(1)
    try:
        yield plan
    finally:
        _WORKERS.reset(token)
        if torch.get_num_threads() != plan.previous:
            torch.set_num_threads(plan.previous)


@contextlib.contextmanager
def intra_op_threads(threads: int | None) -> Iterator[int]:
    """Run the enclosed torch code on ``threads`` intra-op threads; restore the count after.

    For work made of many small operations (a minibatch training step on a few hundred
    rows), where every operation split over threads ends at an OpenMP barrier that stalls
    when another process holds a core.

    Args:
        threads: intra-op threads (None: leave torch's setting).

    Yields:
        The thread count in force.

    Example:
        >>> import torch
        >>> before = torch.get_num_threads()
        >>> with intra_op_threads(1) as n:
        ...     n, torch.get_num_threads()
        (1, 1)
        >>> torch.get_num_threads() == before
        True
    """
    import torch

    previous = torch.get_num_threads()
    if threads is not None and threads != previous:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def solve_workers() -> int | None:
    """Worker threads of the enclosing :func:`solve_threads` (None outside one)."""
    return _WORKERS.get()


def summarize_plans(
    plans: Sequence[Mapping[str, Any]], setting: int | str | None = None
) -> dict[str, Any]:
    """The record of a run's solves: setting, thread counts used, first and last plan.

    Args:
        plans: the :meth:`ThreadPlan.to_dict` record of each solve, in order.
        setting: what the run asked for (a count, or None / ``"auto"``).

    Returns:
        ``{"setting", "env", "solves", "used", "first", "last"}``: ``env`` is the value of
        :data:`ENV_VAR` (None when unset), ``first`` and ``last`` the first and last
        records (None without solves).
    """
    explicit = parse_threads(setting)
    return {
        "setting": "auto" if explicit is None else explicit,
        "env": os.environ.get(ENV_VAR),
        "solves": len(plans),
        "used": sorted({int(plan["threads"]) for plan in plans}),
        "first": dict(plans[0]) if plans else None,
        "last": dict(plans[-1]) if plans else None,
    }

"""How many torch intra-op threads the exact-probability solve uses: a policy that cannot stall.

The solve issues about 2e4 small parallel operations per call, and each one ends at an
OpenMP barrier. When other processes hold the cores, every barrier waits for a thread
that is not running: on a loaded 2-core machine a 2-thread solve took about 50x longer
than a 1-thread one (``tests/benchmarks/bench_threads.py``). One thread never waits at a
barrier, so the policy is:

* an explicit count wins: the ``threads`` argument (``surrotag run/tag --threads N``),
  else the environment variable ``SURROTAG_THREADS`` (a positive integer, or ``auto``);
* otherwise (``auto``) it measures the cores that are idle *now*: the idle and iowait time
  of the usable cores (``os.sched_getaffinity``) in ``/proc/stat`` over a short sleep
  (:data:`PROBE_SECONDS`; the caller sleeps, so its own threads do not count as load).
  It uses ``n`` threads only when at least ``n - 0.25`` cores are idle, so any contender
  for the cores gives one thread; capped by the usable cores and by ``OMP_NUM_THREADS``
  when the user set it. Where ``/proc/stat`` is absent it falls back to the 1-minute load
  average (cores minus load: conservative, since the caller's own load counts too).

A measurement is reused for :data:`RECHECK_SECONDS`, so a run with many chunks probes a few
times, not once per call. :func:`solve_threads` applies the plan around a solve and
restores the previous count after. The thread count changes only how the work is split:
probabilities agree to float rounding whatever it is.

Example:
    >>> with solve_threads(1) as plan:
    ...     plan.threads
    1
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from .errors import SurrogateInputError

__all__ = [
    "ENV_VAR",
    "MAX_THREADS",
    "PROBE_SECONDS",
    "RECHECK_SECONDS",
    "ThreadPlan",
    "choose_threads",
    "forget_measurement",
    "idle_cores",
    "parse_threads",
    "solve_threads",
    "summarize_plans",
    "usable_cores",
]

#: Environment variable that fixes the solve's thread count (a positive integer, or ``auto``).
ENV_VAR: Final = "SURROTAG_THREADS"
#: Length of the idle-core measurement (seconds): 20 scheduler ticks of 10 ms on 2 cores.
PROBE_SECONDS: Final = 0.1
#: A measurement is reused for this long (seconds).
RECHECK_SECONDS: Final = 10.0
#: A thread needs this fraction of an idle core to be worth starting.
_SLACK: Final = 0.25

_cache: dict[str, Any] = {}


@dataclass(frozen=True)
class ThreadPlan:
    """The thread count chosen for one solve, and why.

    Attributes:
        threads: torch intra-op threads of the solve.
        source: ``argument``, ``env SURROTAG_THREADS`` or ``auto``.
        reason: one line: what was measured and the rule that gave ``threads``.
        cores_usable: cores this process may run on (``os.sched_getaffinity``).
        idle_cores: idle cores measured (None: not measured, explicit count or no probe).
        load_average: 1, 5 and 15-minute load averages when the plan was made (None where
            the OS has none).
        previous: torch's thread count before the solve (restored after it).
    """

    threads: int
    source: str
    reason: str
    cores_usable: int
    idle_cores: float | None
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


def _cpu_times(path: Path) -> dict[int, tuple[int, int]] | None:
    """``{cpu: (idle ticks, total ticks)}`` from ``/proc/stat`` (None where unreadable)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    out: dict[int, tuple[int, int]] = {}
    for line in lines:
        name, _, rest = line.partition(" ")
        if not (name.startswith("cpu") and name[3:].isdigit()):
            continue
        ticks = [int(v) for v in rest.split()[:8]]  # user nice system idle iowait irq softirq steal
        out[int(name[3:])] = (ticks[3] + ticks[4], sum(ticks))
    return out or None


def idle_cores(
    seconds: float = PROBE_SECONDS, stat: str | os.PathLike[str] = "/proc/stat"
) -> float | None:
    """Idle cores among the usable ones, measured over ``seconds`` of sleep.

    Args:
        seconds: length of the measurement (the caller sleeps meanwhile).
        stat: the kernel's CPU statistics file.

    Returns:
        Sum over the usable cores of their idle fraction (0 to the number of usable
        cores), or None where the statistics cannot be read.
    """
    path = Path(stat)
    before = _cpu_times(path)
    if before is None:
        return None
    time.sleep(seconds)
    after = _cpu_times(path)
    if after is None:
        return None
    try:
        cpus = os.sched_getaffinity(0)
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        cpus = set(after)
    idle = 0.0
    for cpu in cpus:
        if cpu not in before or cpu not in after:
            continue
        d_idle = after[cpu][0] - before[cpu][0]
        d_total = after[cpu][1] - before[cpu][1]
        idle += d_idle / d_total if d_total > 0 else 1.0
    return round(idle, 3)


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


def forget_measurement() -> None:
    """Drop the reused idle-core measurement: the next ``auto`` plan measures afresh."""
    _cache.clear()


def _measured_idle(probe_seconds: float) -> float | None:
    now = time.monotonic()
    if _cache and now - _cache["at"] < RECHECK_SECONDS:
        return _cache["idle"]
    idle = idle_cores(probe_seconds)
    _cache.update(at=time.monotonic(), idle=idle)
    return idle


def choose_threads(
    threads: int | str | None = None, *, probe_seconds: float = PROBE_SECONDS
) -> ThreadPlan:
    """The thread count of the next solve (see the module docstring for the rule).

    Args:
        threads: an explicit count, or None / ``"auto"`` for the environment variable
            :data:`ENV_VAR`, then the measurement.
        probe_seconds: length of the idle-core measurement.

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
            explicit, source, f"{explicit} thread(s) asked for", cores, None, load, previous
        )
    cap = cores
    omp = _omp_cap()
    if omp is not None:
        cap = min(cap, omp)
    idle = _measured_idle(probe_seconds)
    if idle is not None:
        free, what = idle, f"{idle:.2f} of {cores} usable cores idle"
    elif load is not None:
        free, what = cores - load[0], f"load {load[0]:.2f} on {cores} cores (no /proc/stat)"
    else:  # pragma: no cover - neither measurement exists
        free, what = 1.0, "no load measurement"
    n = max(1, min(cap, math.floor(free + _SLACK)))
    rule = "oversubscribed: 1 thread" if n == 1 and cap > 1 else f"{n} thread(s)"
    capped = f", capped by OMP_NUM_THREADS={omp}" if omp is not None and omp < cores else ""
    return ThreadPlan(n, "auto", f"{what}: {rule}{capped}", cores, idle, load, previous)


@contextlib.contextmanager
def solve_threads(
    threads: int | str | None = None, *, probe_seconds: float = PROBE_SECONDS
) -> Iterator[ThreadPlan]:
    """Run the enclosed solve with :func:`choose_threads`'s count; restore torch's after.

    Args:
        threads: as :func:`choose_threads`.
        probe_seconds: as :func:`choose_threads`.

    Yields:
        The applied :class:`ThreadPlan`.
    """
    import torch

    plan = choose_threads(threads, probe_seconds=probe_seconds)
    if plan.threads != plan.previous:
        torch.set_num_threads(plan.threads)
    try:
        yield plan
    finally:
        if torch.get_num_threads() != plan.previous:
            torch.set_num_threads(plan.previous)


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

"""Pre-registered closures: a recast checked against official results, recorded for good.

An analysis's closure (e.g. :mod:`surrotag.analyses.zprime_ttbar_allhad.closure`) fixes
its plan (masses, sample sizes, fresh seeds, tolerances) before any run, and appends each
run to a committed JSON-lines history that opens with the plan's sha256; a run under
another plan is refused, so a closure cannot be tuned after looking. This module holds
what every closure shares:

- :func:`compare_regions`: per region, the recast total against the official one within
  ``max(2 sigma, tolerance x official)`` (:class:`RegionCheck`), sigma combining the
  surrogate's spread over weight draws and the binomial noise of the official 0/1 tag
  decisions around the tag probabilities;
- :func:`bootstrap_interval`: the percentile bootstrap of a statistic over events
  (:class:`BootstrapInterval`), the official result's own statistical spread;
- :func:`read_history`, :func:`append_history`: the history file, appended atomically
  under a folder lock and never rewritten; :func:`git_state`: the commit a run used.

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558; Efron & Tibshirani, "An
    Introduction to the Bootstrap" (1993), ch. 13 (percentile intervals).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from surrotag.errors import AnalysisError
from surrotag.io.atomic import strict_json

if TYPE_CHECKING:
    from surrotag.yields import Yields

__all__ = [
    "BootstrapInterval",
    "RegionCheck",
    "append_history",
    "bootstrap_interval",
    "compare_regions",
    "git_state",
    "read_history",
]


@dataclass(frozen=True)
class BootstrapInterval:
    """Percentile bootstrap interval of a statistic.

    Attributes:
        central: the statistic on the full sample.
        lower: the ``(1 - level) / 2`` quantile of the replicates (``inverted_cdf``).
        upper: the ``(1 + level) / 2`` quantile.
        level: central probability.
        replicates: number of replicates B.
        median: median of the replicates.
        std: their standard deviation (finite replicates).
        n_infinite: replicates with an infinite value (e.g. an insensitive signal).
    """

    central: float
    lower: float
    upper: float
    level: float
    replicates: int
    median: float
    std: float
    n_infinite: int

    def contains(self, value: float) -> bool:
        """Whether ``lower <= value <= upper``."""
        return bool(self.lower <= value <= self.upper)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (infinities as None)."""
        return {k: strict_json(v) for k, v in dataclasses.asdict(self).items()}


def bootstrap_interval(
    statistic: Callable[[np.ndarray | None], float],
    n_events: int,
    replicates: int,
    rng: np.random.Generator,
    level: float = 0.95,
) -> BootstrapInterval:
    """Percentile bootstrap of ``statistic`` over events resampled with replacement.

    Args:
        statistic: the value on a set of events, given their indices (``None``: all events
            once); each event carries its own weight, so a weighted statistic uses the
            resampled events' weights.
        n_events: events N of the sample; every replicate draws N indices uniformly.
        replicates: B.
        rng: the seeded generator (replicate b uses the b-th draw of N indices).
        level: central probability of the interval.

    Returns:
        :class:`BootstrapInterval`; quantiles by the inverse empirical CDF, so each bound
        is one of the replicates' values.
    """
    central = float(statistic(None))
    values = np.array([statistic(rng.integers(0, n_events, n_events)) for _ in range(replicates)])
    alpha = 0.5 * (1.0 - level)
    lower, upper = np.quantile(values, [alpha, 1.0 - alpha], method="inverted_cdf")
    finite = values[np.isfinite(values)]
    return BootstrapInterval(
        central=central,
        lower=float(lower),
        upper=float(upper),
        level=float(level),
        replicates=int(replicates),
        median=float(np.quantile(values, 0.5, method="inverted_cdf")),
        std=float(finite.std(ddof=1)) if finite.size > 1 else float("nan"),
        n_infinite=int(values.size - finite.size),
    )


@dataclass(frozen=True)
class RegionCheck:
    """One region's recast total against the official one (expected events at mu = 1).

    Attributes:
        region: region name.
        official: official total.
        recast: recast total.
        surrogate_error: the recast's spread over weight draws.
        tag_noise: binomial noise of the official decisions, ``sqrt(sum w^2 t - sum w^2
            p^2)`` (0 where negative).
        sigma: ``hypot(surrogate_error, tag_noise)``.
        allowed: ``max(2 sigma, tolerance x official)``.
        closes: ``|recast - official| <= allowed``.
    """

    region: str
    official: float
    recast: float
    surrogate_error: float
    tag_noise: float
    sigma: float
    allowed: float
    closes: bool

    @property
    def pull(self) -> float:
        """(recast - official) / sigma (NaN for sigma = 0)."""
        return (self.recast - self.official) / self.sigma if self.sigma > 0 else math.nan

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict."""
        out = dataclasses.asdict(self)
        out["pull"] = strict_json(self.pull)
        out["relative_difference"] = (
            strict_json(self.recast / self.official - 1.0) if self.official else None
        )
        return out


def compare_regions(
    official: Mapping[str, Yields], recast: Mapping[str, Any], tolerance: float
) -> tuple[RegionCheck, ...]:
    """Per region, the recast total against the official one.

    Args:
        official: per region, the official :class:`~surrotag.yields.Yields`.
        recast: per region, an object with ``total``, ``total_mc_stat`` and
            ``total_surrogate`` (:class:`surrotag.recast.report.RegionResult`).
        tolerance: relative tolerance beside 2 sigma.
    """
    checks = []
    for name, y in official.items():
        region = recast[name]
        reference = float(y.nominal.sum())
        noise2 = float(np.sum(y.mc_stat_error**2)) - float(region.total_mc_stat) ** 2
        tag_noise = math.sqrt(max(noise2, 0.0))
        sigma = math.hypot(float(region.total_surrogate), tag_noise)
        allowed = max(2.0 * sigma, tolerance * reference)
        checks.append(
            RegionCheck(
                region=name,
                official=reference,
                recast=float(region.total),
                surrogate_error=float(region.total_surrogate),
                tag_noise=tag_noise,
                sigma=sigma,
                allowed=allowed,
                closes=bool(abs(float(region.total) - reference) <= allowed),
            )
        )
    return tuple(checks)


def read_history(path: str | os.PathLike[str]) -> tuple[dict, list[dict]]:
    """The header and the runs of a history file.

    Raises:
        AnalysisError: the file does not exist, lacks the header, or holds a broken line.
    """
    path = Path(path)
    if not path.is_file():
        raise AnalysisError(f"{path}: no closure history")
    lines = path.read_text(encoding="utf-8").splitlines()
    try:
        records = [json.loads(line) for line in lines if line.strip()]
    except json.JSONDecodeError as error:
        raise AnalysisError(f"{path}: broken line ({error})") from None
    if not records or records[0].get("kind") != "closure-history":
        raise AnalysisError(f"{path}: the first line is not a closure-history header")
    return records[0], records[1:]


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``folder`` (flock on its descriptor; none on Windows)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def append_history(
    record: Mapping[str, Any], path: str | os.PathLike[str], header: Mapping[str, Any]
) -> Path:
    """Append one run to a history, atomically; the earlier lines stay byte for byte.

    Under an exclusive lock on the folder (so that concurrent runs append one after the
    other), the file is read, checked (its header's ``plan_sha256`` is ``header``'s, whole
    lines) and written back with the new line through a temporary file and ``os.replace``:
    a reader or an interrupted run sees the old history or the new one, never half a line.
    A missing file is created with ``header`` first.

    Args:
        record: the run (JSON-able; NaN and infinities become null).
        path: the history file.
        header: the history's first line: ``kind`` ``closure-history``, the plan and its
            ``plan_sha256``.

    Raises:
        AnalysisError: the file's header names another plan, or its last line is cut.
    """
    from surrotag.io.atomic import write_text_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(strict_json(dict(record)), sort_keys=True, allow_nan=False)
    plan_sha256 = str(header["plan_sha256"])
    with _folder_lock(path.parent):
        if path.exists():
            text = path.read_text(encoding="utf-8")
            if text and not text.endswith("\n"):
                raise AnalysisError(f"{path}: the last line is cut; repair the history by hand")
            found, _ = read_history(path)
            if found.get("plan_sha256") != plan_sha256:
                raise AnalysisError(
                    f"{path}: pre-registered plan {str(found.get('plan_sha256'))[:12]}... "
                    f"differs from this plan {plan_sha256[:12]}...; a new plan needs a new "
                    "history file"
                )
        else:
            text = json.dumps(dict(header), sort_keys=True) + "\n"
        return write_text_atomic(path, text + line + "\n")


def git_state(folder: str | os.PathLike[str]) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git tree holding ``folder``, by read-only git commands
    (None, None outside a repository or without git)."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout.strip()  # fmt: skip
        status = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit or None, bool(status.strip())

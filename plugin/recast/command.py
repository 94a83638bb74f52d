"""What ``surrotag run`` does, as one function: recast one or several analyses and write.

The command parses its arguments and prints; this module decides between one analysis
(:func:`~surrotag.recast.recast`, outputs are files) and several
(:func:`~surrotag.recast.recast_many`, one pass over the events, outputs are folders), and
merges a run configuration (:mod:`surrotag.recast.config`) with the options given.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from surrotag.errors import InputValueError
from surrotag.recast.report import RecastReport

__all__ = ["OUTPUT_OPTIONS", "merge_config", "run_and_write", "usable_analyses"]

#: Output options of ``surrotag run`` (files for one analysis, folders for several).
OUTPUT_OPTIONS = ("output", "patch_out", "plot")


def merge_config(
    path: Path, arguments: Sequence[str], every: bool, options: dict[str, Any],
    explicit: Collection[str],
) -> tuple[list[str], bool, dict[str, Any]]:  # fmt: skip
    """The arguments, ``--all`` and options of a run configuration merged with the command's.

    Args:
        path: the configuration file.
        arguments, every: the command's positional arguments and ``--all`` (must be empty).
        options: the command's option values.
        explicit: the options the user gave on the command line (they win).

    Raises:
        InputValueError: arguments given as well; the configuration's own errors.
    """
    from surrotag.recast.config import load_run_config

    if arguments or every:
        raise InputValueError("give the analyses and events either as arguments or in --config")
    config = load_run_config(path)
    merged = {**options, **{k: v for k, v in config.options.items() if k not in explicit}}
    return [*config.analyses, *config.events], config.every, merged


def run_and_write(
    analyses: Sequence[str], events: Sequence[str], options: dict[str, Any], many: bool = False
) -> tuple[list[RecastReport], list[Path], dict[str, float]]:
    """Recast and write the outputs asked for.

    Args:
        analyses: one or more analysis names or folders.
        events: event inputs (none: the single analysis's example signal).
        options: the recast's keyword arguments (:func:`~surrotag.recast.recast`), with
            ``output``, ``patch_out`` and ``plot`` (paths or None); ``surrogate`` and
            ``workspace`` only for one analysis.
        many: outputs are folders even for one analysis (``--all``, which may leave one).

    Returns:
        ``(reports, files written, seconds per stage including "output")``.

    Raises:
        SurrotagError: as the recast; an output option that is a folder for one analysis or
            a file for several; a surrogate or workspace given for several analyses.
    """
    from surrotag.recast import recast, recast_many
    from surrotag.recast.plot import check_plot_dependencies
    from surrotag.recast.report import write_many_outputs, write_outputs

    options = dict(options)
    outputs = {key: options.pop(key, None) for key in OUTPUT_OPTIONS}
    if outputs["plot"] is not None:  # fail before the work, not after it
        check_plot_dependencies()
    if len(analyses) > 1 or many:
        if options.pop("surrogate", None) is not None or options.pop("workspace", None):
            raise InputValueError("--surrogate and --workspace replace one analysis's own")
        reports = recast_many(analyses, events, **options)
        start = time.perf_counter()
        written = write_many_outputs(reports, list(analyses), **outputs)
    else:
        for key, path in outputs.items():
            if path is not None and Path(path).is_dir():
                raise InputValueError(f"{key} {path}: a folder; for one analysis, name a file")
        reports = [recast(analyses[0], events, **options)]
        start = time.perf_counter()
        written = write_outputs(
            reports[0], analyses[0], workspace=options.get("workspace"), **outputs
        )
    return reports, written, {**reports[0].timings, "output": time.perf_counter() - start}


def usable_analyses(
    analyses: Sequence[str], events: Sequence[str], console: Any, *, tagger: str | None = None
) -> list[str]:
    """The analyses of ``--all`` that can recast ``events`` (with ``tagger``, the
    ``--tagger`` kind); one line per one skipped.

    Raises:
        InputValueError: none can (the lines say why).
    """
    from surrotag.recast.pipeline import unusable_reason

    if not events:
        return list(analyses)
    usable = []
    for name in analyses:
        reason = unusable_reason(name, events, tagger=tagger)
        if reason is None:
            usable.append(name)
        else:
            console.print(
                f"skipped {name}: {reason}", highlight=False, markup=False, soft_wrap=True
            )
    if not usable:
        raise InputValueError("--all: no installed analysis can recast these events")
    return usable

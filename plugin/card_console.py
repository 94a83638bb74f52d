"""Surrogate cards on the terminal (rich): what ``surrotag surrogate show`` and
``surrotag surrogates`` print."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from surrotag.surrogates.card import Card
    from surrotag.surrogates.registry import SurrogateInfo

__all__ = ["posterior_line", "print_card", "print_surrogates", "solver_line", "solver_row"]


def _number(value: Any) -> str:
    """A validation figure for the terminal: 4 significant digits for floats."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def solver_row(row: Mapping[str, Any]) -> str:
    """One line for a row of a solver check's table (a power grid or fitted nodes).

    Example:
        >>> solver_row({"steps": 7, "grid_power": 2.0, "max_error": 1.2e-3})
        '    7 steps, grid power 2.00: max |dP| 1.2e-03'
        >>> solver_row({"steps": 7, "grid_power": 2.0, "nodes": [0, 0.5, 1],
        ...             "max_error": 4.8e-4, "held_out_max_error": 4.1e-4})
        '    7 steps, fitted nodes (held-out max |dP| 4.1e-04): max |dP| 4.8e-04'
    """
    if "nodes" in row:
        grid = f"fitted nodes (held-out max |dP| {row['held_out_max_error']:.1e})"
    else:
        grid = f"grid power {row['grid_power']:.2f}"
    return f"  {row['steps']:>3} steps, {grid}: max |dP| {row['max_error']:.1e}"


def solver_line(solver: Mapping[str, Any]) -> str:
    """One line for a card's ``solver``: method, steps, time grid and the measured error.

    Example:
        >>> solver_line({"method": "rk4", "steps": 7, "grid_power": 1.5,
        ...              "check": {"max_error": 4.6e-4, "tolerance": 1e-3}})
        'rk4, 7 steps, time grid power 1.5; max |P - P_dopri5| 4.6e-04 (tolerance 1e-03)'
        >>> solver_line({"method": "rk4", "steps": 16})
        'rk4, 16 steps; solver error not measured'
        >>> solver_line({"method": "rk4", "steps": 2, "nodes": [0, 0.7, 1]})
        'rk4, 2 steps, fitted time nodes 0, 0.7, 1; solver error not measured'
    """
    text = f"{solver['method']}, {solver['steps']} steps"
    if solver.get("nodes") is not None:
        text += ", fitted time nodes " + ", ".join(f"{t:.3g}" for t in solver["nodes"])
    elif solver.get("grid_power", 1.0) != 1.0:
        text += f", time grid power {solver['grid_power']:g}"
    check = solver.get("check")
    if not check:
        return text + "; solver error not measured"
    error = check.get("max_error")
    shown = "n/a" if error is None else f"{error:.1e}"
    return text + f"; max |P - P_dopri5| {shown} (tolerance {check['tolerance']:.0e})"


def posterior_line(diagnostics: Mapping[str, Any]) -> str:
    """One line for an MCMC card's ``bayes.diagnostics``: temperature, where it came from, chains.

    Example:
        >>> print(posterior_line({"temperature": 3.2, "chains": 4, "samples_per_chain": 10,
        ...     "acceptance": [0.6, 0.7, 0.5, 0.6],
        ...     "weights": {"ess_min": 16.1, "rhat_max": 1.2},
        ...     "temperature_calibration": {"temperature": 1.0,
        ...                                 "bootstrap": {"temperature": 3.2}}}))
        ... # doctest: +NORMALIZE_WHITESPACE
        posterior: T = 3.2 (held-out cells 1, bootstrap refits 3.2); 4 chains x 10 samples,
        acceptance 0.60, ESS min 16.1, R-hat max 1.20
        >>> print(posterior_line({"temperature": 2.0, "chains": 2, "samples_per_chain": 5,
        ...     "acceptance": [0.4, 0.6], "weights": {"ess_min": 8.0, "rhat_max": 1.1},
        ...     "temperature_calibration": None}))  # doctest: +NORMALIZE_WHITESPACE
        posterior: T = 2 (given); 2 chains x 5 samples, acceptance 0.50, ESS min 8.0,
        R-hat max 1.10
    """
    calibration = diagnostics.get("temperature_calibration")
    if calibration is None:
        origin = "given"
    else:
        origin = f"held-out cells {calibration['temperature']:.3g}"
        if "bootstrap" in calibration:
            origin += f", bootstrap refits {calibration['bootstrap']['temperature']:.3g}"
    weights = diagnostics["weights"]
    acceptance = sum(diagnostics["acceptance"]) / len(diagnostics["acceptance"])
    return (
        f"posterior: T = {diagnostics['temperature']:.3g} ({origin}); "
        f"{diagnostics['chains']} chains x {diagnostics['samples_per_chain']} samples, "
        f"acceptance {acceptance:.2f}, ESS min {weights['ess_min']:.1f}, "
        f"R-hat max {weights['rhat_max']:.2f}"
    )


def print_card(card: Card, folder: Path, status: Mapping[str, str]) -> None:
    """The card of the surrogate in ``folder`` on stdout: tagger, score, features with their
    training support, working points, training, validation figures and files.

    Args:
        card: the loaded card.
        folder: the surrogate's folder (printed beside the name).
        status: per file of the card, its check result
            (:func:`surrotag.surrogates.storage.file_status`).
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # card text and paths are printed as they are: "[...]" in them is no rich markup
    console = Console(markup=False)
    console.print(Text.assemble((str(card.name), "bold"), f" {card.version}  ({folder})"))
    if card.description:
        console.print(card.description)
    tagger = card.tagger
    console.print(
        f"tagger: {tagger['name']} ({tagger['score']})"
        + (
            f" (weights sha256 {tagger['weights_sha256'][:12]}…)"
            if tagger.get("weights_sha256")
            else ""
        )
    )
    score = card.score
    console.print(
        f"score: column {score['column']!r} modelled in {score['space']} space"
        + (
            f" (clipped to [{score['clip']:g}, 1-{score['clip']:g}])"
            if score["space"] == "logit"
            else ""
        )
    )
    console.print(
        f"bayes: {card.bayes['method']}, {card.bayes['draws']} draws; "
        f"solver: {solver_line(card.solver)}"
    )
    if card.bayes.get("diagnostics"):
        console.print(posterior_line(card.bayes["diagnostics"]))
    features = Table(title="features", box=None, header_style="bold")
    for column in ("name", "unit", "support (0.1%-99.9%)", "mean", "std", "description"):
        features.add_column(column, overflow="fold")
    for feature in card.features:
        low, high = feature["support"]
        features.add_row(
            feature["name"],
            feature["unit"] or "-",
            f"[{low:.4g}, {high:.4g}]",
            f"{feature['mean']:.4g}",
            f"{feature['std']:.4g}",
            feature["description"],
        )
    console.print(features)
    if card.working_points:
        points = Table(title="working points", box=None, header_style="bold")
        for column in ("name", "threshold", "efficiency", "definition"):
            points.add_column(column, overflow="fold")
        for point in card.working_points:
            points.add_row(
                point["name"],
                f"{point['threshold']:g}",
                f"{point['efficiency']:.4f}",
                point["definition"],
            )
        console.print(points)
    else:
        console.print("working points: none")
    rows = card.training["rows"]
    console.print(
        f"training: {card.training['description']}; rows "
        + ", ".join(f"{key} {value}" for key, value in rows.items())
        + (f"; sha256 {card.training['sha256'][:12]}…" if card.training.get("sha256") else "")
    )
    if card.validation:
        console.print(
            "validation: "
            + ", ".join(f"{key} {_number(value)}" for key, value in card.validation.items())
        )
    files = Table(title="files", box=None, header_style="bold")
    for column in ("file", "sha256", "status"):
        files.add_column(column)
    for name, digest in card.files.items():
        files.add_row(name, digest[:16] + "…", status[name])
    console.print(files)
    console.print(f"references: {', '.join(card.references) or 'none'}")
    console.print(f"created {card.created} with surrotag {card.surrotag_version}")


def print_surrogates(infos: Sequence[SurrogateInfo], console: Any | None = None) -> None:
    """The installed surrogates as one table row each, a broken card's problem in red below.

    Args:
        infos: :func:`surrotag.surrogates.registry.list_surrogates`.
        console: a :class:`rich.console.Console` (default: stdout's).
    """
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    if not infos:
        console.print("no surrogates installed (train one with 'surrotag surrogate train')")
        return
    table = Table(box=None, header_style="bold")
    for column in ("name", "version", "tagger", "features", "bayes", "from"):
        table.add_column(column)
    for info in infos:
        if info.problem is not None:
            table.add_row(info.name, "", "", "", "", info.origin)
            table.add_row("", f"[red]broken: {info.problem}[/red]", "", "", "", "")
            continue
        table.add_row(
            info.name, info.version, info.tagger, str(info.n_features), info.bayes, info.origin
        )
    console.print(table)

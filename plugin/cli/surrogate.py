"""``surrotag surrogate train|show|export``: train a surrogate, print its card, export ONNX.

Thin layer over :mod:`surrotag.surrogates`: ``train`` reads only the needed columns of a
Parquet table (pyarrow), drops rows with NaN/inf features or score (and says how many),
trains with a progress bar and writes the surrogate folder (card + safetensors weights).
Heavy imports (torch) happen inside the commands; ``show`` never imports torch.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import click

__all__ = ["export", "show", "train"]

_NAME_CHARACTERS = re.compile(r"[^a-z0-9_.-]+")


def _read_table(path: Path, columns: list[str], split: str | None = None) -> dict[str, Any]:
    """Only ``columns`` of a Parquet table, as float64 numpy arrays.

    With ``split``, only the rows whose ``split`` column equals it (e.g. ``train`` in the
    tables of ``surrotag reference build-table``).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from surrotag.errors import CorruptFileError, EmptyInputError, FormatError, InputFileError

    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise CorruptFileError(f"{path}: not a readable Parquet file ({error})") from None
    available = parquet.schema_arrow.names
    missing = [name for name in columns if name not in available]
    if missing:
        raise FormatError(
            f"{path}: no column(s) {', '.join(missing)} (has {', '.join(available)}); "
            "check --features and --score"
        )
    if split is not None and "split" not in available:
        raise FormatError(f"{path}: no 'split' column to select --split {split!r} from")
    try:
        table = parquet.read(columns=[*columns, "split"] if split is not None else columns)
    except (pa.ArrowInvalid, OSError) as error:
        raise CorruptFileError(f"{path}: corrupt Parquet data ({error})") from None
    if split is not None:
        present = sorted(str(v) for v in pc.unique(table.column("split")).to_pylist())
        table = table.filter(pc.equal(table.column("split"), split))
        if table.num_rows == 0:
            raise EmptyInputError(
                f"{path}: no rows with split == {split!r} (it has: {', '.join(present)})"
            )
    out = {}
    for name in columns:
        column = table.column(name)
        if not (
            pa.types.is_floating(column.type)
            or pa.types.is_integer(column.type)
            or pa.types.is_boolean(column.type)
        ):
            raise FormatError(f"{path}: column {name!r} is {column.type}, not numeric")
        out[name] = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
    return out


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r}: expected NAME=VALUE", param_hint=option)
        out[key.strip()] = rest.strip()
    return out


def _feature_entries(names: list[str], units: dict[str, str]) -> list[dict[str, str]]:
    """Name, unit and description per feature: the feature registry, overridden by --unit."""
    from surrotag.errors import SurrotagError
    from surrotag.features.registry import get_feature

    entries = []
    for name in names:
        try:
            known = get_feature(name)
            unit, description = known.unit, known.description
        except SurrotagError:
            unit, description = "", "not in the surrotag feature registry"
        entries.append({"name": name, "unit": units.get(name, unit), "description": description})
    return entries


def _working_points(
    specs: dict[str, str], scores: Any, column: str, table: Path
) -> list[dict[str, Any]]:
    """Working points ``NAME=THRESHOLD``; efficiency = fraction of training rows above."""
    points = []
    for name, text in specs.items():
        try:
            threshold = float(text)
        except ValueError:
            raise click.BadParameter(
                f"{name}={text}: threshold is not a number", param_hint="--working-point"
            ) from None
        points.append(
            {
                "name": name,
                "threshold": threshold,
                "efficiency": float((scores > threshold).mean()),
                "definition": f"{column} > {threshold}; efficiency = fraction of the {scores.size} "
                f"training rows of {table.name} above the cut",
            }
        )
    return points


@click.command()
@click.argument("table", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--features",
    "feature_list",
    required=True,
    help="Comma-separated feature columns, in the order the model takes them.",
)
@click.option("--score", "score_column", required=True, help="Column holding the tagger score.")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Surrogate folder to write (card.json + weights.safetensors).",
)
@click.option(
    "--bayes",
    type=click.Choice(["vi", "mcmc", "none"]),
    default="vi",
    show_default=True,
    help="Bayesian weight method.",
)
@click.option("--name", default=None, help="Registry name (default: the output folder's name).")
@click.option("--epochs", type=click.IntRange(min=1), default=200, show_default=True)
@click.option(
    "--draws",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Default weight draws (vi) or stored samples (mcmc).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="torch device, e.g. cuda.")
@click.option(
    "--score-space",
    type=click.Choice(["logit", "identity"]),
    default="logit",
    show_default=True,
    help="Model the logit of a probability score, or the score as it is (e.g. a stored logit).",
)
@click.option(
    "--clip",
    type=float,
    default=1e-6,
    show_default=True,
    help="Logit space: clip scores to [clip, 1-clip] first.",
)
@click.option(
    "--working-point",
    "working_point",
    multiple=True,
    metavar="NAME=THRESHOLD",
    help="A cut on the score (repeatable).",
)
@click.option(
    "--unit",
    multiple=True,
    metavar="FEATURE=UNIT",
    help="Unit of a feature not in the feature registry (repeatable).",
)
@click.option(
    "--fill",
    multiple=True,
    metavar="FEATURE=VALUE",
    help="Value that stands for NaN in FEATURE, in training and when tagging (repeatable; e.g. "
    "truth_top_n_contained=0 for jets matched to no top).",
)
@click.option("--tagger", default=None, help="Name of the tagger (default: the score column).")
@click.option("--description", default="", help="One sentence about this surrogate.")
@click.option(
    "--hidden",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Width of the velocity trunk (evaluated at every ODE step).",
)
@click.option(
    "--depth",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Hidden layers of the velocity trunk.",
)
@click.option(
    "--split",
    default=None,
    metavar="NAME",
    help="Train only on rows whose 'split' column is NAME (e.g. train); default: all rows.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing output folder.")
def train(
    table: Path,
    feature_list: str,
    score_column: str,
    output: Path,
    bayes: str,
    name: str | None,
    epochs: int,
    draws: int,
    seed: int,
    device: str,
    score_space: str,
    clip: float,
    working_point: tuple[str, ...],
    unit: tuple[str, ...],
    fill: tuple[str, ...],
    tagger: str | None,
    description: str,
    hidden: int,
    depth: int,
    split: str | None,
    force: bool,
) -> None:
    """Train a surrogate of the score column of TABLE (Parquet) given feature columns."""
    import numpy as np

    from surrotag.errors import FeatureError

    names = [item.strip() for item in feature_list.split(",") if item.strip()]
    if not names or len(set(names)) != len(names):
        raise click.BadParameter(
            f"{feature_list!r}: give distinct names, comma-separated", param_hint="--features"
        )
    name = name or _NAME_CHARACTERS.sub("-", output.name.lower()).strip("-.") or "surrogate"
    fills = _fills(fill, names)
    columns = _read_table(table, [*names, score_column], split=split)
    features = np.column_stack(
        [np.nan_to_num(columns[n], nan=fills[n]) if n in fills else columns[n] for n in names]
    )
    scores = columns[score_column]
    finite = np.isfinite(features).all(axis=1) & np.isfinite(scores)
    dropped = int((~finite).sum())
    if dropped:
        click.echo(
            f"{table}: dropped {dropped} of {finite.size} rows with NaN/inf features or score"
        )
    features, scores = features[finite], scores[finite]
    if score_space == "logit" and scores.size and (scores.min() < 0 or scores.max() > 1):
        raise FeatureError(
            f"{table}: column {score_column!r} spans [{scores.min():.4g}, {scores.max():.4g}], "
            "not a probability; use --score-space identity to model it as it is"
        )
    if not 0 <= clip < 0.5:
        raise click.BadParameter(f"{clip}: must lie in [0, 0.5)", param_hint="--clip")
    card_fields = _card_fields(
        fills,
        table,
        names,
        score_column,
        name,
        tagger,
        description,
        score_space,
        clip,
        unit,
        working_point,
        scores,
        finite.size,
        dropped,
    )
    if split is not None:
        card_fields["training"]["description"] += f"; rows with split == {split!r}"
    surrogate, report = _fit(
        features,
        scores,
        names,
        bayes,
        score_space,
        clip,
        epochs,
        draws,
        seed,
        device,
        hidden,
        depth,
    )
    card_fields["training"]["rows"].update(train=report.n_train, validation=report.n_val)
    card_fields["validation"] = {
        "best_val_loss": report.best_val_loss,
        "best_epoch": report.best_epoch,
        "epochs_run": report.epochs_run,
        "train_seconds": round(report.seconds, 3),
    }
    if report.mcmc is not None:
        card_fields["bayes"] = {"diagnostics": report.bayes_diagnostics()}
    from surrotag.surrogates.storage import save_surrogate

    card = save_surrogate(surrogate, card_fields, output, overwrite=force)
    click.echo(
        f"surrogate {card.name!r} ({bayes}, {len(names)} features, {report.n_train} train + "
        f"{report.n_val} validation rows, {report.epochs_run} epochs, best validation loss "
        f"{report.best_val_loss:.4f}) written to {output}"
    )


def _fills(values: tuple[str, ...], names: list[str]) -> dict[str, float]:
    """``--fill FEATURE=VALUE`` pairs as floats, for features of ``--features`` only."""
    fills = {}
    for key, text in _pairs(values, "--fill").items():
        if key not in names:
            raise click.BadParameter(f"{key!r} is not one of --features", param_hint="--fill")
        try:
            fills[key] = float(text)
        except ValueError:
            raise click.BadParameter(f"{key}={text}: not a number", param_hint="--fill") from None
    return fills


def _card_fields(
    fills: dict[str, float],
    table: Path,
    names: list[str],
    score_column: str,
    name: str,
    tagger: str | None,
    description: str,
    score_space: str,
    clip: float,
    unit: tuple[str, ...],
    working_point: tuple[str, ...],
    scores: Any,
    total: int,
    dropped: int,
) -> dict[str, Any]:
    from surrotag.io.parquet import sha256_file

    return {
        "name": name,
        "version": "0.1.0",
        "description": description,
        "tagger": {
            "name": tagger or score_column,
            "score": f"column {score_column!r} of {table.name}",
            "weights_sha256": None,
        },
        "features": [
            {**entry, **({"fill": fills[entry["name"]]} if entry["name"] in fills else {})}
            for entry in _feature_entries(names, _pairs(unit, "--unit"))
        ],
        "score": {"space": score_space, "clip": clip, "column": score_column},
        "working_points": _working_points(
            _pairs(working_point, "--working-point"), scores, score_column, table
        ),
        "training": {
            "description": f"{table.name}: features {', '.join(names)}; score {score_column}",
            "sha256": sha256_file(table),
            "rows": {"total": int(total), "used": int(scores.size), "dropped_nan": dropped},
        },
        "references": ["arXiv:2402.15558"],
    }


def _fit(
    features: Any,
    scores: Any,
    names: list[str],
    bayes: str,
    score_space: str,
    clip: float,
    epochs: int,
    draws: int,
    seed: int,
    device: str,
    hidden: int,
    depth: int,
) -> tuple[Any, Any]:
    """Train with a rich progress bar (one tick per epoch)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from surrotag.surrogates.train import TrainConfig, train_surrogate
    from surrotag.surrogates.transforms import logit_clip

    modelled = logit_clip(scores, eps=clip) if score_space == "logit" else scores
    config = TrainConfig(
        hidden=hidden, depth=depth, epochs=epochs, draws=draws, seed=seed, device=device
    )
    columns = (
        TextColumn("[bold]training[/bold] {task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} epochs"),
        TextColumn("{task.fields[loss]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task(bayes, total=epochs, loss="")

        def tick(state: dict[str, Any]) -> None:
            if state.get("phase") == "mcmc":
                progress.update(task, description="mcmc samples", loss="")
                return
            loss = state["best_val_loss"]
            progress.update(
                task,
                completed=state["epoch"],
                loss=f"best val {loss:.4f}" if math.isfinite(loss) else "",
            )

        return train_surrogate(
            features, modelled, feature_names=names, bayes=bayes, config=config, progress=tick
        )


@click.command()
@click.argument("surrogate")
@click.option("--json", "as_json", is_flag=True, help="Print the card as JSON.")
def show(surrogate: str, as_json: bool) -> None:
    """Print the card of SURROGATE (a name or a folder), after checking its files."""
    import json

    from surrotag.surrogates.card import load_card
    from surrotag.surrogates.registry import resolve_surrogate
    from surrotag.surrogates.storage import check_model_config, file_status, verify_files

    folder = resolve_surrogate(surrogate)
    card = load_card(folder)
    check_model_config(card, folder / "card.json")
    status = file_status(folder, card)
    verify_files(folder, card)
    if as_json:
        click.echo(json.dumps(card.to_dict(), indent=2))
        return
    _print_card(card, folder, status)


def _number(value: Any) -> str:
    """A validation figure for the terminal: 4 significant digits for floats."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _print_card(card: Any, folder: Path, status: dict[str, str]) -> None:
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
        f"solver: {card.solver['method']}, {card.solver['steps']} steps"
    )
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


@click.command()
@click.argument("surrogate")
@click.option(
    "--onnx",
    "onnx_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="ONNX file to write.",
)
@click.option(
    "--draw",
    type=click.IntRange(min=0),
    default=None,
    help="Export weight draw N of the default draws (default: nominal weights).",
)
@click.option(
    "--all-draws",
    is_flag=True,
    help="Also write every default draw to <stem>-drawNNN.onnx beside --onnx.",
)
def export(surrogate: str, onnx_path: Path, draw: int | None, all_draws: bool) -> None:
    """Export the velocity field of SURROGATE (a name or a folder) to ONNX."""
    from surrotag.surrogates.export import export_onnx
    from surrotag.surrogates.registry import resolve_surrogate
    from surrotag.surrogates.storage import load_surrogate

    model, card = load_surrogate(resolve_surrogate(surrogate))
    written = [export_onnx(model, onnx_path, card=card, draw=draw)]
    if all_draws:
        written += [
            export_onnx(
                model, onnx_path.with_name(f"{onnx_path.stem}-draw{i:03d}.onnx"), card=card, draw=i
            )
            for i in range(model.default_draws)
        ]
    label = "nominal weights" if draw is None else f"draw {draw}"
    click.echo(
        f"exported {card.name!r} ({label}) to {written[0]}"
        + (f" and {len(written) - 1} draw files" if all_draws else "")
    )

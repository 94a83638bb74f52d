"""``surrotag surrogate train|show|solver|export``: train, print the card, choose the solver,
export ONNX.

Thin layer: ``train`` reads its options with :mod:`surrotag.training_options` and calls
:mod:`surrotag.training` (read the table's rows, train, write the surrogate folder) under a
progress bar; ``show``, ``solver`` and ``export`` call
:mod:`surrotag.surrogates`. Heavy imports (torch) happen inside the commands; ``show`` never
imports torch.
"""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["export", "show", "solver", "train"]


@click.command()
@click.argument("table", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--features", "feature_list", required=True,
              help="Comma-separated feature columns, in the "
              "order the model takes them.")  # fmt: skip
@click.option("--score", "score_column", required=True, help="Column holding the tagger score.")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Surrogate folder to write (card.json + weights.safetensors).")  # fmt: skip
@click.option("--bayes", type=click.Choice(["vi", "mcmc", "none"]), default="vi", show_default=True,
              help="Bayesian weight method.")  # fmt: skip
@click.option("--name", default=None, help="Registry name (default: the output folder's name).")
@click.option("--epochs", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--draws", type=click.IntRange(min=1), default=20, show_default=True,
              help="Default weight draws (vi) or stored samples (mcmc).")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="torch device, e.g. cuda.")
@click.option(
    "--score-space",
    type=click.Choice(["logit", "identity"]),
    default="logit",
    show_default=True,
    help="Model the logit of a probability score, or the score as it is (e.g. a stored logit).",
)
@click.option("--clip", type=float, default=1e-6, show_default=True,
              help="Logit space: clip scores to [clip, 1-clip] first.")  # fmt: skip
@click.option("--working-point", "working_point", multiple=True, metavar="NAME=THRESHOLD",
              help="A cut on the score (repeatable).")  # fmt: skip
@click.option("--unit", multiple=True, metavar="FEATURE=UNIT",
              help="Unit of a feature not in the feature registry (repeatable).")  # fmt: skip
@click.option("--fill", multiple=True, metavar="FEATURE=VALUE",
              help="Value that stands for NaN in FEATURE, in training and when tagging "
              "(repeatable; e.g. truth_top_n_contained=0 for jets matched to no top).")  # fmt: skip
@click.option("--tagger", default=None, help="Name of the tagger (default: the score column).")
@click.option("--description", default="", help="One sentence about this surrogate.")
@click.option("--hidden", type=click.IntRange(min=1), default=64, show_default=True,
              help="Width of the velocity trunk (evaluated at every ODE step).")  # fmt: skip
@click.option("--depth", type=click.IntRange(min=1), default=2, show_default=True,
              help="Hidden layers of the velocity trunk.")  # fmt: skip
@click.option("--split", default=None, metavar="NAME",
              help="Train only on rows whose 'split' column is "
              "NAME (e.g. train); default: all rows.")  # fmt: skip
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
    from surrotag.io.progress import epoch_progress
    from surrotag.surrogates.train import TrainConfig
    from surrotag.training import read_training_rows, surrogate_name, train_on_rows
    from surrotag.training_options import OptionError, training_options

    try:
        names, fills, card = training_options(
            feature_list,
            name=name or surrogate_name(output),
            score_space=score_space,
            clip=clip,
            working_points=working_point,
            units=unit,
            fills=fill,
            tagger=tagger,
            description=description,
        )
    except OptionError as error:
        raise click.BadParameter(error.reason, param_hint=error.option) from None
    config = TrainConfig(
        hidden=hidden, depth=depth, epochs=epochs, draws=draws, seed=seed, device=device
    )
    rows = read_training_rows(table, names, score_column, fills=fills, split=split)
    if rows.dropped:
        click.echo(
            f"{table}: dropped {rows.dropped} of {rows.total} rows with NaN/inf features or score"
        )
    with epoch_progress(f"training {bayes}", epochs) as tick:
        written, report = train_on_rows(
            rows, card, output, bayes=bayes, config=config, overwrite=force, progress=tick
        )
    click.echo(
        f"surrogate {written.name!r} ({bayes}, {len(names)} features, {report.n_train} train + "
        f"{report.n_val} validation rows, {report.epochs_run} epochs, best validation loss "
        f"{report.best_val_loss:.4f}) written to {output}"
    )


@click.command()
@click.argument("surrogate")
@click.option("--json", "as_json", is_flag=True, help="Print the card as JSON.")
def show(surrogate: str, as_json: bool) -> None:
    """Print the card of SURROGATE (a name or a folder), after checking its files."""
    import json

    from surrotag.card_console import print_card
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
    print_card(card, folder, status)


@click.command()
@click.argument("folder", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--tolerance", type=click.FloatRange(min=0, min_open=True), default=1e-3,
              show_default=True, help="Largest accepted |P_rk4 - P_dopri5|.")  # fmt: skip
@click.option("--rows", type=click.IntRange(min=2), default=2000, show_default=True,
              help="Objects of the stored support measured.")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Measure and print; leave the card as it is.")
def solver(folder: Path, tolerance: float, rows: int, dry_run: bool) -> None:
    """Choose the RK4 steps and time grid of the surrogate in FOLDER by measured error.

    The objects are training objects stored with the surrogate (its support), so no table
    is needed; the reference is adaptive Dormand-Prince. Only the card changes.
    """
    from surrotag.card_console import solver_line, solver_row
    from surrotag.surrogates.solver_choice import choose_solver_on_support

    check = choose_solver_on_support(folder, tolerance=tolerance, rows=rows, write=not dry_run)
    for row in check.table:
        click.echo(solver_row(row))
    chosen = {"method": "rk4", "steps": check.steps, "grid_power": check.grid_power}
    if check.nodes is not None:
        chosen["nodes"] = check.nodes
    chosen["check"] = check.to_dict()
    met = "" if check.met else "MISSES the tolerance at the most steps tried; "
    verdict = "card written" if not dry_run else "card left as it was (--dry-run)"
    click.echo(f"{folder.name}: {solver_line(chosen)}; {check.objects} objects; {met}{verdict}")


@click.command()
@click.argument("surrogate")
@click.option("--onnx", "onnx_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="ONNX file to write.")  # fmt: skip
@click.option("--draw", type=click.IntRange(min=0), default=None,
              help="Export weight draw N of the default draws "
              "(default: nominal weights).")  # fmt: skip
@click.option("--all-draws", is_flag=True,
              help="Also write every default draw to "
              "<stem>-drawNNN.onnx beside --onnx.")  # fmt: skip
def export(surrogate: str, onnx_path: Path, draw: int | None, all_draws: bool) -> None:
    """Export the velocity field of SURROGATE (a name or a folder) to ONNX."""
    from surrotag.surrogates.export import export_draws, export_onnx
    from surrotag.surrogates.registry import resolve_surrogate
    from surrotag.surrogates.storage import load_surrogate

    model, card = load_surrogate(resolve_surrogate(surrogate))
    written = [export_onnx(model, onnx_path, card=card, draw=draw)]
    if all_draws:
        written += export_draws(model, onnx_path, card=card)
    label = "nominal weights" if draw is None else f"draw {draw}"
    click.echo(
        f"exported {card.name!r} ({label}) to {written[0]}"
        + (f" and {len(written) - 1} draw files" if all_draws else "")
    )

"""``surrotag reference ship-surrogate NAME``: retrain a shipped surrogate from scratch;
``surrotag reference ship-solver NAME``: choose its RK4 steps and time grid by measurement;
``surrotag reference build-event-table`` and ``ship-event-surrogate``: the same for the event
classifier's surrogate; ``surrotag reference anomaly-surrogates``: the anomaly-score
surrogates' table, training and validation."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = [
    "anomaly_surrogates",
    "build_event_table",
    "event_pipeline",
    "ship_event_surrogate",
    "ship_solver",
    "ship_surrogate",
    "validate_event_surrogate",
]

_NAMES = ("top-tagger-delphes", "top-tagger-particle", "top-tagger-parton")


@click.command("ship-surrogate")
@click.argument("name", type=click.Choice(_NAMES))
@click.option("--table", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Reference table "
              "(default: $SURROTAG_DATA/reference/top_tagger_table.parquet).")  # fmt: skip
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Surrogate folder (default: surrogates/shipped/NAME "
              "of this checkout).")  # fmt: skip
@click.option("--epochs", type=click.IntRange(min=1), default=60, show_default=True)
@click.option("--patience", type=click.IntRange(min=1), default=20, show_default=True,
              help="Epochs without validation improvement before stopping.")  # fmt: skip
@click.option("--bayes", type=click.Choice(["vi", "mcmc"]), default="mcmc", show_default=True)
@click.option("--draws", type=click.IntRange(min=2), default=20, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--flow-weights",
    type=click.Choice(["event", "none"]),
    default="event",
    show_default=True,
    help="Weights of the training rows in the flow's loss and likelihood: the event weights, "
    "or none (p(score | features) does not depend on how the features were sampled; the "
    "working points and efficiency maps stay weighted).",
)
@click.option("--device", default="cpu", show_default=True, help="torch device, e.g. cuda.")
@click.option("--force", is_flag=True, help="Overwrite an existing folder.")
def ship_surrogate(
    name: str,
    table: Path | None,
    out: Path | None,
    epochs: int,
    patience: int,
    bayes: str,
    draws: int,
    seed: int,
    flow_weights: str,
    device: str,
    force: bool,
) -> None:
    """Train shipped surrogate NAME on the reference table: card, working points, map."""
    from surrotag.errors import InputFileError
    from surrotag.io.progress import epoch_progress
    from surrotag.reference.cache import TABLE_NAME, reference_dir
    from surrotag.reference.ship import ship_surrogate as ship
    from surrotag.surrogates.registry import shipped_folder

    table = table or reference_dir() / TABLE_NAME
    if not table.is_file():
        raise InputFileError(
            f"{table}: no reference table; make one with surrotag reference pipeline"
        )
    out = out or shipped_folder() / name
    with epoch_progress(name, epochs) as tick:
        card = ship(
            name, table, out, epochs=epochs, patience=patience, bayes=bayes, draws=draws, seed=seed,
            device=device, overwrite=force, progress=tick, flow_weights=flow_weights,
        )  # fmt: skip
    points = ", ".join(f"{p['name']} > {p['threshold']:.3f}" for p in card.working_points)
    click.echo(f"{name}: written to {out} ({points})")


@click.command("ship-solver")
@click.argument("name", type=click.Choice(_NAMES))
@click.option("--table", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Reference table "
              "(default: $SURROTAG_DATA/reference/top_tagger_table.parquet).")  # fmt: skip
@click.option("--folder", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Surrogate folder (default: surrogates/shipped/NAME "
              "of this checkout).")  # fmt: skip
@click.option("--tolerance", type=click.FloatRange(min=0, min_open=True), default=1e-3,
              show_default=True, help="Largest accepted |P_rk4 - P_dopri5|.")  # fmt: skip
def ship_solver(name: str, table: Path | None, folder: Path | None, tolerance: float) -> None:
    """Measure the RK4 error of shipped surrogate NAME; write the fewest steps into its card."""
    from surrotag.card_console import solver_row
    from surrotag.errors import InputFileError
    from surrotag.reference.cache import TABLE_NAME, reference_dir
    from surrotag.reference.ship import choose_shipped_solver
    from surrotag.surrogates.registry import shipped_folder

    table = table or reference_dir() / TABLE_NAME
    if not table.is_file():
        raise InputFileError(
            f"{table}: no reference table; make one with surrotag reference pipeline"
        )
    folder = folder or shipped_folder() / name
    check = choose_shipped_solver(name, table, folder, tolerance=tolerance)
    for row in check.table:
        click.echo(solver_row(row))
    verdict = "meets" if check.met else "MISSES"
    grid = "fitted time nodes" if check.nodes else f"time grid power {check.grid_power:g}"
    click.echo(
        f"{name}: {check.steps} RK4 steps, {grid}, max |dP| "
        f"{check.max_error:.1e} ({verdict} {tolerance:g}; {check.objects} objects x "
        f"{len(check.thresholds)} thresholds x {check.draws} draws); card written in {folder}"
    )


@click.command("build-event-table")
@click.option("--train", "train", multiple=True,
              help="Samples of the train split (comma-separated or repeated).")  # fmt: skip
@click.option("--val", "val", multiple=True, help="Samples of the val split.")
@click.option("--test", "test", multiple=True, help="Samples of the test split.")
@click.option("--classifier", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The internal event classifier's folder (train-event-classifier).")  # fmt: skip
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Event table to write (Parquet).")  # fmt: skip
def build_event_table(
    train: tuple[str, ...], val: tuple[str, ...], test: tuple[str, ...], classifier: Path, out: Path
) -> None:
    """Write the event surrogate's training table: event features and the classifier's logit.

    One row per dilepton event; every sample belongs to one split, and a split may be left
    out (a validation table of fresh samples is all test).
    """
    from surrotag.cli.reference import _paths
    from surrotag.reference.event_table import build_event_training_table

    splits = {name: _paths(given) for name, given in (("train", train), ("val", val),
              ("test", test)) if given}  # fmt: skip
    path = build_event_training_table(splits, classifier, out)
    click.echo(f"{path}: event table of {sum(map(len, splits.values()))} samples")


@click.command("ship-event-surrogate")
@click.option("--table", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Event table (build-event-table).")  # fmt: skip
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Surrogate folder (default: surrogates/shipped/stop-classifier-delphes "
              "of this checkout).")  # fmt: skip
@click.option("--epochs", type=click.IntRange(min=1), default=60, show_default=True)
@click.option("--patience", type=click.IntRange(min=1), default=20, show_default=True,
              help="Epochs without validation improvement before stopping.")  # fmt: skip
@click.option("--bayes", type=click.Choice(["vi", "mcmc"]), default="mcmc", show_default=True)
@click.option("--draws", type=click.IntRange(min=2), default=40, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--fraction", type=click.FloatRange(min=0, max=1, min_open=True), default=1.0,
              show_default=True, help="Share of the training rows; below 1 the card says "
              "DEGRADED (the validation's positive control).")  # fmt: skip
@click.option("--force", is_flag=True, help="Overwrite an existing folder.")
def ship_event_surrogate(
    table: Path,
    out: Path | None,
    epochs: int,
    patience: int,
    bayes: str,
    draws: int,
    seed: int,
    fraction: float,
    force: bool,
) -> None:
    """Train the shipped event surrogate stop-classifier-delphes on the event table."""
    from surrotag.io.progress import epoch_progress
    from surrotag.reference.ship_event import EVENT_SURROGATE
    from surrotag.reference.ship_event import ship_event_surrogate as ship
    from surrotag.surrogates.registry import shipped_folder

    out = out or shipped_folder() / EVENT_SURROGATE
    with epoch_progress(EVENT_SURROGATE, epochs) as tick:
        card = ship(
            table, out, epochs=epochs, patience=patience, bayes=bayes, draws=draws, seed=seed,
            fraction=fraction, overwrite=force, progress=tick,
        )  # fmt: skip
    points = ", ".join(f"{p['name']} > {p['threshold']:.3f}" for p in card.working_points)
    click.echo(f"{EVENT_SURROGATE}: written to {out} ({points})")


@click.command("validate-event-surrogate")
@click.option("--folder", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Surrogate folder (default: surrogates/shipped/stop-classifier-delphes "
              "of this checkout).")  # fmt: skip
@click.option("--classifier", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Internal event classifier (default: "
              "$SURROTAG_DATA/reference/event_classifier_heavy).")  # fmt: skip
def validate_event_surrogate(folder: Path | None, classifier: Path | None) -> None:
    """Run the pre-registered validation of the event surrogate on its fresh samples."""
    from surrotag.reference.cache import EVENT_CLASSIFIER_NAME, reference_dir
    from surrotag.reference.ship_event import EVENT_SURROGATE, VALIDATION_FILE
    from surrotag.surrogates.registry import shipped_folder
    from surrotag.validation.shipped_event import validate_shipped_event_surrogate

    folder = folder or shipped_folder() / EVENT_SURROGATE
    classifier = classifier or reference_dir() / EVENT_CLASSIFIER_NAME
    validation = validate_shipped_event_surrogate(folder, classifier)
    for goal in validation.goals():
        value = "n/a" if goal.value is None else f"{goal.value:.3f}"
        verdict = {True: "met", False: "MISSED", None: "not testable"}[goal.met]
        click.echo(f"  {goal.name}: {value} (goal {goal.target}) {verdict}; {goal.note}")
    click.echo(f"goals met: {validation.goals_met}; report: {folder / VALIDATION_FILE}")


@click.command("event-pipeline")
def event_pipeline() -> None:
    """Samples, internal event classifier and event table of the stop dilepton search.

    Writes into $SURROTAG_DATA/reference and skips every step whose output is there; then
    run ship-event-surrogate and validate-event-surrogate.
    """
    from surrotag.reference.event_pipeline import run_event_pipeline

    outputs = run_event_pipeline(progress=click.echo)
    click.echo(f"classifier {outputs['classifier']}, event table {outputs['table']}")


_ANOMALY_NAMES = ("anomaly-oe-delphes", "anomaly-lgae-delphes")


@click.command("anomaly-surrogates")
@click.option("--ship", "names", multiple=True, type=click.Choice(_ANOMALY_NAMES),
              help="Surrogate to train and validate (repeatable; default: both).")  # fmt: skip
@click.option("--table-only", is_flag=True, help="Build the table, train nothing.")
@click.option("--validate-only", is_flag=True,
              help="Validate the existing surrogate folders, train nothing.")  # fmt: skip
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Parent of the surrogate folders (default: surrogates/shipped of this "
              "checkout).")  # fmt: skip
@click.option("--force", is_flag=True, help="Overwrite existing surrogate folders.")
def anomaly_surrogates(
    names: tuple[str, ...], table_only: bool, validate_only: bool, out_dir: Path | None,
    force: bool,
) -> None:  # fmt: skip
    """Table, training and validation of the anomaly-score surrogates (pre-registered plan).

    Builds (or reuses) $SURROTAG_DATA/reference/anomaly_table.parquet from the plan's
    samples (surrotag.reference.anomaly_surrogates.ANOMALY_SURROGATE_PLAN: QCD, t tbar and
    scalar-jet calibration jets, no search signal) scored by the taggers of surrotag
    reference anomaly-study, trains each surrogate on its train split and writes
    validation.json (cells per prong class, two-sample AUCs, OOD probes) from its test split.
    """
    from surrotag.io.atomic import write_json_atomic
    from surrotag.io.progress import epoch_progress
    from surrotag.reference.anomaly_surrogates import (
        ANOMALY_SURROGATE_PLAN,
        TABLE_NAME,
        build_anomaly_table,
        ship_anomaly_surrogate,
    )
    from surrotag.reference.cache import reference_dir
    from surrotag.surrogates.registry import shipped_folder
    from surrotag.validation.anomaly_surrogate import validate_anomaly_surrogate

    table = reference_dir() / TABLE_NAME
    if not table.is_file():
        build_anomaly_table(
            reference_dir() / "anomaly", table, log=lambda line: click.echo(line, err=True)
        )
    if table_only:
        click.echo(f"table: {table}")
        return
    parent = out_dir or shipped_folder()
    for name in names or _ANOMALY_NAMES:
        folder = parent / name
        if not validate_only:
            epochs = ANOMALY_SURROGATE_PLAN["training"]["epochs"]
            with epoch_progress(name, epochs) as tick:
                card = ship_anomaly_surrogate(name, table, folder, overwrite=force, progress=tick)
            point = card.working_points[0]
            click.echo(f"{name}: written to {folder} ({point['name']} > {point['threshold']:.3f})")
        report = validate_anomaly_surrogate(folder, table)
        write_json_atomic(folder / "validation.json", report, indent=1)
        for item in report["goals"]:
            verdict = {True: "met", False: "MISSED", None: "n/a"}[item["met"]]
            value = "n/a" if item["value"] is None else f"{item['value']:.3f}"
            click.echo(f"  {item['name']}: {value} (goal {item['goal']}) {verdict}")

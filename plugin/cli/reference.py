"""``surrotag reference generate|train-tagger|score|build-table``: the reference experiment.

``generate`` writes a reference sample (Pythia 8 + detector + jets); ``train-tagger``,
``score`` and ``build-table`` train the internal tagger, score samples with it and write the
surrogate training table (:mod:`surrotag.reference.tagger`, ``.score``, ``.table``).
"""

from __future__ import annotations

from pathlib import Path

import click

from surrotag.cli import options
from surrotag.reference.processes import PROCESSES

__all__ = [
    "anomaly_study",
    "build_table",
    "generate",
    "hepmc",
    "pipeline",
    "score",
    "train_event_classifier",
    "train_tagger",
]


@click.command("hepmc")
@click.argument("process")
@options.events
@click.option("--seed", type=click.IntRange(1, 900_000_000), default=1, show_default=True)
@options.mass
@options.lsp_mass
@options.x_masses
@click.option("-o", "--out", type=click.Path(dir_okay=False), required=True, help="Output file.")
def hepmc(
    process: str,
    n_events: int,
    seed: int,
    mass: float | None,
    lsp_mass: float | None,
    x_masses: tuple[float, float] | None,
    out: str,
) -> None:
    """Write N Pythia 8 events of PROCESS as HepMC3 (``.gz``: compressed), no detector."""
    from surrotag.reference.hepmc_out import write_hepmc

    path = write_hepmc(
        process, n_events, seed, out, mass=mass, lsp_mass=lsp_mass, x_masses=x_masses
    )
    click.echo(f"{path}: {n_events} {process} events (HepMC3, Pythia 8, seed {seed})")


@click.command("generate")
@click.argument("process", type=click.Choice(sorted(PROCESSES)))
@options.events
@click.option("--seed", type=int, default=1, show_default=True, help="Master random seed.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes (output is reproducible "
              "for equal seed and jobs).")  # fmt: skip
@click.option(
    "--ecm", type=float, default=13000.0, show_default=True, help="Centre-of-mass energy in GeV."
)
@options.mass
@options.lsp_mass
@options.x_masses
@click.option("-o", "--out", type=click.Path(dir_okay=False), default=None,
              help="Output Parquet file (default: the cache under $SURROTAG_DATA).")  # fmt: skip
def generate(
    process: str,
    n_events: int,
    seed: int,
    jobs: int,
    ecm: float,
    mass: float | None,
    lsp_mass: float | None,
    x_masses: tuple[float, float] | None,
    out: str | None,
) -> None:
    """Generate PROCESS (a preset of surrotag.reference.processes) into canonical Parquet.

    The presets with leptons or MET (ttbar, ttbar-dilepton, wjets, zprime-ttbar-inclusive,
    znunu, stop-pair, stop-pair-dilepton) also store the Delphes CMS-card physics objects:
    electrons, muons, photons, small-R jets with b-tags, MET. The stop-pair presets need
    --mass (stop) and --lsp-mass (neutralino), e.g. ``surrotag reference generate stop-pair
    --mass 1000 --lsp-mass 100 --events 1000``; below the top threshold the stop decays to
    b W neutralino. y-xx needs --mass (Y) and --x-masses (X, X'), e.g. ``--mass 2000
    --x-masses 200,400``.
    """
    import time

    from surrotag.io.progress import step_progress
    from surrotag.reference.generate import describe_sample
    from surrotag.reference.generate import generate as run
    from surrotag.reference.processes import process_spec

    process_spec(process, mass, lsp_mass, x_masses)  # a bad combination: one line, first
    start, started_at = time.perf_counter(), time.time()
    with step_progress(process, n_events, clock="remaining") as update:
        path = run(
            process,
            n_events,
            seed,
            jobs=jobs,
            ecm=ecm,
            out=out,
            mass=mass,
            progress=lambda step, _total: update(advance=step),
            lsp_mass=lsp_mass,
            x_masses=x_masses,
        )
    elapsed = time.perf_counter() - start
    click.echo(describe_sample(path, jobs=jobs, since=started_at, seconds=elapsed))


def _paths(values: tuple[str, ...]) -> list[str]:
    """Comma-separated and repeated option values as one list."""
    return [item for value in values for item in value.split(",") if item]


@click.command("train-tagger")
@click.option("--top", "top", multiple=True, required=True,
              help="Top sample(s) (ttbar-allhad, zprime-ttbar), "
              "comma-separated or repeated.")  # fmt: skip
@click.option("--qcd", "qcd", multiple=True, required=True, help="QCD sample(s) (qcd-dijet).")
@click.option("-o", "--out", type=click.Path(file_okay=False), required=True,
              help="Output folder of the tagger (tagger.safetensors + tagger.json).")  # fmt: skip
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="torch device.")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--patience", type=click.IntRange(min=1), default=5, show_default=True,
              help="Early stopping: epochs without a lower validation loss.")  # fmt: skip
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="torch CPU threads (1 is fastest on shared cores).")  # fmt: skip
def train_tagger(
    top: tuple[str, ...],
    qcd: tuple[str, ...],
    out: str,
    epochs: int,
    seed: int,
    device: str,
    batch_size: int,
    patience: int,
    threads: int,
) -> None:
    """Train the internal top tagger (Particle Flow Network on constituents)."""
    from surrotag.io.progress import step_progress
    from surrotag.reference.tagger import train_tagger as run

    with step_progress("reading samples", epochs) as update:

        def progress(epoch: int, total: int, metrics: dict[str, float]) -> None:
            text = f"val loss {metrics['val_loss']:.4f}, val AUC {metrics['val_auc']:.4f}"
            update(completed=epoch, description=f"epoch {epoch}: {text}")

        report = run(
            _paths(top),
            _paths(qcd),
            epochs=epochs,
            seed=seed,
            device=device,
            out=out,
            batch_size=batch_size,
            patience=patience,
            threads=threads,
            progress=progress,
        )
    click.echo(report.summary())


@click.command("train-event-classifier")
@click.option("--signal", "signal", multiple=True, required=True,
              help="Stop sample(s) (stop-pair-dilepton), comma-separated or repeated.")  # fmt: skip
@click.option("--background", "background", multiple=True, required=True,
              help="Background sample(s) (ttbar-dilepton).")  # fmt: skip
@click.option("-o", "--out", type=click.Path(file_okay=False), required=True,
              help="Output folder (event_classifier.safetensors and .json).")  # fmt: skip
@click.option("--hidden", default="64,64,64", show_default=True,
              help="Hidden-layer widths, comma-separated.")  # fmt: skip
@click.option("--epochs", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--patience", type=click.IntRange(min=1), default=5, show_default=True,
              help="Early stopping: epochs without a lower validation loss.")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True)
def train_event_classifier(
    signal: tuple[str, ...],
    background: tuple[str, ...],
    out: str,
    hidden: str,
    epochs: int,
    patience: int,
    seed: int,
) -> None:
    """Train the internal event classifier of the stop dilepton search (arXiv:1804.09278).

    Reads the dilepton events (two leptons, finite MET) of the samples, weighted by their
    cross-sections, trains on a split of them and prints the test split's ROC AUC and the
    signal efficiency at background efficiencies 1e-3 and 1e-2.
    """
    from surrotag.errors import InputValueError
    from surrotag.reference.event_classifier import (
        ClassifierConfig,
        load_dilepton_events,
        save_event_classifier,
    )
    from surrotag.reference.event_classifier import train_event_classifier as run

    try:
        widths = tuple(int(width) for width in hidden.split(","))
    except ValueError:
        raise InputValueError(f"--hidden {hidden!r}: give integers, e.g. 64,64,64") from None
    config = ClassifierConfig(hidden=widths, epochs=epochs, patience=patience)
    signal_events, signal_sha = load_dilepton_events(_paths(signal))
    background_events, background_sha = load_dilepton_events(_paths(background))
    model, report = run(signal_events, background_events, config=config, seed=seed,
                        inputs_sha256=signal_sha | background_sha)  # fmt: skip
    path = save_event_classifier(model, report, out)
    points = ", ".join(
        f"eps_S({p.target:g}) = "
        + ("n/a" if p.signal_efficiency is None else f"{p.signal_efficiency:.3f}")
        + f" ({p.n_background_effective:.0f} eff. bkg)"
        for p in report.working_points
    )
    click.echo(f"{path}: test AUC {report.auc:.4f}, {points}; best epoch {report.best_epoch}")


@click.command("anomaly-study")
@click.option("-o", "--out", type=click.Path(file_okay=False), default=None,
              help="Output folder (default: $SURROTAG_DATA/reference/anomaly).")  # fmt: skip
def anomaly_study(out: str | None) -> None:
    """Train VAE, DisCo-VAE, OE-VAE (arXiv:2007.01850) and LGAE (arXiv:2212.07347) on QCD
    jets and measure them.

    Runs the pre-registered plan (surrotag.reference.anomaly_plan.ANOMALY_PLAN): generates
    or reuses its samples, trains the four taggers, and writes anomaly_study.json (AUCs of
    top, W and Z jets; signal efficiencies and the Jensen-Shannon distance of the QCD jet
    mass at 10% QCD efficiency) and anomaly_study.png beside the taggers' folders.
    """
    from surrotag.reference.anomaly import REPORT_NAME, run_anomaly_study
    from surrotag.reference.cache import reference_dir

    folder = Path(out) if out is not None else reference_dir() / "anomaly"
    report = run_anomaly_study(folder, log=lambda line: click.echo(line, err=True))
    for name, result in report["results"].items():
        auc = result["auc"][result["headline_score"]]
        point = result["working_point"]
        click.echo(
            f"{name}: AUC top {auc['top']:.3f}, W {auc['W']:.3f}, Z {auc['Z']:.3f} "
            f"({result['headline_score']}); at {point['qcd_efficiency']:.3f} QCD efficiency "
            f"JS distance of the QCD mass {point['js_distance_qcd_mass']:.3f}"
        )
    click.echo(f"report: {folder / REPORT_NAME}")


@click.command("score")
@click.argument("sample", type=click.Path(dir_okay=False))
@click.option("--tagger", "tagger", type=click.Path(file_okay=False), required=True,
              help="Tagger folder (from train-tagger).")  # fmt: skip
@click.option("-o", "--out", type=click.Path(dir_okay=False), default=None,
              help="Scores Parquet (default: next to SAMPLE).")  # fmt: skip
def score(sample: str, tagger: str, out: str | None) -> None:
    """Score every fat jet of SAMPLE with the internal tagger (per-jet logits)."""
    from rich.console import Console

    from surrotag.reference.score import score_sample

    with Console(stderr=True).status(f"scoring {sample}"):
        path, provenance = score_sample(sample, tagger, out)
    click.echo(
        f"{path}: {provenance['n_jets']} jets of {provenance['n_events']} events, "
        f"tagger {provenance['tagger']['sha256'][:16]}"
    )


@click.command("build-table")
@click.option("--top", "top", multiple=True, required=True,
              help="Top samples as SPLIT=PATH (SPLIT: train, "
              "val, test), or three plain paths.")  # fmt: skip
@click.option("--qcd", "qcd", multiple=True, required=True, help="QCD samples, same form.")
@click.option("--tagger", "tagger", type=click.Path(file_okay=False), required=True)
@click.option(
    "-o", "--out", type=click.Path(dir_okay=False), required=True, help="Output table (Parquet)."
)
@click.option("--performance", "performance_dir", type=click.Path(file_okay=False), default=None,
              help="Also write performance.json and roc.png (test split) here.")  # fmt: skip
def build_table(
    top: tuple[str, ...], qcd: tuple[str, ...], tagger: str, out: str, performance_dir: str | None
) -> None:
    """Write the surrogate training table: features, internal logit, label, split."""
    from surrotag.io.progress import step_progress
    from surrotag.reference.table import assign_splits
    from surrotag.reference.table import build_table as run

    tops, qcds = assign_splits(_paths(top)), assign_splits(_paths(qcd))
    n_samples = sum(len(v) for v in (*tops.values(), *qcds.values()))
    with step_progress("samples", n_samples, clock=None) as update:

        def progress(path: str) -> None:
            update(advance=1, description=f"reading {path}")

        table, provenance = run(tops, qcds, tagger, out=out, progress=progress)
    click.echo(
        f"{out}: {provenance['n_rows']} jets {provenance['n_rows_per_split']}, "
        f"tagger {provenance['tagger']['sha256'][:16]}"
    )
    if performance_dir is not None:
        from surrotag.reference.performance import evaluate_table

        report = evaluate_table(table, out_dir=performance_dir)
        click.echo("\n".join(report.summary_lines()))


@click.command("pipeline")
@click.option("--train-events", type=click.IntRange(min=1), default=150_000, show_default=True,
              help="Generated events per process for training (measured: ttbar "
              "gives 1.07 contained top jets and QCD 1.70 jets per event for the "
              "tagger; the defaults give 2.4e5 top and 3.8e5 QCD jets over the "
              "three splits, 1.6e5 / 2.5e5 in the training split).")  # fmt: skip
@click.option("--eval-events", type=click.IntRange(min=1), default=25_000, show_default=True,
              help="Generated events per process for each of "
              "the validation and test splits.")  # fmt: skip
@click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=15, show_default=True,
              help="Tagger training epochs (15: 13 min on one core "
              "for the default set, val AUC 0.978).")  # fmt: skip
@click.option("-o", "--out", type=click.Path(file_okay=False), default=None,
              help="Output folder (default: $SURROTAG_DATA/reference).")  # fmt: skip
@click.pass_context
def pipeline(
    ctx: click.Context,
    train_events: int,
    eval_events: int,
    jobs: int,
    epochs: int,
    out: str | None,
) -> None:
    """Generate the training set, train the internal tagger and write the surrogate table.

    One command for the whole reference experiment: six samples (ttbar-allhad and qcd-dijet,
    train/val/test with disjoint seeds), the tagger (train split), the table with its
    performance report (test split). Samples already generated with the same settings are
    reused, so an interrupted run resumes.
    """
    from pathlib import Path

    from surrotag.reference.cache import (
        PIPELINE_TAGGER,
        TABLE_NAME,
        TAGGER_NAME,
        reference_dir,
        training_samples,
    )

    folder = Path(out) if out else reference_dir()
    folder.mkdir(parents=True, exist_ok=True)
    samples = training_samples(folder, train_events, eval_events)
    for sample in samples:
        ctx.invoke(
            generate,
            process=sample.process,
            n_events=sample.n_events,
            seed=sample.seed,
            jobs=jobs,
            ecm=13000.0,
            mass=None,
            out=str(sample.path),
        )
    top = {s.split: str(s.path) for s in samples if s.process == "ttbar-allhad"}
    qcd = {s.split: str(s.path) for s in samples if s.process == "qcd-dijet"}
    tagger_dir = folder / TAGGER_NAME
    ctx.invoke(
        train_tagger,
        top=(top["train"],),
        qcd=(qcd["train"],),
        out=str(tagger_dir),
        epochs=epochs,
        **PIPELINE_TAGGER,
    )
    ctx.invoke(
        build_table,
        top=tuple(f"{split}={path}" for split, path in top.items()),
        qcd=tuple(f"{split}={path}" for split, path in qcd.items()),
        tagger=str(tagger_dir),
        out=str(folder / TABLE_NAME),
        performance_dir=str(folder / "performance"),
    )

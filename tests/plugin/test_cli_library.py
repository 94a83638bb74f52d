"""What the commands print and parse, as library functions (moved out of ``surrotag.cli``):
progress bars, the training options, the printers of surrogates, features, samples and
taggers."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from surrotag.card_console import print_surrogates
from surrotag.features.console import REGISTRY_COLUMNS, print_registry, print_table_summary
from surrotag.io.progress import epoch_progress, step_progress
from surrotag.surrogates.registry import SurrogateInfo
from surrotag.training_options import (
    OptionError,
    parse_numbers,
    parse_pairs,
    training_options,
)


def _console() -> Console:
    return Console(record=True, width=200, color_system=None)


# --------------------------------------------------------------------------- progress


def test_epoch_progress_shows_nothing_before_the_first_epoch_and_stops_after():
    with epoch_progress("training vi", 3) as tick:
        pass  # an error before training: no bar was started
    with epoch_progress("training vi", 3) as tick:
        tick({"epoch": 1, "best_val_loss": math.inf})
        tick({"epoch": 2, "best_val_loss": 0.25})
        tick({"phase": "mcmc"})


def test_step_progress_updates_its_one_task(capsys):
    with step_progress("samples", 3, clock=None) as update:
        for path in ("a", "b", "c"):
            update(advance=1, description=f"reading {path}")
    out = capsys.readouterr().out
    assert "reading c" in out and "3/3" in out
    with step_progress("validating", 2, kind="spinner", transient=True) as update:
        update(advance=1, description="validating: pulls")


# --------------------------------------------------------------------------- train options


def test_pairs_and_numbers_read_name_value_texts():
    assert parse_pairs([" jet_pt = GeV ", "m=GeV"], "--unit") == {"jet_pt": "GeV", "m": "GeV"}
    assert parse_numbers(["a=1", "b=-2.5e1"], "--fill") == {"a": 1.0, "b": -25.0}


@pytest.mark.parametrize(
    ("kwargs", "option", "reason"),
    [
        ({"features": "a,a"}, "--features", "'a,a': give distinct names, comma-separated"),
        ({"features": ",,"}, "--features", "',,': give distinct names, comma-separated"),
        ({"fills": ["bad"]}, "--fill", "'bad': expected NAME=VALUE"),
        ({"fills": ["a=x"]}, "--fill", "a=x: not a number"),
        ({"fills": ["b=1"]}, "--fill", "'b' is not one of --features"),
        ({"clip": 0.5}, "--clip", "0.5: must lie in [0, 0.5)"),
        ({"clip": float("nan")}, "--clip", "nan: must lie in [0, 0.5)"),
        ({"working_points": ["l=x"]}, "--working-point", "l=x: threshold is not a number"),
        ({"units": ["=GeV"]}, "--unit", "'=GeV': expected NAME=VALUE"),
    ],
)
def test_training_options_name_the_option_of_a_bad_value(kwargs, option, reason):
    arguments = {"features": "a", "name": "s", **kwargs}
    with pytest.raises(OptionError) as caught:
        training_options(arguments.pop("features"), **arguments)
    assert (caught.value.option, caught.value.reason) == (option, reason)
    assert str(caught.value) == f"{option}: {reason}"


def test_training_options_build_the_card():
    options = training_options(
        "jet_pt, jet_mass",
        name="mine",
        score_space="identity",
        clip=0.0,
        working_points=["loose=0.3"],
        units=["jet_mass=GeV"],
        fills=["jet_mass=-1"],
        tagger="pfn",
        description="d",
    )
    assert options.names == ["jet_pt", "jet_mass"] and options.fills == {"jet_mass": -1.0}
    card = options.card
    assert (card.name, card.score_space, card.clip, card.tagger) == ("mine", "identity", 0.0, "pfn")
    assert card.working_points == {"loose": 0.3} and card.units == {"jet_mass": "GeV"}


# --------------------------------------------------------------------------- printers


def test_print_surrogates_lists_good_and_broken_cards():
    console = _console()
    print_surrogates([], console)
    assert "no surrogates installed" in console.export_text()
    infos = [
        SurrogateInfo("good", "1.0", "pfn", 5, "vi", "shipped", Path("g")),
        SurrogateInfo("bad", "", "", 0, "", "entry point x (dist)", Path("b"), "no card.json"),
    ]
    console = _console()
    print_surrogates(infos, console)
    text = console.export_text()
    assert "good" in text and "pfn" in text and "broken: no card.json" in text


def test_print_registry_and_table_summary():
    console = _console()
    print_registry("parton", console)
    text = console.export_text()
    assert "surrotag features (level parton)" in text
    assert all(column in text for column in REGISTRY_COLUMNS)
    console = _console()
    meta = {"n_events": 4, "row_kind": "fatjet", "features": ["a", "b"], "level": "delphes"}
    print_table_summary([0] * 6, meta, Path("t[b].parquet"), console)
    assert console.export_text().strip() == (
        "6 fatjet rows from 4 events (1.50 per event), 2 features, level delphes -> t[b].parquet"
    )


def test_describe_sample_says_rate_or_cache(tmp_path):
    import awkward as ak

    from surrotag.io.parquet import write_parquet
    from surrotag.reference.generate import describe_sample

    meta = {"n_events": 20, "sigma_pb": 15.33, "sigma_err_pb": 0.95, "sum_weights": 0.1175}
    path = write_parquet(ak.Array({"weight": np.ones(20)}), tmp_path / "s.parquet", meta)
    line = describe_sample(path, jobs=2, since=time.time() - 60, seconds=4.0)
    assert line == (
        f"{path}: 20 events, sigma = 15.33 +- 0.95 pb, sum of weights 0.1175 "
        "(4.0 s, 2.5 events/s per job)"
    )
    os.utime(path, (time.time() - 3600, time.time() - 3600))
    line = describe_sample(path, jobs=2, since=time.time() - 60, seconds=0.1)
    assert line.endswith("(reused from the cache)")


def test_tagger_report_summary():
    from surrotag.reference.tagger import TaggerReport

    report = TaggerReport(
        Path("tagger"), "ab" * 32, {"top": 20, "qcd": 70}, {"top": 8, "qcd": 13}, 2, 2, 0.67,
        0.6827, 3.4,
    )  # fmt: skip
    assert report.summary() == (
        "tagger: trained on {'top': 20, 'qcd': 70} jets (val {'top': 8, 'qcd': 13}), 2 epochs, "
        "best 2: val AUC 0.6827, 3 s; sha256 abababababababab"
    )

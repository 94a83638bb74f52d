"""Closure of the recast against the official Z' yields of ``zprime-ttbar-allhad``.

For every official Z' mass of ``official_yields.json`` (built by :mod:`.build`), the same
reference Z' events are read back through surrotag's readers and recast four ways:

* ``delphes``: detector-level fat jets, the ``top-tagger-delphes`` surrogate (exact tag
  probabilities, K weight draws);
* ``delphes-effmap``: the same jets, the card's binned efficiency map (today's recast tools);
* ``parton``: the top quarks of the truth record only (fat jets dropped), the
  ``top-tagger-parton`` surrogate, selection on the two leading top quarks;
* ``parton-effmap``: the top quarks with the parton card's efficiency map.

A region closes when ``|recast - official| <= max(2 sigma, 10 %)`` of the official total,
sigma combining in quadrature the surrogate spread over weight draws and the MC statistical
error of the difference. Both yields come from the same events, so their kinematic
fluctuations cancel; what remains is the binomial noise of the official 0/1 tag decisions
around the tag probabilities, ``sum w^2 p (1 - p)``, which is the official MC variance
``sum w^2 t`` minus the recast's ``sum w^2 p^2`` in expectation. The expected (median) upper
limit on mu closes within 10 %. The parton-level goal is 25 %. Run::

    SURROTAG_DATA=... python -m surrotag.analyses.zprime_ttbar_allhad.closure [--draws 20]

It writes ``closure.json`` and ``closure.md`` beside the card (or into ``--out-dir``).

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any, Final

__all__ = ["GOALS", "PATHS", "closure", "compare", "main"]

HERE: Final = Path(__file__).resolve().parent
#: Recast paths: (input level, tagger).
PATHS: Final = {
    "delphes": ("delphes", "surrogate"),
    "delphes-effmap": ("delphes", "efficiency-map"),
    "parton": ("parton", "surrogate"),
    "parton-effmap": ("parton", "efficiency-map"),
}
#: Relative closure goal per input level (yields and expected mu_up).
GOALS: Final = {"delphes": 0.10, "parton": 0.25}


def compare(official: dict[str, Any], report: Any, goal: float) -> dict[str, Any]:
    """Region totals and expected limits of one recast against the official record."""
    regions = {}
    for name, record in official["regions"].items():
        region = report.region(name)
        tag_noise2 = record["total_mc_stat_error"] ** 2 - region.total_mc_stat**2
        sigma = math.hypot(region.total_surrogate, math.sqrt(max(tag_noise2, 0.0)))
        reference = record["total"]
        difference = region.total - reference
        allowed = max(2.0 * sigma, goal * reference)
        regions[name] = {
            "official": reference,
            "recast": region.total,
            "surrogate_error": region.total_surrogate,
            "mc_stat_error": region.total_mc_stat,
            "sigma": sigma,
            "relative_difference": difference / reference if reference else None,
            "pull": difference / sigma if sigma else None,
            "closes": bool(abs(difference) <= allowed),
        }
    expected_official = official["mu_up"]["expected"][2]
    expected_recast = report.limit.expected[2]
    ratio = expected_recast / expected_official if expected_official else math.nan
    return {
        "regions": regions,
        "mu_up_expected": {"official": expected_official, "recast": expected_recast},
        "mu_up_ratio": ratio,
        "mu_up_closes": bool(abs(ratio - 1.0) <= goal),
        "ood_fraction": report.ood_fraction,
        "seconds": round(sum(report.timings.values()), 2),
    }


def _parton_events(path: str) -> Any:
    from surrotag.io import read_events

    events = read_events(path)
    return events[[field for field in events.fields if field != "fatjets"]]


def closure(draws: int | None = None, masses: list[float] | None = None) -> dict[str, Any]:
    """Recast every official Z' sample four ways and compare (see the module docstring)."""
    from surrotag.recast import recast
    from surrotag.reference.cache import data_dir

    official = json.loads((HERE / "official_yields.json").read_text())
    rows = []
    for signal in official["signals"]:
        mass = signal["mass_gev"]
        if masses and mass not in masses:
            continue
        path = str(data_dir() / "reference" / signal["sample"]["file"])
        if not Path(path).is_file() or _sha256(Path(path)) != signal["sample"]["sha256"]:
            raise FileNotFoundError(
                f"{path}: official Z' sample absent or different from the one of "
                "official_yields.json; rebuild it with "
                "python -m surrotag.analyses.zprime_ttbar_allhad.build"
            )
        entry: dict[str, Any] = {
            "mass_gev": mass,
            "beyond_surrogate_training_support": signal["beyond_surrogate_training_support"],
        }
        for label, (level, tagger) in PATHS.items():
            if level == "delphes":
                report = recast("zprime-ttbar-allhad", [path], tagger=tagger, draws=draws)
            else:
                report = recast(
                    "zprime-ttbar-allhad",
                    _parton_events(path),
                    xsec_pb=signal["sample"]["sigma_pb"],
                    tagger=tagger,
                    draws=draws,
                )
            entry[label] = compare(signal, report, GOALS[level])
            print(
                f"Z' {mass:g} GeV {label:15s} SR {report.region('SR').total:8.2f} "
                f"(official {signal['regions']['SR']['total']:.2f}) mu_up exp "
                f"{report.limit.expected[2]:.3g} (official {signal['mu_up']['expected'][2]:.3g})",
                flush=True,
            )
        rows.append(entry)
    return {
        "kind": "closure",
        "analysis": official["analysis"],
        "command": "python -m surrotag.analyses.zprime_ttbar_allhad.closure",
        "official_sha256": _sha256(HERE / "official_yields.json"),
        "goals": {
            "yields": "|recast - official| <= max(2 sigma, goal x official) per region",
            "mu_up": "|mu_up_exp(recast) / mu_up_exp(official) - 1| <= goal",
            "goal": GOALS,
        },
        "draws": draws,
        "masses": rows,
    }


def _sha256(path: Path) -> str:
    from surrotag.io.parquet import sha256_file

    return sha256_file(path)


def markdown(document: dict[str, Any]) -> str:
    """The closure as a Markdown table: SR and CR totals and expected mu_up per path."""
    lines = [
        "| Z' mass (GeV) | path | SR recast / official | CR recast / official "
        "| mu_up exp recast / official | jets flagged OOD | closes |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in document["masses"]:
        for label in PATHS:
            result = row[label]
            sr, cr = result["regions"]["SR"], result["regions"]["CR"]
            closes = all(r["closes"] for r in result["regions"].values()) and result["mu_up_closes"]
            error = sr["sigma"]
            lines.append(
                f"| {row['mass_gev']:g} | {label} "
                f"| {sr['recast']:.1f} ± {error:.1f}"
                f" / {sr['official']:.1f} "
                f"| {cr['recast']:.1f} / {cr['official']:.1f} "
                f"| {result['mu_up_expected']['recast']:.3g} / "
                f"{result['mu_up_expected']['official']:.3g} ({result['mu_up_ratio'] - 1:+.1%}) "
                f"| {result['ood_fraction']:.1%} "
                f"| {'yes' if closes else 'no'} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line: run the closure and write closure.json and closure.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=None, help="weight draws (card default)")
    parser.add_argument("--mass", type=float, action="append", help="only these masses (GeV)")
    parser.add_argument("--out-dir", type=Path, default=HERE)
    args = parser.parse_args(argv)
    start = time.monotonic()
    document = closure(args.draws, args.mass)
    document["seconds"] = round(time.monotonic() - start, 1)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    from surrotag.io.atomic import write_json_atomic, write_text_atomic

    write_json_atomic(args.out_dir / "closure.json", document, indent=1)
    write_text_atomic(args.out_dir / "closure.md", markdown(document))
    print(markdown(document))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

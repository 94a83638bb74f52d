"""Build the shipped example signal: Z' (2 TeV) -> t tbar, 2000 events, ``example_signal.parquet``.

``surrotag run zprime-ttbar-allhad`` with no event files recasts this sample, so the README's
one-command demo works on a fresh install. It is rebuilt (about 40 s, one core) by::

    python -m surrotag.analyses.zprime_ttbar_allhad.example [OUT]

which generates the sample with the reference experiment (:func:`surrotag.reference.generate`,
``zprime-ttbar``, m = 2000 GeV, 13 TeV, seed 2101: disjoint from the seeds of the training
samples, 1-6, and of the official Z' samples, 2001-2005) and keeps only what a recast needs,
in the canonical schema (:mod:`surrotag.io.canonical`): ``weight``, ``fatjets`` without their
constituents, and the pruned truth record ``particles`` (for the truth matching of the jets);
the truth four-momenta are rounded to 1 MeV (1e-6 relative at these energies, far below any
Delta R that matters) so that the file stays under 2 MB. The provenance (sigma_pb,
sum_weights, settings) is that of the generated sample, plus a ``slimmed`` note.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Final

__all__ = ["EXAMPLE_FILE", "MASS_GEV", "N_EVENTS", "SEED", "build_example"]

#: The shipped file, beside this module.
EXAMPLE_FILE: Final = Path(__file__).with_name("example_signal.parquet")
#: Z' mass (GeV), number of events and master seed of the example.
MASS_GEV: Final = 2000.0
N_EVENTS: Final = 2000
SEED: Final = 2101
#: Decimals kept of the truth four-momenta (GeV): 1 MeV.
_DECIMALS: Final = 3


def build_example(out: str | Path = EXAMPLE_FILE, generated: str | Path | None = None) -> Path:
    """Generate (or take) the Z' sample and write the slimmed example signal.

    Args:
        out: destination Parquet file.
        generated: an already generated reference sample with the same settings (skips
            the generation).

    Returns:
        The path written. When its folder holds the analysis card, the card's sha256 of the
        file is recorded anew (:func:`surrotag.analysis_card.seal_analysis_card`).
    """
    import awkward as ak
    import numpy as np

    from surrotag.io.parquet import read_parquet, read_parquet_metadata

    with tempfile.TemporaryDirectory(prefix="surrotag-example-") as scratch:
        if generated is None:
            from surrotag.reference.generate import generate

            generated = generate(
                "zprime-ttbar",
                N_EVENTS,
                seed=SEED,
                jobs=1,
                mass=MASS_GEV,
                out=Path(scratch) / "zprime.parquet",
            )
        events = read_parquet(generated, events=False)
        metadata = read_parquet_metadata(generated)
    fatjets = events.fatjets[[name for name in events.fatjets.fields if name != "constituents"]]
    particles = events.particles
    particles = ak.zip(
        {
            name: (
                np.round(particles[name], _DECIMALS)
                if name in ("px", "py", "pz", "E")
                else particles[name]
            )
            for name in particles.fields
        }
    )
    slim = ak.zip(
        {"weight": events.weight, "fatjets": fatjets, "particles": particles}, depth_limit=1
    )
    metadata["slimmed"] = (
        "surrotag.analyses.zprime_ttbar_allhad.example: fatjets without constituents, truth "
        "four-momenta rounded to 1 MeV, met dropped"
    )
    written = _write(slim, Path(out), metadata)
    if (written.parent / "card.json").is_file():
        from surrotag.analysis_card import seal_analysis_card

        seal_analysis_card(written.parent, (*_covered(written.parent), written.name))
    return written


def _covered(folder: Path) -> tuple[str, ...]:
    """Files the card in ``folder`` covers today (so a re-seal keeps them covered)."""
    import json

    document = json.loads((folder / "card.json").read_text("utf-8"))
    return tuple(name for name in document.get("files", {}) if (folder / name).is_file())


def _write(array: object, path: Path, metadata: dict) -> Path:
    """As :func:`surrotag.io.write_parquet` (atomic, page checksums), zstd level 19."""
    import json

    import awkward as ak
    import pyarrow.parquet as pq

    from surrotag.io.atomic import atomic_output
    from surrotag.io.parquet import METADATA_KEY

    table = ak.to_arrow_table(array, extensionarray=False)
    schema_metadata = {
        **(table.schema.metadata or {}),
        METADATA_KEY: json.dumps(metadata, sort_keys=True).encode(),
    }
    table = table.replace_schema_metadata(schema_metadata)
    with atomic_output(path) as temporary:
        pq.write_table(
            table, temporary, compression="zstd", compression_level=19, write_page_checksum=True
        )
    return path


def main(argv: list[str] | None = None) -> int:
    """Command line: ``[OUT]`` (default: the package's ``example_signal.parquet``)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m surrotag.analyses.zprime_ttbar_allhad.example",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("out", nargs="?", type=Path, default=EXAMPLE_FILE, help="output file")
    target = build_example(parser.parse_args(argv).out)
    print(f"{target}: {target.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":  # pragma: no cover - a build step, run by hand
    sys.exit(main())

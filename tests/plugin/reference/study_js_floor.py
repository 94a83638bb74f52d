"""The finite-statistics floor of the anomaly study's mass-sculpting figure.

The pre-registered study (``surrotag reference anomaly-study``, session 14) ran before its
report recorded this floor: a cut that keeps 10% of the QCD test jets at random, whatever
their mass, 200 times, gives the Jensen-Shannon distances that statistics alone produce.
Run (after the study's samples exist)::

    python tests/plugin/reference/study_js_floor.py \\
        -o tests/plugin/reference/artefacts/anomaly_study/js_null_floor.json
"""

from __future__ import annotations

import argparse
import json

from surrotag.io.parquet import read_parquet
from surrotag.reference.anomaly import js_null_floor, select_jets
from surrotag.reference.anomaly_plan import ANOMALY_PLAN
from surrotag.surrogates.card import sha256_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", required=True)
    args = parser.parse_args()
    path = ANOMALY_PLAN["samples"]["qcd_test"].generate(ANOMALY_PLAN["jobs"])
    events = read_parquet(path, ["weight", "fatjets", "particles"])
    jets = select_jets(events, ANOMALY_PLAN)
    floor = js_null_floor(
        jets["mass"], jets["weight"], ANOMALY_PLAN["qcd_efficiency"], ANOMALY_PLAN["mass_bins_gev"]
    )
    document = {"sample": {"file": path.name, "sha256": sha256_file(path)}, **floor}
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=1, sort_keys=True)
        handle.write("\n")
    print(json.dumps(floor))


if __name__ == "__main__":
    main()

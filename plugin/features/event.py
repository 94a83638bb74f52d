"""Event-level features (missing pT, HT, lepton counts, leading lepton), vectorised.

Every function returns one value per event; :mod:`surrotag.features.table` repeats it on
each object row of the event. Units: GeV.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

__all__ = ["event_features"]


def event_features(events: ak.Array, names: set[str] | frozenset[str]) -> dict[str, np.ndarray]:
    """Per-event features.

    Args:
        events: canonical events holding the collections the wanted features require
            (see :data:`surrotag.features.registry.FEATURES`).
        names: the registry names wanted.

    Returns:
        name -> numpy array of length ``len(events)``.
    """
    out: dict[str, np.ndarray] = {}
    if "event_weight" in names:
        out["event_weight"] = ak.to_numpy(ak.fill_none(events.weight, np.nan))
    if "event_met" in names:
        out["event_met"] = ak.to_numpy(ak.fill_none(events.met.met, np.nan))
    if "event_ht" in names:
        out["event_ht"] = ak.to_numpy(ak.sum(events.jets.pt, axis=1))
    if "event_n_fatjets" in names:
        out["event_n_fatjets"] = ak.to_numpy(ak.num(events.fatjets, axis=1))
    if "event_n_jets" in names:
        out["event_n_jets"] = ak.to_numpy(ak.num(events.jets, axis=1))
    if "event_n_electrons" in names:
        out["event_n_electrons"] = ak.to_numpy(ak.num(events.electrons, axis=1))
    if "event_n_muons" in names:
        out["event_n_muons"] = ak.to_numpy(ak.num(events.muons, axis=1))
    if "event_n_leptons" in names:
        out["event_n_leptons"] = ak.to_numpy(
            ak.num(events.electrons, axis=1) + ak.num(events.muons, axis=1)
        )
    if names & {"event_lep1_pt", "event_lep1_eta", "flag_no_lepton"}:
        from surrotag.observables import leading_leptons

        lep = leading_leptons(events.electrons, events.muons, 1, ("pt", "eta"))
        out["event_lep1_pt"], out["event_lep1_eta"] = lep["pt"][:, 0], lep["eta"][:, 0]
        out["flag_no_lepton"] = np.isnan(lep["pt"][:, 0])
    from surrotag.features.dilepton import DILEPTON_FEATURES, TRUTH_EVENT_FEATURES

    if set(names) & {*DILEPTON_FEATURES, *TRUTH_EVENT_FEATURES}:
        from surrotag.features.dilepton import dilepton_features

        out |= dilepton_features(events, names)
    return {name: values for name, values in out.items() if name in names}

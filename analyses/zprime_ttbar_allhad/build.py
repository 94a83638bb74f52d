"""Build what the experiment would publish for zprime-ttbar-allhad, from the reference experiment.

One command (about 15 minutes on 2 cores the first time, mostly event generation; seconds
when the samples are cached)::

    python -m surrotag.analyses.zprime_ttbar_allhad.build [--jobs 2] [--out-dir DIR]

It writes into ``DIR`` (default: this package's folder, where the files are package data):

``workspace.json``
    the background-only pyhf workspace (HistFactory JSON, arXiv:2109.04981): channels
    ``SR_mjj`` and ``CR_mjj`` in the card's mjj binning, samples ``ttbar`` (SM t tbar,
    tagged directly with the internal tagger; ``lumi``, 10 % ``ttbar_norm`` normsys,
    ``staterror``) and ``qcd`` (multijets from the QCD sample's pre-tag events weighted by a
    tag-rate function, :mod:`.tag_rate`; 30 % ``qcd_norm`` normsys, ``staterror``, and one
    ``qcd_trf_stat_pt<i>`` histosys per TRF pT bin, correlated between SR and CR). The
    observations are **pseudo-data**: one Poisson draw of the total background with seed
    :data:`PSEUDO_DATA_SEED`; the measurement is named :data:`MEASUREMENT` to say so. The POI
    ``mu_sig`` is declared in the measurement (as ATLAS's ``BkgOnly.json`` declares
    ``mu_SIG``) and gets its modifier from the signal patch
    (:func:`surrotag.stats.patch.build_patch`).
``particle_response.json``
    the detector's fat-jet response (binned jet energy scale and resolution) measured on
    the reference table's detector jets and their matched particle-level jets
    (:func:`surrotag.reference.publish.particle_response`); a particle-level recast applies
    it to the particle-level jets before the selection (:mod:`surrotag.jets.response`).
``workspace.provenance.json``
    what the pyhf schema cannot hold: the sha256 of every input (background samples,
    tagger, reference table), sample settings, the TRF table, the pseudo-data seed.
``official_yields.json``
    the official Z' -> t tbar signal yields per region and mjj bin at 1.0, 1.5, 2.0, 2.5 TeV
    and 3.5 TeV (beyond the surrogates' training support, for the OOD flag), from the
    internal tagger's logits on detector-level jets of samples generated with seeds
    2001-2005, with MC statistical errors, sums of weights, every input's sha256, and per
    mass CLs at mu = 1 and the 95 % CL upper limits on mu.

Inputs: background samples are generated here with seeds 3001 (t tbar) and 3002 (QCD),
disjoint from the tagger's and the surrogates' training samples (seeds 1-6) and from the Z'
samples; all samples live in the reference cache (``$SURROTAG_DATA/reference``) and are
reused when present (``surrotag reference generate`` semantics). Tag decisions: internal
logit > the wp50 threshold of :func:`surrotag.reference.ship.working_points` on the
reference table, the very threshold of the shipped surrogates' ``wp50``. Normalisation:
``sigma L sum(selected w) / sum(all w)`` with the biased samples' event weights
(:func:`surrotag.yields.normalisation`). Nothing here uses a surrogate.

References:
    ATLAS arXiv:2005.05138; CMS arXiv:1810.05905; classifier surrogates arXiv:2402.15558;
    asymptotic CLs arXiv:1007.1727.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import awkward as ak
import numpy as np

from surrotag.analyses.zprime_ttbar_allhad.tag_rate import (
    TRF_PT_EDGES,
    TagRateFunction,
    tag_rate_function,
)
from surrotag.analysis import AnalysisCard, load_analysis_card
from surrotag.errors import AnalysisError, FormatError, IntegrityError
from surrotag.io.parquet import read_parquet_metadata, sha256_file
from surrotag.reference import publish
from surrotag.reference.official import cached_jet_logits, working_point
from surrotag.tagging import event_probabilities
from surrotag.yields import Yields, normalisation, region_yields

__all__ = [
    "BACKGROUNDS",
    "MEASUREMENT",
    "OFFICIAL_YIELDS",
    "PSEUDO_DATA_SEED",
    "ZPRIME_EVENTS",
    "ZPRIME_JOBS",
    "ZPRIME_OOD_MASSES",
    "ZPRIME_SEEDS",
    "BackgroundSpec",
    "BackgroundYields",
    "SignalYields",
    "TaggedSample",
    "background_workspace",
    "background_yields",
    "build",
    "load_tagged_sample",
    "official_signal_yields",
    "region_probability",
    "signal_limits",
    "tag_rate_function",
]

HERE: Final = Path(__file__).resolve().parent
COMMAND: Final = "python -m surrotag.analyses.zprime_ttbar_allhad.build [--jobs 2] [--out-dir DIR]"
#: File names written (package data of the analysis).
WORKSPACE: Final = "workspace.json"
WORKSPACE_PROVENANCE: Final = "workspace.provenance.json"
OFFICIAL_YIELDS: Final = "official_yields.json"
PARTICLE_RESPONSE: Final = "particle_response.json"
#: Name of the workspace's measurement: the observations are pseudo-data.
MEASUREMENT: Final = "pseudodata_background_only"
#: Seed of the one Poisson draw of the pseudo-data.
PSEUDO_DATA_SEED: Final = 139_2024
#: Luminosity uncertainty of the t tbar background and the signal (ATLAS Run 2, 1.7 %).
LUMI_SIGMA: Final = 0.017
#: Normalisation uncertainties (relative) of the backgrounds.
NORM_UNCERTAINTY: Final = {"ttbar": 0.10, "qcd": 0.30}
#: Z' official samples: mass (GeV) -> master seed; 1 job each.
ZPRIME_SEEDS: Final = {1000.0: 2001, 1500.0: 2002, 2000.0: 2003, 2500.0: 2004, 3500.0: 2005}
#: Z' official samples: mass (GeV) -> generated events. Light masses get more: the jet pT
#: cuts keep 2.6 % of the 1 TeV events (131 of 5000), so the binomial noise of the internal
#: tagger's 0/1 decisions on 5000 events was 35 % of the 1 TeV SR yield, larger than any
#: surrogate bias the closure is meant to detect; at 1.5 and 2 TeV that noise was still
#: about half the closure's 10 % tolerance on 5000 events.
ZPRIME_EVENTS: Final = {1000.0: 50000, 1500.0: 20000, 2000.0: 20000, 2500.0: 5000, 3500.0: 5000}
ZPRIME_JOBS: Final = 1
#: The mass meant to lie beyond the surrogates' training support (a showcase of the OOD flag).
#: Its jets (pT ~ 1.7 TeV) are in fact inside the pT support of the pTHat-biased training
#: set (up to ~3.4 TeV); the closure reports the fraction of jets flagged.
ZPRIME_OOD_MASSES: Final = (3500.0,)
#: Relative tolerance of the upper limits on mu (1 %: each limit costs ~15 hypothesis tests).
LIMIT_RTOL: Final = 0.01
_WORKING_POINT: Final = "wp50"


@dataclass(frozen=True)
class BackgroundSpec:
    """A background reference sample the build generates: preset, events, master seed."""

    sample: str
    process: str
    n_events: int
    seed: int


#: The background samples (seeds disjoint from training, 1-6, and the Z' samples, 2001-2005).
BACKGROUNDS: Final = (
    BackgroundSpec("ttbar", "ttbar-allhad", 20_000, 3001),
    BackgroundSpec("qcd", "qcd-dijet", 40_000, 3002),
)


@dataclass(frozen=True)
class TaggedSample:
    """A reference sample after the analysis selection, with the internal tagger's logits.

    Attributes:
        path: the sample file; ``sha256`` its digest; ``provenance`` its metadata.
        weight: generator weight per event ``[N]``.
        mask: events passing the card's selection ``[N]``.
        mjj: dijet mass ``[N]`` (GeV; NaN with fewer than two jets).
        pt: pT of the two leading jets ``[N, 2]`` (GeV; NaN where absent).
        logit: internal tagger logit of the two leading jets ``[N, 2]`` (NaN where absent).
        scores: the scores file the logits came from.
    """

    path: Path
    sha256: str
    provenance: Mapping[str, Any]
    weight: np.ndarray
    mask: np.ndarray
    mjj: np.ndarray
    pt: np.ndarray
    logit: np.ndarray
    scores: Path

    @property
    def sum_weights(self) -> float:
        """Sum of the generator weights of all events, before selection (from provenance)."""
        return float(self.provenance["sum_weights"])

    def tagged(self, threshold: float) -> np.ndarray:
        """Tag decisions ``[N, 2]``: logit > ``threshold`` (False where no jet)."""
        with np.errstate(invalid="ignore"):
            return self.logit > threshold

    def event_weight(self, lumi_ifb: float) -> np.ndarray:
        """Expected events per event at ``lumi_ifb``: ``sigma L w / sum(w)``, 0 if unselected."""
        factor = normalisation(float(self.provenance["sigma_pb"]), lumi_ifb, self.sum_weights)
        return np.where(self.mask, self.weight * factor, 0.0)

    def summary(self) -> dict[str, Any]:
        """JSON-ready description: file name, sha256, settings, cross-section, weights."""
        settings = self.provenance.get("settings", {})
        return {
            "file": self.path.name,
            "sha256": self.sha256,
            "process": self.provenance.get("process"),
            "mass_gev": settings.get("mass"),
            "seed": settings.get("seed"),
            "jobs": settings.get("jobs"),
            "n_events": int(self.provenance["n_events"]),
            "settings_key": self.provenance.get("settings_key"),
            "sigma_pb": float(self.provenance["sigma_pb"]),
            "sigma_err_pb": float(self.provenance["sigma_err_pb"]),
            "sum_weights": self.sum_weights,
            "n_selected": int(np.count_nonzero(self.mask)),
            "sum_weights_selected": float(self.weight[self.mask].sum()),
            "scores_file": self.scores.name,
        }


@dataclass(frozen=True)
class BackgroundYields:
    """Background yields per region name (card order).

    Attributes:
        ttbar: SM t tbar, tagged directly.
        qcd: multijets from the TRF.
        qcd_direct: multijets tagged directly (for the closure record; not in the fit).
        qcd_trf_variations: per TRF bin, per region, (up, down) yields.
        trf: the tag-rate function.
    """

    ttbar: Mapping[str, Yields]
    qcd: Mapping[str, Yields]
    qcd_direct: Mapping[str, Yields]
    qcd_trf_variations: tuple[Mapping[str, tuple[np.ndarray, np.ndarray]], ...]
    trf: TagRateFunction


@dataclass(frozen=True)
class SignalYields:
    """Official signal yields of one Z' mass: per region name, and the sample they came from."""

    mass_gev: float
    regions: Mapping[str, Yields]
    sample: TaggedSample


# ---------------------------------------------------------------- inputs


def load_tagged_sample(path: str | Path, tagger: Any, card: AnalysisCard) -> TaggedSample:
    """Read a reference sample, apply the card's selection and attach the jets' logits.

    Args:
        path: reference sample written by :func:`surrotag.reference.generate.generate`.
        tagger: the loaded internal tagger.
        card: the analysis card (selection).

    Raises:
        FormatError: the file is not a reference sample, or its scores do not match its jets.
    """
    from surrotag.io.canonical import with_vector_behaviour
    from surrotag.selection import select

    path = Path(path)
    meta = read_parquet_metadata(path)
    if meta.get("kind") != "reference-sample":
        raise FormatError(
            f"{path}: not a reference sample; generate it with surrotag reference generate"
        )
    collection = card.selection.collection
    columns = ["weight", *(f"{collection}.{k}" for k in ("pt", "eta", "phi", "mass"))]
    events = with_vector_behaviour(ak.from_parquet(path, columns=columns))
    selection = select(events, card)
    logits, scores = cached_jet_logits(path, tagger)
    counts = ak.to_numpy(ak.num(events[collection], axis=1)).astype(np.int64)
    if counts.sum() != logits.size:
        raise FormatError(
            f"{scores}: {logits.size} jet scores for {counts.sum()} jets of {path}; delete the "
            "scores file and rebuild"
        )
    flat_pt = np.asarray(ak.to_numpy(ak.flatten(events[collection].pt)), dtype=np.float64)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    have = selection.indices >= 0
    position = np.where(have, offsets[:, None] + selection.indices, 0)

    def pick(values: np.ndarray) -> np.ndarray:  # per-jet values -> [N, 2] of leading jets
        padded = np.append(values, np.nan)  # position 0 of an event-less file stays valid
        return np.where(have, padded[position], np.nan)

    return TaggedSample(
        path=path,
        sha256=sha256_file(path),
        provenance=meta,
        weight=np.asarray(ak.to_numpy(events.weight), dtype=np.float64),
        mask=np.asarray(selection.mask),
        mjj=np.asarray(selection.values["mjj"]),
        pt=pick(flat_pt),
        logit=pick(logits),
        scores=scores,
    )


def _generate(process: str, n_events: int, seed: int, jobs: int, mass: float | None) -> Path:
    """Generate (or reuse from the cache) a reference sample, with a progress line."""
    from surrotag.reference.generate import generate

    start = time.monotonic()
    label = f"{process}{f' m={mass:g} GeV' if mass else ''} ({n_events} events, seed {seed})"
    path = generate(process, n_events, seed, jobs=jobs, mass=mass)
    print(f"  sample {label}: {path.name} [{time.monotonic() - start:.0f} s]", flush=True)
    return path


# ---------------------------------------------------------------- yields


def region_probability(card: AnalysisCard, region: str, p1: Any, p2: Any) -> np.ndarray:
    """Probability that an event is in ``region`` given its two jets' tag probabilities.

    Tag decisions (0/1) give 0/1; rates give the TRF weights (``both``: p1 p2,
    ``exactly_one``: p1 (1 - p2) + p2 (1 - p1)).
    """
    return event_probabilities(p1, p2).of(card.region(region).tag.requirement)


def _pair_yields(card: AnalysisCard, sample: TaggedSample, p: np.ndarray) -> dict[str, Yields]:
    """Region yields of the selected events from the two jets' tag probabilities ``[N, 2]``."""
    weight = sample.event_weight(card.luminosity_ifb)
    mjj = np.where(sample.mask, sample.mjj, np.nan)
    return {
        region.name: region_yields(
            weight,
            region_probability(card, region.name, p[:, 0], p[:, 1]) * sample.mask,
            mjj,
            region.observable.bin_edges,
        )
        for region in card.regions
    }


def _direct_yields(card: AnalysisCard, sample: TaggedSample, threshold: float) -> dict[str, Yields]:
    return _pair_yields(card, sample, np.nan_to_num(sample.tagged(threshold).astype(np.float64)))


def _trf_yields(
    card: AnalysisCard, sample: TaggedSample, trf: TagRateFunction
) -> dict[str, Yields]:
    rates = np.where(sample.mask[:, None], trf(np.nan_to_num(sample.pt)), 0.0)
    return _pair_yields(card, sample, rates)


def measure_trf(
    sample: TaggedSample, threshold: float, pt_edges: Any = TRF_PT_EDGES
) -> TagRateFunction:
    """The TRF of the two leading jets of the selected events of a (QCD) sample."""
    jets = np.repeat(sample.mask, 2).reshape(-1, 2)
    return tag_rate_function(
        sample.pt[jets],
        sample.tagged(threshold)[jets],
        np.broadcast_to(sample.weight[:, None], sample.pt.shape)[jets],
        pt_edges,
    )


def background_yields(
    card: AnalysisCard, ttbar: TaggedSample, qcd: TaggedSample, threshold: float
) -> BackgroundYields:
    """SM t tbar yields (direct tags) and QCD yields (tag-rate function) per region.

    Args:
        card: the analysis card (regions, binning, luminosity).
        ttbar: the selected, scored t tbar sample.
        qcd: the selected, scored QCD sample; the TRF is measured on its selected events.
        threshold: logit threshold of the working point.

    Returns:
        :class:`BackgroundYields`, with the TRF's up/down variation per pT bin.
    """
    trf = measure_trf(qcd, threshold)
    variations = []
    for index in range(trf.n_bins):
        up = _trf_yields(card, qcd, trf.varied(index, +1.0))
        down = _trf_yields(card, qcd, trf.varied(index, -1.0))
        variations.append({name: (up[name].nominal, down[name].nominal) for name in up})
    return BackgroundYields(
        ttbar=_direct_yields(card, ttbar, threshold),
        qcd=_trf_yields(card, qcd, trf),
        qcd_direct=_direct_yields(card, qcd, threshold),
        qcd_trf_variations=tuple(variations),
        trf=trf,
    )


def official_signal_yields(
    mass: float,
    card: AnalysisCard,
    tagger: Any,
    threshold: float,
    *,
    sample: str | Path | None = None,
) -> SignalYields:
    """Official Z' -> t tbar yields per region and bin from the internal tagger's logits.

    Args:
        mass: Z' mass in GeV (a key of :data:`ZPRIME_SEEDS` unless ``sample`` is given).
        card: the analysis card.
        tagger: the loaded internal tagger.
        threshold: the working point's logit threshold.
        sample: the Z' sample; default: the cached official one (generated when absent with
            ``ZPRIME_EVENTS[mass]`` events, seed ``ZPRIME_SEEDS[mass]``, :data:`ZPRIME_JOBS` job).

    Returns:
        :class:`SignalYields` for sigma from the sample's provenance (mu = 1).
    """
    if sample is None:
        if float(mass) not in ZPRIME_SEEDS:
            known = ", ".join(f"{m:g}" for m in ZPRIME_SEEDS)
            raise AnalysisError(f"no official Z' sample at {mass:g} GeV (have: {known} GeV)")
        sample = _generate(
            "zprime-ttbar",
            ZPRIME_EVENTS[float(mass)],
            ZPRIME_SEEDS[float(mass)],
            ZPRIME_JOBS,
            float(mass),
        )
    tagged = load_tagged_sample(sample, tagger, card)
    return SignalYields(float(mass), _direct_yields(card, tagged, threshold), tagged)


# ---------------------------------------------------------------- statistics


def _staterror(name: str, error: np.ndarray) -> dict[str, Any]:
    return {"name": f"staterror_{name}", "type": "staterror", "data": error.tolist()}


def background_workspace(
    card: AnalysisCard, backgrounds: BackgroundYields, *, seed: int = PSEUDO_DATA_SEED
) -> dict[str, Any]:
    """The background-only pyhf workspace (JSON dict) with Poisson pseudo-data.

    Args:
        card: the analysis card (channel names, POI).
        backgrounds: the background yields.
        seed: seed of the pseudo-data draw.

    Raises:
        AnalysisError: a bin without any expected background (pyhf cannot fit it).
    """
    rng = np.random.default_rng(seed)
    channels, observations = [], []
    trf_names = [
        f"qcd_trf_stat_pt{index}"
        for index, variation in enumerate(backgrounds.qcd_trf_variations)
        if any(
            np.any(up != backgrounds.qcd[r].nominal) or np.any(down != backgrounds.qcd[r].nominal)
            for r, (up, down) in variation.items()
        )
    ]
    for region in card.regions:
        channel = card.statistics.channels[region.name]
        ttbar, qcd = backgrounds.ttbar[region.name], backgrounds.qcd[region.name]
        total = ttbar.nominal + qcd.nominal
        if np.any(total <= 0):
            empty = np.flatnonzero(total <= 0).tolist()
            raise AnalysisError(
                f"channel {channel}: bins {empty} have no expected background; use larger "
                "background samples or merge bins in the card"
            )
        qcd_norm = NORM_UNCERTAINTY["qcd"]
        qcd_modifiers: list[dict[str, Any]] = [
            {
                "name": "qcd_norm",
                "type": "normsys",
                "data": {"hi": 1 + qcd_norm, "lo": 1 - qcd_norm},
            },
            _staterror(channel, qcd.mc_stat_error),
        ]
        for name in trf_names:
            up, down = backgrounds.qcd_trf_variations[int(name.rsplit("pt", 1)[1])][region.name]
            qcd_modifiers.append(
                {
                    "name": name,
                    "type": "histosys",
                    "data": {"hi_data": up.tolist(), "lo_data": down.tolist()},
                }
            )
        channels.append(
            {
                "name": channel,
                "samples": [
                    publish.simulated_sample("ttbar", ttbar, NORM_UNCERTAINTY["ttbar"], channel),
                    {"name": "qcd", "data": qcd.nominal.tolist(), "modifiers": qcd_modifiers},
                ],
            }
        )
        observations.append({"name": channel, "data": rng.poisson(total).astype(float).tolist()})
    return publish.workspace_document(
        card, channels, observations, lumi_sigma=LUMI_SIGMA, measurement=MEASUREMENT
    )


def signal_limits(workspace: Any, card: AnalysisCard, signal: SignalYields) -> dict[str, Any]:
    """CLs at mu = 1 and 95 % CL upper limits on mu for one official signal
    (:func:`surrotag.reference.publish.signal_limits`: the signal's MC statistics, no
    surrogate uncertainty: the tagger itself was used)."""
    return publish.signal_limits(workspace, card, signal.regions, rtol=LIMIT_RTOL)


# ---------------------------------------------------------------- output


def _region_record(card: AnalysisCard, name: str, y: Yields, sum_w: float) -> dict[str, Any]:
    return {
        "channel": card.statistics.channels[name],
        "bin_edges_gev": y.bin_edges.tolist(),
        "yield": y.nominal.tolist(),
        "mc_stat_error": y.mc_stat_error.tolist(),
        "total": float(y.nominal.sum()),
        "total_mc_stat_error": float(np.sqrt(np.sum(y.mc_stat_error**2))),
        "sum_weights_in_region": sum_w,
    }


def _region_sum_weights(
    card: AnalysisCard, sample: TaggedSample, probability: np.ndarray
) -> dict[str, float]:
    """Sum of generator weights times region probability of the selected events inside each
    region's observable range; ``probability`` is the per-jet tag probability ``[N, 2]``
    (0/1 tag decisions, or TRF rates)."""
    p = np.nan_to_num(np.asarray(probability, dtype=np.float64))
    sums = {}
    for region in card.regions:
        edges = region.observable.bin_edges
        with np.errstate(invalid="ignore"):
            inside = sample.mask & (sample.mjj >= edges[0]) & (sample.mjj <= edges[-1])
        prob = region_probability(card, region.name, p[:, 0], p[:, 1])
        sums[region.name] = float(np.sum(sample.weight * prob * inside))
    return sums


def build(
    out_dir: str | Path | None = None,
    *,
    jobs: int = 2,
    tagger_dir: str | Path | None = None,
    table: str | Path | None = None,
    limits: bool = True,
    signals: bool = True,
    workspace: bool = True,
) -> dict[str, Path]:
    """Build the workspace and the official yields (see the module docstring).

    Args:
        out_dir: where to write (default: this package's folder).
        jobs: worker processes for generating the background samples (part of their
            identity: other values give other, equally valid samples).
        tagger_dir: internal tagger folder (default ``$SURROTAG_DATA/reference/tagger_pfn``).
        table: reference table (default ``$SURROTAG_DATA/reference/top_tagger_table.parquet``).
        limits: compute CLs at mu = 1 and the upper limits (minutes per mass); without them
            ``cls_mu1`` and ``mu_up`` stay null.
        signals: also build the official signal yields (False: the background workspace
            and its provenance only; ``official_yields.json`` is left as it is).
        workspace: also build the workspace (False: the particle-level response only).

    Returns:
        The files written, by role.

    Raises:
        IntegrityError: the tagger's sha256 differs from the card's ``tagger_sha256``.
    """
    from surrotag.reference.cache import TABLE_NAME, TAGGER_NAME, reference_dir
    from surrotag.reference.tagger import load_tagger

    start = time.monotonic()
    out = Path(out_dir) if out_dir is not None else HERE
    card = load_analysis_card(HERE / "card.json")
    reference = reference_dir()
    tagger_dir = Path(tagger_dir) if tagger_dir is not None else reference / TAGGER_NAME
    table = Path(table) if table is not None else reference / TABLE_NAME
    tagger = load_tagger(tagger_dir)
    if tagger.sha256 != card.surrogate.tagger_sha256:
        raise IntegrityError(
            f"{tagger_dir}: tagger sha256 {tagger.sha256[:12]}... differs from the card's "
            f"tagger_sha256 {card.surrogate.tagger_sha256[:12]}...; use the tagger the "
            "surrogates were built with"
        )
    response = publish.particle_response(table)
    written = {
        "particle_response": publish.write_analysis_json(
            out / PARTICLE_RESPONSE, response.to_dict(), HERE
        )
    }
    print(f"particle-level response written: {written['particle_response']}", flush=True)
    if not workspace:
        return written
    point = working_point(table, _WORKING_POINT)
    threshold = float(point["threshold"])
    inputs = {
        "tagger": {"folder": tagger_dir.name, "sha256": tagger.sha256},
        "table": {"file": table.name, "sha256": sha256_file(table)},
    }
    print(f"wp50 threshold (logit): {threshold:.6f}", flush=True)

    samples = {}
    for spec in BACKGROUNDS:
        path = _generate(spec.process, spec.n_events, spec.seed, jobs, None)
        samples[spec.sample] = load_tagged_sample(path, tagger, card)
    backgrounds = background_yields(card, samples["ttbar"], samples["qcd"], threshold)
    workspace_doc = background_workspace(card, backgrounds)
    from surrotag.stats.workspace import load_workspace

    load_workspace(workspace_doc)  # schema check before anything is written
    ws_digest = publish.json_digest(workspace_doc)
    probabilities = {
        "ttbar": samples["ttbar"].tagged(threshold),
        "qcd": backgrounds.trf(np.nan_to_num(samples["qcd"].pt)),
    }
    background_record: dict[str, dict[str, Any]] = {}
    for name, sample in samples.items():
        sums = _region_sum_weights(card, sample, probabilities[name])
        regions = backgrounds.ttbar if name == "ttbar" else backgrounds.qcd
        background_record[name] = {
            "sample": sample.summary(),
            "regions": {r: _region_record(card, r, y, sums[r]) for r, y in regions.items()},
        }
    background_record["qcd"]["method"] = (
        "tag-rate function: pre-tag selected QCD events weighted by p1 p2 (SR) and "
        "p1 (1 - p2) + p2 (1 - p1) (CR), p(pT) measured on the same jets"
    )
    background_record["qcd"]["direct_tag_yields"] = {
        r: {"yield": y.nominal.tolist(), "mc_stat_error": y.mc_stat_error.tolist()}
        for r, y in backgrounds.qcd_direct.items()
    }
    provenance = {
        "kind": "background-workspace-provenance",
        "analysis": card.name,
        "workspace": WORKSPACE,
        "workspace_sha256": ws_digest,
        "digest_convention": "sha256 of the canonical JSON (sorted keys, no spaces)",
        "command": COMMAND,
        "observations": (
            f"pseudo-data: one Poisson draw of the total background expectation, numpy "
            f"default_rng({PSEUDO_DATA_SEED}), channels in card order; not real data"
        ),
        "pseudo_data_seed": PSEUDO_DATA_SEED,
        "luminosity_ifb": card.luminosity_ifb,
        "lumi_uncertainty": LUMI_SIGMA,
        "normalisation_uncertainties": dict(NORM_UNCERTAINTY),
        "working_point": point,
        "inputs": {**inputs, "backgrounds": {n: s.sha256 for n, s in samples.items()}},
        "backgrounds": background_record,
        "tag_rate_function": backgrounds.trf.to_dict(),
        "surrogates_used": False,
    }
    written["workspace"] = publish.write_analysis_json(out / WORKSPACE, workspace_doc, HERE)
    written["workspace_provenance"] = publish.write_analysis_json(
        out / WORKSPACE_PROVENANCE, provenance, HERE, seal=False
    )
    print(f"workspace written: {written['workspace']}", flush=True)
    if not signals:
        return written

    signals, tagged = [], {}
    for mass in ZPRIME_SEEDS:  # yields first (seconds), limits after (minutes each)
        signal = tagged[mass] = official_signal_yields(mass, card, tagger, threshold)
        sums = _region_sum_weights(card, signal.sample, signal.sample.tagged(threshold))
        signals.append(
            {
                "mass_gev": mass,
                "beyond_surrogate_training_support": mass in ZPRIME_OOD_MASSES,
                "sample": signal.sample.summary(),
                "tagger_sha256": tagger.sha256,
                "regions": {
                    name: _region_record(card, name, y, sums[name])
                    for name, y in signal.regions.items()
                },
                "cls_mu1": None,
                "mu_up": None,
            }
        )
        print(
            f"  Z' {mass:g} GeV: SR {signal.regions['SR'].nominal.sum():.2f}, CR "
            f"{signal.regions['CR'].nominal.sum():.2f} events",
            flush=True,
        )
    official = {
        "kind": "official-signal-yields",
        "analysis": card.name,
        "description": (
            "Official Z' -> t tbar (Pythia 8, gmZmode = 3, both W -> q q') yields at mu = 1 "
            "per region and mjj bin, tagged with the internal tagger's logits at wp50 "
            "(no surrogate); sigma from each sample's provenance (BR included), normalised "
            "as sigma L sum(selected w) / sum(all w); CLs and upper limits against the "
            "pseudo-data of workspace.json (asymptotic qtilde, arXiv:1007.1727)"
        ),
        "command": COMMAND,
        "luminosity_ifb": card.luminosity_ifb,
        "signal_sample": card.statistics.signal_sample,
        "working_point": point,
        "workspace": {"file": WORKSPACE, "sha256": ws_digest, "observations": "pseudo-data"},
        "inputs": {
            **inputs,
            "backgrounds": {n: s.sha256 for n, s in samples.items()},
            "signals": {f"{s['mass_gev']:g}": s["sample"]["sha256"] for s in signals},
        },
        "ood_note": (
            "masses flagged beyond_surrogate_training_support were chosen to give jets beyond "
            "the surrogates' training range; the pTHat-biased training set reaches jet pT of "
            "~3.4 TeV, so their ~1.7 TeV jets lie inside it and a recast flags few of them "
            "(the recast report gives the fraction flagged out-of-distribution)"
        ),
        "signals": signals,
        "surrogates_used": False,
    }
    written["official_yields"] = publish.write_analysis_json(out / OFFICIAL_YIELDS, official, HERE)
    if limits:  # the file is rewritten after each mass, so an interrupted build keeps yields
        for record in signals:
            record.update(signal_limits(workspace_doc, card, tagged[record["mass_gev"]]))
            publish.write_analysis_json(out / OFFICIAL_YIELDS, official, HERE)
            print(
                f"  Z' {record['mass_gev']:g} GeV: expected mu_up "
                f"{record['mu_up']['expected'][2]:.3g} [{time.monotonic() - start:.0f} s]",
                flush=True,
            )
    print(
        f"official yields written: {written['official_yields']} "
        f"[build {time.monotonic() - start:.0f} s]",
        flush=True,
    )
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m surrotag.analyses.zprime_ttbar_allhad.build``."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m surrotag.analyses.zprime_ttbar_allhad.build",
        description="Build workspace.json and official_yields.json of zprime-ttbar-allhad "
        "from the reference experiment (generation reused from $SURROTAG_DATA).",
    )
    parser.add_argument("--jobs", type=int, default=2, help="generation workers (default 2)")
    parser.add_argument("--out-dir", default=None, help="output folder (default: the package)")
    parser.add_argument("--tagger", default=None, help="internal tagger folder")
    parser.add_argument("--table", default=None, help="reference table (working points)")
    parser.add_argument(
        "--no-limits", action="store_true", help="official yields without CLs / upper limits"
    )
    parser.add_argument(
        "--workspace-only",
        action="store_true",
        help="the background workspace only (official_yields.json is left as it is)",
    )
    parser.add_argument(
        "--response-only",
        action="store_true",
        help="the particle-level jet response only (from the reference table, seconds)",
    )
    args = parser.parse_args(argv)
    from surrotag.errors import SurrotagError

    start = time.monotonic()
    try:
        build(
            args.out_dir,
            jobs=args.jobs,
            tagger_dir=args.tagger,
            table=args.table,
            limits=not args.no_limits,
            signals=not args.workspace_only,
            workspace=not args.response_only,
        )
    except SurrotagError as error:
        print(f"error: {error}")
        return 1
    print(f"done in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The classifier surrogate as a tagger: every call of the model goes through here.

:func:`evaluate_surrogate` is the one place that runs a surrogate on a feature matrix: for
every object and Bayesian weight draw, the exact probability ``P(score > w | c)`` at any
cuts ``w`` of the modelled score (the inverse flow, one batched backward ODE solve;
arXiv:2402.15558, Sec. 3), one sampled score (forward solve), score quantiles, and the
out-of-support flags, all from one score distribution. :func:`tag_objects` turns a feature
table into :class:`~surrotag.tagging.protocol.ObjectTags` at the card's working points (or,
with ``stochastic=True``, 0/1 tags from one sampled score per object and draw: one sample
serves every working point, so the tags are nested); :class:`SurrogateTagger` is the
:class:`~surrotag.tagging.protocol.Tagger` of a recast. :func:`exact_probabilities` gives
the same exact probability as a torch tensor, differentiable with respect to the features
(``grad=True``; the explanations' gradients), from the surrogate's own solve
(:meth:`~surrotag.surrogates.flow.ScoreDistribution.prob_above`).

:func:`check_surrogate` refuses a surrogate that does not fit an analysis, before anything
is read: another tagger (sha256), a missing working point, a feature the input level cannot
provide, or a missing kinematic feature that the analysis feeds it
(:attr:`~surrotag.io.levels.InputLevel.fed_features`).

Shapes: K weight draws, N objects, W working points, M cuts, Q quantiles. Arrays are numpy
float64.

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Final, NamedTuple

import numpy as np

from surrotag.errors import CardError, FeatureError, InputValueError
from surrotag.features.table import EVENT_INDEX
from surrotag.io.levels import INPUT_LEVELS, input_level
from surrotag.tagging.protocol import ObjectTags, tagger_record
from surrotag.tagging.table import column, feature_matrix, select_rows, taggable

if TYPE_CHECKING:
    import torch

    from surrotag.analysis_card import AnalysisCard
    from surrotag.io.levels import InputLevel
    from surrotag.surrogates.card import Card
    from surrotag.surrogates.flow import Surrogate

__all__ = [
    "FED_FEATURES",
    "SurrogateEvaluation",
    "SurrogateTagger",
    "check_surrogate",
    "evaluate_surrogate",
    "exact_probabilities",
    "tag_objects",
]

#: Features an analysis feeds its surrogate, per input level
#: (:attr:`surrotag.io.levels.InputLevel.fed_features`).
FED_FEATURES: Final = MappingProxyType(
    {name: level.fed_features for name, level in INPUT_LEVELS.items()}
)


class SurrogateEvaluation(NamedTuple):
    """A surrogate on N objects under K weight draws (:func:`evaluate_surrogate`).

    Attributes:
        probabilities: ``[K, N, M]`` exact ``P(score > w_m)`` per draw, or None when no
            cuts were asked for.
        samples: ``[K, N]`` one sampled score per draw and object (modelled space), or None.
        quantiles: ``[K, N, Q]`` score quantiles per draw and object (modelled space), or
            None.
        ood: ``[N]`` bool, True where the object lies outside the training support.
        exact_seconds: wall time of the exact probabilities (all K draws and M cuts in one
            solve per chunk), s; NaN without them.
    """

    probabilities: np.ndarray | None
    samples: np.ndarray | None
    quantiles: np.ndarray | None
    ood: np.ndarray
    exact_seconds: float = math.nan


def evaluate_surrogate(
    surrogate: Surrogate,
    x: np.ndarray,
    *,
    thresholds: Sequence[float] | np.ndarray | None = None,
    draws: int | None = None,
    sample: bool = False,
    generator: torch.Generator | None = None,
    quantiles: Sequence[float] | None = None,
    device: str = "cpu",
) -> SurrogateEvaluation:
    """Exact probabilities, sampled scores and quantiles of one score distribution.

    The K weight draws are the surrogate's own seeded draws, so every call on the same
    surrogate uses the same draws; ``generator`` drives only the sampled scores. Runs on
    the torch threads as they are set (:func:`tag_objects` chooses them).

    Args:
        surrogate: the model (:func:`surrotag.surrogates.storage.load_surrogate`); moved to
            ``device`` in place.
        x: ``[N, F]`` features in the model's column order and units (GeV for momenta and
            masses), finite (:func:`~surrotag.tagging.table.feature_matrix`).
        thresholds: ``[M]`` cuts in the modelled score space (``Card.model_threshold``);
            None: no exact probabilities.
        draws: weight draws K (default: the surrogate's).
        sample: draw one score per object and draw (forward solve).
        generator: torch generator of the sampled scores.
        quantiles: ``[Q]`` levels in (0, 1) of the score quantiles; None: none.
        device: torch device of the evaluation (``cpu``, ``cuda``).

    Returns:
        :class:`SurrogateEvaluation`.
    """
    import torch

    surrogate.to(device)
    features = torch.as_tensor(x, dtype=torch.float32, device=device)
    dist = surrogate(features, draws=draws)
    probabilities, seconds = None, math.nan
    if thresholds is not None:
        start = time.perf_counter()
        cuts = np.asarray(thresholds, dtype=np.float64)
        probabilities = dist.prob_above(cuts).double().cpu().numpy()
        seconds = time.perf_counter() - start
    samples = dist.sample(generator=generator).double().cpu().numpy() if sample else None
    levels = None if quantiles is None else dist.quantile(quantiles).double().cpu().numpy()
    ood = dist.ood.cpu().numpy().astype(bool)
    return SurrogateEvaluation(probabilities, samples, levels, ood, seconds)


def exact_probabilities(
    surrogate: Surrogate,
    features: torch.Tensor,
    thresholds: Sequence[float],
    *,
    draws: int | None = None,
    grad: bool = False,
) -> torch.Tensor:
    """Exact ``P(score > w | c)`` ``[K, N, M]`` as a torch tensor, optionally with its graph.

    The surrogate's own backward solve
    (:meth:`~surrotag.surrogates.flow.ScoreDistribution.prob_above`) with its own seeded
    weight draws: the values of :func:`evaluate_surrogate` on the same rows.

    Args:
        surrogate: the model.
        features: ``[N, F]`` tensor in the model's column order and units; with ``grad``
            and ``requires_grad`` the result is differentiable with respect to it.
        thresholds: ``[M]`` cuts in the modelled score space, kept in the model's dtype.
        draws: weight draws K (default: the surrogate's).
        grad: keep the autograd graph (else solved under ``torch.no_grad``).

    Returns:
        ``[K, N, M]`` tensor in the model's dtype.
    """
    import torch

    cuts = torch.as_tensor(
        np.asarray(thresholds, dtype=np.float64), dtype=surrogate.feature_mean.dtype
    ).to(surrogate.feature_mean.device)
    return surrogate(features, draws=draws).prob_above(cuts, grad=grad)


def _working_points(card: Card, names: Sequence[str] | None) -> tuple[tuple[str, ...], list[float]]:
    names = tuple(point["name"] for point in card.working_points) if names is None else tuple(names)
    if not names:
        raise CardError(
            f"{card.source}: surrogate {card.name!r} defines no working point; add one to its "
            "card (surrotag surrogate train --working-point NAME=CUT)"
        )
    if len(set(names)) != len(names):
        raise InputValueError(f"working points {list(names)} are listed more than once")
    return names, [float(card.working_point(name)["threshold"]) for name in names]


def tag_objects(
    table: Any,
    surrogate: Surrogate,
    card: Card,
    *,
    working_points: Sequence[str] | None = None,
    draws: int | None = None,
    stochastic: bool = False,
    generator: torch.Generator | None = None,
    device: str = "cpu",
    threads: int | str | None = None,
    level: str | InputLevel | None = None,
) -> ObjectTags:
    """Tag probabilities of every object for every working point and weight draw.

    The Bayesian weight draws come from the surrogate's own seeded generator, so exact and
    stochastic results of the same surrogate share the same K weight draws; ``generator``
    drives only the sampled scores.

    Args:
        table: feature table, one row per object (awkward records from
            :func:`surrotag.features.build_features`, a pyarrow table, or a dict of
            columns) holding every ``card.feature_names`` column (units as in the card,
            GeV for momenta and masses) and, optionally, ``event_index``.
        surrogate: the model (:func:`surrotag.surrogates.storage.load_surrogate`); moved to
            ``device`` in place.
        card: its card (feature order, working points, score transform).
        working_points: names of the card's working points (default: all, card order).
        draws: weight draws K (default: the card's ``bayes.draws``; 1 for ``none``).
        stochastic: sample one score per object and draw and cut on it (0/1 tags) instead
            of the exact probabilities.
        generator: torch generator of the sampled scores (stochastic only).
        device: torch device of the evaluation (``cpu``, ``cuda``).
        threads: worker threads of the solve, each running torch on one intra-op thread
            (torch's count restored after): a count, or None / ``"auto"`` for
            ``SURROTAG_THREADS``, else one per usable core
            (:func:`surrotag.surrogates.threads.choose_threads`). The probabilities do not
            depend on it.
        level: input level of the table; rows that cannot be tagged there
            (:func:`~surrotag.tagging.table.taggable`, e.g. leptonic tops at parton level,
            which need the level's ``taggable_features`` columns) get probability 0, are not
            OOD and are never given to the model. None: every row is tagged.

    Returns:
        :class:`~surrotag.tagging.protocol.ObjectTags` with ``probabilities`` ``[K, N, W]``.

    Raises:
        FeatureError: a card feature is missing from the table or not finite.
        CardError: an unknown working point, or card and model disagree on the features.
    """
    if list(card.feature_names) != list(surrogate.feature_names):
        raise CardError(
            f"{card.source}: card features {card.feature_names} differ from the model's "
            f"{surrogate.feature_names}; load both with surrotag.surrogates.storage.load_surrogate"
        )
    names, cuts = _working_points(card, working_points)
    event_index = column(table, EVENT_INDEX)
    mask = None if level is None else taggable(table, level)
    rows = table if mask is None or mask.all() else select_rows(table, mask)
    x = feature_matrix(rows, card.feature_names, card.feature_fills)
    if event_index is not None:
        event_index = np.asarray(event_index, dtype=np.int64).reshape(-1)
    thresholds = np.array([card.model_threshold(cut) for cut in cuts], dtype=np.float64)
    k = surrogate.default_draws if draws is None else int(draws)
    if k < 1:
        raise InputValueError(f"draws={k}: need at least one weight draw")
    n, w = x.shape[0], len(names)
    scores = None
    plan = None
    if n == 0:
        probabilities = np.zeros((k, 0, w))
        ood = np.zeros(0, dtype=bool)
        scores = np.zeros((k, 0)) if stochastic else None
    else:
        from surrotag.surrogates.threads import solve_threads

        with solve_threads(threads) as plan:
            result = evaluate_surrogate(
                surrogate,
                x,
                thresholds=None if stochastic else thresholds,
                draws=k,
                sample=stochastic,
                generator=generator,
                device=device,
            )
        if result.samples is not None:  # [K, N]
            probabilities = (result.samples[..., None] > thresholds).astype(np.float64)
            scores = result.samples
        else:
            probabilities = result.probabilities
        ood = result.ood
    if mask is not None and not mask.all():
        probabilities, ood, scores = _scatter(mask, probabilities, ood, scores)
    return ObjectTags.of(
        probabilities,
        ood,
        names,
        np.asarray(cuts, dtype=np.float64),
        event_index,
        stochastic=stochastic,
        scores=scores,
        threads=None if plan is None else plan.to_dict(),
    )


def _scatter(
    mask: np.ndarray, probabilities: np.ndarray, ood: np.ndarray, scores: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Results of the taggable rows back on all rows: probability 0, not OOD, score NaN."""
    k, _, w = probabilities.shape
    full = np.zeros((k, mask.size, w))
    full[:, mask, :] = probabilities
    flags = np.zeros(mask.size, dtype=bool)
    flags[mask] = ood
    if scores is not None:
        sampled = np.full((k, mask.size), np.nan)
        sampled[:, mask] = scores
        scores = sampled
    return full, flags, scores


def check_surrogate(
    card: Card,
    analysis: AnalysisCard,
    level: str | InputLevel,
    working_points: Sequence[str],
    *,
    features: bool = True,
    tagger_sha256: str | None = None,
    collection: str | None = None,
) -> None:
    """Refuse a surrogate that does not fit the analysis at this input level.

    ``tagger_sha256``: the internal tagger it must replace (default: the analysis's
    ``surrogate.tagger_sha256``; a further tagger's own for one of its ``taggers``).
    ``collection``: what it tags (default: the selection's candidates); a surrogate of
    event features alone tags the event (:data:`surrotag.analysis_card.EVENT_COLLECTION`),
    and an object surrogate tags objects.

    Raises:
        CardError: the surrogate replaces another tagger (its card's
            ``tagger.weights_sha256`` differs from the analysis's ``surrogate.tagger_sha256``),
            lacks a working point of the analysis, lacks a feature the analysis feeds it
            (:attr:`~surrotag.io.levels.InputLevel.fed_features`), or needs a feature that
            input level cannot provide (features checked only with ``features=True``; the
            efficiency map needs none).
    """
    fix = "use the analysis's surrogate (default) or one trained for this tagger"
    found = card.tagger.get("weights_sha256")
    wanted = analysis.surrogate.tagger_sha256 if tagger_sha256 is None else tagger_sha256
    if found != wanted:
        raise CardError(
            f"{card.source}: surrogate {card.name!r} replaces tagger sha256 "
            f"{(found or 'none')[:12]}…, analysis {analysis.name!r} was built with "
            f"{wanted[:12]}…; {fix}"
        )
    from surrotag.analysis_card import EVENT_COLLECTION
    from surrotag.features import event_only

    event = (collection or analysis.selection.collection) == EVENT_COLLECTION
    if event != event_only(card.feature_names):
        raise CardError(
            f"{card.source}: surrogate {card.name!r} "
            + ("takes per-object features" if event else "takes event features only")
            + f" ({', '.join(card.feature_names)}), but analysis {analysis.name!r} tags "
            + ("whole events with it" if event else "objects with it")
            + f"; {fix}"
        )
    have = {point["name"] for point in card.working_points}
    for point in working_points:
        if point not in have:
            raise CardError(
                f"{card.source}: surrogate {card.name!r} has no working point {point!r} used by "
                f"analysis {analysis.name!r} (it has: {', '.join(sorted(have)) or 'none'}); {fix}"
            )
    if not features:
        return
    spec = input_level(level)
    fed = () if event else spec.fed_features
    missing = [name for name in fed if name not in card.feature_names]
    if missing:
        raise CardError(
            f"{card.source}: surrogate {card.name!r} lacks feature(s) {', '.join(missing)} that "
            f"analysis {analysis.name!r} feeds it at level {spec.name!r} (it takes: "
            f"{', '.join(card.feature_names)}); {fix}"
        )
    from surrotag.features import resolve_features

    try:
        resolve_features(spec.name, card.feature_names)
    except FeatureError as error:
        raise CardError(
            f"{card.source}: surrogate {card.name!r} cannot be fed by {spec.name}-level input: "
            f"{error}"
        ) from None


@dataclass(frozen=True)
class SurrogateTagger:
    """The classifier surrogate as the :class:`~surrotag.tagging.protocol.Tagger` of a recast.

    Attributes:
        card: the surrogate's card.
        folder: the surrogate's folder.
        model: the loaded surrogate.
        working_points: the W working points tagged.
        features: the feature columns read (the model's, then those deciding whether a row
            can be tagged).
        draws: weight draws K.
        stochastic: 0/1 tags of one sampled score per object and draw.
        generator: torch generator of the sampled scores (stochastic only).
        device: torch device of the solve.
        threads: torch threads of the solve as asked for (None / ``"auto"``: chosen).
        thread_plans: the thread plan of every solve so far (appended to by
            :meth:`probabilities`; :meth:`describe` summarises them).
    """

    kind: ClassVar[str] = "surrogate"

    card: Card
    folder: Path
    model: Surrogate
    working_points: tuple[str, ...]
    features: tuple[str, ...]
    draws: int
    stochastic: bool = False
    generator: torch.Generator | None = None
    device: str = "cpu"
    threads: int | str | None = None
    thread_plans: list[dict[str, Any]] = field(default_factory=list)

    def probabilities(self, table: Any, level: str | InputLevel) -> ObjectTags:
        """Surrogate tags ``[K, N, W]`` of the rows of a feature table (:func:`tag_objects`)."""
        tags = tag_objects(
            table,
            self.model,
            self.card,
            working_points=self.working_points,
            draws=self.draws,
            stochastic=self.stochastic,
            generator=self.generator,
            device=self.device,
            threads=self.threads,
            level=level,
        )
        if tags.threads is not None:
            self.thread_plans.append(tags.threads)
        return tags

    @property
    def ood_method(self) -> str:
        """``joint`` (box, truth categories and kNN distance) or ``box`` (old surrogates)."""
        return self.model.ood_method

    @property
    def ood_note(self) -> str | None:
        """What the out-of-support check misses (a box-only surrogate), else None."""
        return self.model.ood_note

    def key(self) -> tuple[Any, ...]:
        """What makes two taggers give the same probabilities for the same objects."""
        return (
            self.kind,
            self.card.name,
            str(self.folder),
            self.working_points,
            self.features,
            self.draws,
            self.stochastic,
            self.device,
            self.threads,
        )

    def describe(self, seed: int) -> dict[str, Any]:
        """The report's ``tagger`` block: card, draws, seed, device and the solves' threads."""
        from surrotag.surrogates.threads import summarize_plans

        record = tagger_record(
            self, self.folder, seed=seed, stochastic=self.stochastic, device=self.device
        )
        return {**record, "threads": summarize_plans(self.thread_plans, self.threads)}

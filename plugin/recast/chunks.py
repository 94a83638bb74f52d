"""The recast one chunk at a time, for workflows that read the events themselves.

A coffea processor, or any loop over chunks of events, calls a :class:`ChunkRecast` on each
chunk of canonical events (from :func:`surrotag.io.iter_events`, or from Delphes branches
already read: :func:`surrotag.io.delphes.delphes_events`). It runs the steps of
:func:`surrotag.recast.recast` between reading and statistics, with the recast's own code:
the selection, the features of the two selected objects, the exact tag probability of each
Bayesian weight draw, and the region yields with the out-of-support yields beside them.

The yields of a chunk are in generator weights, so that the yields of all chunks add
(``+``, ``sum``, coffea's accumulators) to those of the whole sample;
:meth:`ChunkRecast.normalise` then scales them by ``sigma L / sum(w)`` as the recast does.
The statistics take the normalised yields (:func:`surrotag.stats.build_patch`,
:func:`surrotag.stats.cls`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from surrotag.errors import FormatError
from surrotag.io.levels import input_level
from surrotag.recast.pipeline import (
    StageTimer,
    YieldSums,
    check_options,
    collections_to_read,
    load_tagger,
    normalised_yields,
    process_chunk,
    response_generator,
    selection_card,
)

if TYPE_CHECKING:
    import awkward as ak

    from surrotag.analysis import Analysis
    from surrotag.yields import Yields

__all__ = ["ChunkRecast"]


class ChunkRecast:
    """The per-chunk steps of :func:`surrotag.recast.recast` for one analysis and tagger.

    The analysis and its tagger are loaded and checked once, as the recast does; each call
    then turns one chunk of canonical events into its region yields.

    Args:
        analysis: installed analysis name, analysis folder, or
            :class:`~surrotag.analysis.Analysis`.
        level: input level of the events (``delphes``, ``particle``, ``parton``).
        tagger: ``surrogate`` or ``efficiency-map``.
        surrogate: surrogate name or folder replacing the analysis's.
        draws: Bayesian weight draws K (default: the surrogate card's).
        stochastic: sample one score per object and draw instead of the exact probability.
        seed: seed of the sampled scores (``stochastic``) and, at particle level, of the
            analysis's jet response (:mod:`surrotag.jets.response`), drawn chunk after chunk
            in the order of the calls: the recast's own draws when the chunks come in reading
            order, statistically equivalent ones otherwise (a parallel executor).
        device: torch device of the surrogate.
        threads: torch threads of the surrogate solves (see :func:`surrotag.recast.recast`).

    Attributes:
        analysis: the :class:`~surrotag.analysis.Analysis`.
        level: the input level's name.
        collections: the canonical collections each chunk must hold (read only these).

    Raises:
        SurrotagError: as :func:`surrotag.recast.recast` before it reads events (unknown
            analysis, a level it does not accept, a surrogate that does not fit it, ...).
    """

    def __init__(
        self,
        analysis: str | Path | Analysis,
        *,
        level: str = "delphes",
        tagger: str = "surrogate",
        surrogate: str | Path | None = None,
        draws: int | None = None,
        stochastic: bool = False,
        seed: int = 0,
        device: str = "cpu",
        threads: int | str | None = None,
    ) -> None:
        from surrotag.analysis import Analysis, get_analysis

        check_options(tagger, "nuisance", None, threads)
        self.analysis = analysis if isinstance(analysis, Analysis) else get_analysis(analysis)
        self.level = input_level(level).name
        self.analysis.card.surrogate_name(self.level)  # refuses a level it does not accept
        self._tagger = load_tagger(
            self.analysis, self.level, tagger, surrogate, draws, stochastic, seed, device, threads
        )
        from surrotag.recast.further import load_further_taggers

        self._further = load_further_taggers(
            self.analysis, self.level, tagger, self._tagger.draws, stochastic, seed, device,
            threads,
        )  # fmt: skip
        self._spec = selection_card(self.analysis, self.level)
        # particle level: the analysis's jet response, drawn chunk after chunk in call order
        particle = input_level(self.level).jets_from_particles
        self._response = self.analysis.particle_response() if particle else None
        self._generator = response_generator(seed) if self._response is not None else None
        taggers = [self._tagger, *(entry.tagger for entry in self._further)]
        features = [name for tagger in taggers for name in tagger.features]
        self.collections = tuple(collections_to_read(self.level, features, self.analysis))

    def __call__(self, events: ak.Array) -> dict[str, Yields]:
        """The yields of one chunk per region, in generator weights.

        Args:
            events: canonical events holding :attr:`collections`.

        Returns:
            ``{region name: Yields}`` (with the out-of-support yields) in the card's order.

        Raises:
            FormatError: the events lack one of :attr:`collections`.
        """
        missing = [name for name in self.collections if name not in events.fields]
        if missing:
            raise FormatError(
                f"events without {', '.join(missing)}: analysis {self.analysis.name!r} at level "
                f"{self.level!r} needs {', '.join(self.collections)}"
            )
        acc = YieldSums()
        process_chunk(
            events, self.analysis, self.level, self._spec, self._tagger, acc, StageTimer(),
            response=self._response, generator=self._generator, further=self._further,
        )  # fmt: skip
        draws = self._tagger.draws
        return {region.name: acc.yields(region, draws) for region in self.analysis.card.regions}

    def normalise(
        self, yields: Mapping[str, Yields], sum_weights: float, xsec_pb: float
    ) -> dict[str, Yields]:
        """Yields in expected events: times ``sigma L / sum_weights``, as the recast's.

        Args:
            yields: summed chunk yields per region (generator weights).
            sum_weights: the generator weights of *all* events read, before any selection.
            xsec_pb: the signal cross-section (pb).

        Returns:
            ``{region name: Yields}`` at the analysis's luminosity; a bin made negative by
            negative generator weights is 0, as in the recast.
        """
        from surrotag.yields import normalisation

        norm = normalisation(xsec_pb, self.analysis.card.luminosity_ifb, sum_weights)
        return {name: normalised_yields(value, norm, name) for name, value in yields.items()}

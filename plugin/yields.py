"""Signal yields per region and bin from per-event selection probabilities.

The surrogate gives each object a tag probability per Bayesian weight draw
(arXiv:2402.15558, Sec. 3), and the tag stage combines them into per-event selection
probabilities (:mod:`surrotag.tagging.combinatorics`: both, exactly one, at least one,
none); this module normalises the generator weights to the
integrated luminosity (:func:`normalisation`) and histograms the probability-weighted events
into the analysis bins (:func:`region_yields`): nominal yields (mean over draws), one yield
vector per draw, the draw covariance (the surrogate uncertainty) and the Monte Carlo
statistical error.

Objects out of the surrogate's training support are never trusted: a surrogate can
extrapolate a confident tag probability far outside its training data (the shipped top
tagger gives P = 1.00 with no Bayesian spread to jets of twice the largest training mass).
:func:`ood_region_yields` recomputes each event's region probability with every flagged
object's tag probability free in its allowed range (:data:`OOD_RANGE`) and keeps, per event,
the least (``down``) and the largest (``up``) value it reaches (at a corner of the range,
:func:`surrotag.tagging.counts.count_bounds`; :func:`bounded_region_yields` takes such
bounds of any requirement, e.g. a product over several taggers):
:attr:`Yields.ood_down` is the least signal the flagged objects allow, the conservative
signal of a likelihood, and :attr:`Yields.ood_up` the most. The nominal (the surrogate's own
probabilities) is unchanged; :attr:`Yields.ood_share` is the share of it carried by events
with at least one flagged object.

:class:`Yields` add (``a + b``, ``sum(chunks)``): the yields of two chunks of events, or of
two processes, add to the yields of their union; :meth:`Yields.to_hist` gives a
``hist.Hist`` with the observable and a weight-draw axis (plottable with mplhep) and
:meth:`Yields.from_hist` reads one back.

All functions are vectorised over events and draws. They accept numpy arrays and anything
``np.asarray`` understands (CPU torch tensors included; tensors requiring gradients are
detached).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from surrotag.errors import InputValueError, MissingDependencyError
from surrotag.tagging.combinatorics import as_float_array as _as_float_array
from surrotag.tagging.combinatorics import check_probabilities as _check_probabilities
from surrotag.tagging.combinatorics import event_probabilities

if TYPE_CHECKING:
    import hist

__all__ = [
    "DRAW_AXIS",
    "OOD_RANGE",
    "OodYields",
    "Yields",
    "bounded_region_yields",
    "normalisation",
    "ood_region_yields",
    "region_yields",
]

PB_TO_FB = 1000.0
"""1 pb = 1000 fb."""

_ONE_HOT_ENTRIES = 1 << 22
"""Entries of the per-chunk one-hot matrix in :func:`region_yields` (32 MiB of float64)."""

DRAW_AXIS: Final = "draw"
"""Name of the weight-draw axis of :meth:`Yields.to_hist`."""


def _draw_covariance(per_draw: np.ndarray) -> np.ndarray:
    """Covariance ``[B, B]`` of the yields ``[K, B]`` over draws (ddof 1; zeros for K = 1)."""
    n_draws, n_bins = per_draw.shape
    if n_draws > 1:
        return np.atleast_2d(np.cov(per_draw, rowvar=False))
    return np.zeros((n_bins, n_bins))


def _import_hist() -> Any:
    try:
        import hist
    except ImportError as error:
        raise MissingDependencyError(
            f"Yields as histograms need hist ({error}); pip install 'surrotag[plot]'"
        ) from None
    return hist


def normalisation(xsec_pb: float, lumi_ifb: float, sum_weights: float) -> float:
    """Factor turning generator weights into expected events: ``sigma L / sum(w)``.

    Multiply each event's generator weight by this factor (and by its selection probability)
    to get its expected number of events; with unit weights ``sum_weights`` is the number of
    generated events.

    Args:
        xsec_pb: cross-section of the generated process in pb (>= 0).
        lumi_ifb: integrated luminosity in fb^-1 (> 0).
        sum_weights: sum of the generator weights of *all* generated events, before any
            selection (nonzero).

    Returns:
        Expected events per unit generator weight.

    Raises:
        InputValueError: a negative or non-finite cross-section, a non-positive luminosity, a
            zero or non-finite sum of weights.

    Example:
        >>> normalisation(0.5, 139.0, 10000)  # 0.5 pb x 139 fb^-1 = 69500 events
        6.95
    """
    values = {"cross-section": xsec_pb, "luminosity": lumi_ifb, "sum of weights": sum_weights}
    for name, value in values.items():
        if not isinstance(value, (int, float, np.number)) or not math.isfinite(value):
            raise InputValueError(f"{name} {value!r} is not a finite number")
    if xsec_pb < 0:
        raise InputValueError(f"cross-section {xsec_pb!r} pb is negative; give sigma in pb (>= 0)")
    if lumi_ifb <= 0:
        raise InputValueError(f"luminosity {lumi_ifb!r} fb^-1 must be positive")
    if sum_weights == 0:
        raise InputValueError(
            "sum of weights is 0: pass the sum over all generated events, before selection"
        )
    return float(xsec_pb) * PB_TO_FB * float(lumi_ifb) / float(sum_weights)


#: Allowed range of a tag probability: an out-of-support object's is varied over it.
OOD_RANGE: Final = (0.0, 1.0)


@dataclass(frozen=True)
class OodYields:
    """Yields of the events of one region that hold at least one out-of-support object.

    Attributes:
        nominal: their nominal yield ``[B]`` (mean over weight draws).
        down: their least yield ``[B]``: per event the least region probability over the
            flagged objects' tag probabilities in [0, 1] (for ``both`` and ``at_least_one``
            all at 0, for ``none`` all at 1).
        up: their largest yield ``[B]``, per event the largest such probability.
    """

    nominal: np.ndarray
    down: np.ndarray
    up: np.ndarray

    def scaled(self, factor: float) -> OodYields:
        """All three multiplied by ``factor`` (e.g. the normalisation sigma L / sum w)."""
        return OodYields(self.nominal * factor, self.down * factor, self.up * factor)

    def __add__(self, other: OodYields) -> OodYields:
        return OodYields(self.nominal + other.nominal, self.down + other.down, self.up + other.up)


@dataclass(frozen=True)
class Yields:
    """Expected signal events of one region, per bin.

    Attributes:
        bin_edges: bin edges ``[B + 1]`` in the observable's unit (e.g. GeV).
        nominal: mean over weight draws ``[B]``.
        per_draw: one yield vector per Bayesian weight draw ``[K, B]``.
        mc_stat_error: Monte Carlo statistical error of ``nominal``,
            ``sqrt(sum_n w_n^2 pbar_n^2)`` with ``pbar`` the draw-averaged probability ``[B]``.
        covariance: covariance of the yields over draws ``[B, B]`` (``np.cov``, ddof 1;
            zeros for a single draw): the surrogate uncertainty.
        ood: the events holding an out-of-support object (:class:`OodYields`), or None
            when the caller did not track the flags.
        observable: name of the binned quantity (e.g. ``mjj``), or None when unknown.

    Yields add: ``a + b`` (and ``sum(chunks)``) of two yields with the same bin edges, draw
    count and observable are the yields of the union of their events (the weight draws are
    the same draws in both, so draw k adds to draw k): per-draw yields and the OOD yields
    add, the MC statistical errors add in quadrature (they are square roots of sums of
    ``w^2 pbar^2``), the nominal and the covariance are recomputed from the summed draws.
    Normalise after adding (or add yields already normalised to the same luminosity);
    yields whose negative bins were clipped to 0 (NLO weights, the recast's region yields)
    add to the clipped chunks, not to the clipped whole.

    Example:
        >>> a = region_yields([1.0, 2.0], [[0.5, 1.0], [0.1, 0.3]], [5.0, 15.0], [0, 10, 20])
        >>> b = region_yields([4.0], [[0.5], [0.7]], [12.0], [0, 10, 20])
        >>> total = sum([a, b])
        >>> total.per_draw.tolist()
        [[0.5, 4.0], [0.1, 3.4]]
        >>> h = total.to_hist()
        >>> h.axes.name, h.values().shape
        (('observable', 'draw'), (2, 2))
    """

    bin_edges: np.ndarray
    nominal: np.ndarray
    per_draw: np.ndarray
    mc_stat_error: np.ndarray
    covariance: np.ndarray
    ood: OodYields | None = None
    observable: str | None = None

    def _check_addable(self, other: Yields) -> None:
        """Raise :class:`InputValueError` unless ``other`` has this binning and draw count."""
        if not np.array_equal(self.bin_edges, other.bin_edges):
            raise InputValueError(
                f"cannot add yields binned in {self.bin_edges.tolist()} and in "
                f"{other.bin_edges.tolist()}: the bin edges must be the same"
            )
        if self.n_draws != other.n_draws:
            raise InputValueError(
                f"cannot add yields of {self.n_draws} and of {other.n_draws} weight draws: "
                "tag both with the same number of draws (and the same seed)"
            )
        if None not in (self.observable, other.observable) and self.observable != other.observable:
            raise InputValueError(
                f"cannot add yields of observable {self.observable!r} and {other.observable!r}"
            )
        if (self.ood is None) != (other.ood is None):
            raise InputValueError(
                "cannot add yields with and without out-of-support yields: track the flags in "
                "both (ood_region_yields gives zeros when no object is flagged)"
            )

    def __add__(self, other: Any) -> Yields:
        """The yields of the union of both sets of events (see the class docstring).

        Raises:
            InputValueError: different bin edges, draw counts or observables, or
                out-of-support yields in only one of the two.
        """
        if not isinstance(other, Yields):
            return NotImplemented
        self._check_addable(other)
        per_draw = self.per_draw + other.per_draw
        return Yields(
            bin_edges=self.bin_edges.copy(),
            nominal=per_draw.mean(axis=0),
            per_draw=per_draw,
            mc_stat_error=np.sqrt(self.mc_stat_error**2 + other.mc_stat_error**2),
            covariance=_draw_covariance(per_draw),
            ood=None if self.ood is None or other.ood is None else self.ood + other.ood,
            observable=self.observable if self.observable is not None else other.observable,
        )

    def __radd__(self, other: Any) -> Yields:
        """``0 + yields`` is ``yields``, so that ``sum(list_of_yields)`` works."""
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented

    def to_hist(self, unit: str = "GeV", label: str | None = None) -> hist.Hist:
        """The per-draw yields as a 2-D ``hist.Hist``: observable x weight draw.

        Axis 0 is a ``Variable`` axis with :attr:`bin_edges` (named :attr:`observable`, or
        ``observable`` when unknown; no flow bins), axis 1 the ``Integer`` axis
        :data:`DRAW_AXIS` over ``0 .. K-1``. Weight storage: the value of bin (b, k) is
        ``per_draw[k, b]`` (expected events) and its variance ``mc_stat_error[b]^2`` in every
        draw, so that histograms of two chunks add like the yields (``a.to_hist() +
        b.to_hist()`` equals ``(a + b).to_hist()``). The out-of-support yields are not
        carried. Plot with mplhep: ``h.plot1d(overlay="draw")`` (one line per draw) or
        ``h[:, 0].plot()``.

        Args:
            unit: unit of the bin edges for the axis label (default GeV).
            label: axis label; default ``"<observable> [<unit>]"``.

        Returns:
            ``hist.Hist`` of shape ``[B, K]`` with ``Weight`` storage.

        Raises:
            MissingDependencyError: hist is not installed (``pip install 'surrotag[plot]'``).
        """
        hist = _import_hist()
        name = self.observable or "observable"
        h = hist.Hist(
            hist.axis.Variable(
                self.bin_edges,
                name=name,
                label=label if label is not None else f"{name} [{unit}]",
                flow=False,
            ),
            hist.axis.Integer(0, self.n_draws, name=DRAW_AXIS, label="weight draw", flow=False),
            storage=hist.storage.Weight(),
        )
        view = h.view()
        view.value = self.per_draw.T
        view.variance = np.broadcast_to(self.mc_stat_error[:, None] ** 2, view.shape)
        return h

    @classmethod
    def from_hist(cls, h: hist.Hist) -> Yields:
        """Yields from a histogram of :meth:`to_hist`'s layout (a sum of them included).

        Args:
            h: ``hist.Hist`` with an observable axis and the :data:`DRAW_AXIS` axis (in
                either order) and ``Weight`` storage whose variance is the same in every
                draw. Flow bins are ignored.

        Returns:
            :class:`Yields` without out-of-support yields (``ood=None``); the nominal and
            the covariance are recomputed from the draws.

        Raises:
            InputValueError: not two axes, no draw axis, no variances, or variances that
                differ between draws.
        """
        names = tuple(h.axes.name)
        if len(names) != 2 or DRAW_AXIS not in names:
            raise InputValueError(
                f"histogram axes {names}: expected an observable axis and {DRAW_AXIS!r}"
            )
        obs = 1 - names.index(DRAW_AXIS)
        variances = h.variances()
        if variances is None or not hasattr(h.view(), "variance"):
            raise InputValueError("histogram has no variances: fill it with Weight storage")
        values = np.asarray(h.values(), dtype=np.float64)
        variances = np.asarray(variances, dtype=np.float64)
        if obs == 1:
            values, variances = values.T, variances.T
        if not np.allclose(variances, variances[:, :1], rtol=1e-9, atol=0.0):
            raise InputValueError(
                "histogram variances differ between weight draws: not a Yields histogram"
            )
        per_draw = values.T.copy()
        name = names[obs]
        return cls(
            bin_edges=np.asarray(h.axes[obs].edges, dtype=np.float64),
            nominal=per_draw.mean(axis=0),
            per_draw=per_draw,
            mc_stat_error=np.sqrt(variances[:, 0]),
            covariance=_draw_covariance(per_draw),
            observable=None if name == "observable" else name,
        )

    @property
    def ood_down(self) -> np.ndarray:
        """Yields ``[B]`` with the out-of-support objects at their least-signal end."""
        if self.ood is None:
            return self.nominal
        return np.clip(self.nominal - self.ood.nominal + self.ood.down, 0.0, None)

    @property
    def ood_up(self) -> np.ndarray:
        """Yields ``[B]`` with the out-of-support objects at their most-signal end."""
        if self.ood is None:
            return self.nominal
        return np.clip(self.nominal - self.ood.nominal + self.ood.up, 0.0, None)

    @property
    def ood_share(self) -> float:
        """Share of the nominal yield (all bins) carried by events with a flagged object."""
        total = float(np.sum(self.nominal))
        if self.ood is None or total <= 0:
            return 0.0
        return float(np.clip(np.sum(self.ood.nominal) / total, 0.0, 1.0))

    @property
    def has_ood_variation(self) -> bool:
        """Whether the out-of-support yields differ from the nominal in any bin."""
        return self.ood is not None and bool(
            np.any(self.ood.down != self.ood.nominal) or np.any(self.ood.up != self.ood.nominal)
        )

    @property
    def n_bins(self) -> int:
        """Number of bins B."""
        return int(self.nominal.shape[0])

    @property
    def n_draws(self) -> int:
        """Number of weight draws K."""
        return int(self.per_draw.shape[0])

    @classmethod
    def from_nominal(
        cls, nominal: Any, mc_stat_error: Any | None = None, bin_edges: Any | None = None
    ) -> Yields:
        """Yields known only as a nominal vector (one draw, no surrogate uncertainty)."""
        nom = _as_float_array(nominal, "nominal yields").reshape(-1)
        err = (
            np.zeros_like(nom)
            if mc_stat_error is None
            else _as_float_array(mc_stat_error, "MC stat error").reshape(-1)
        )
        if err.shape != nom.shape:
            raise InputValueError(
                f"MC stat error has {err.size} bins but the nominal yields {nom.size}"
            )
        edges = (
            np.arange(nom.size + 1, dtype=np.float64)
            if bin_edges is None
            else _as_float_array(bin_edges, "bin edges")
        )
        return cls(edges, nom, nom[None, :].copy(), err, np.zeros((nom.size, nom.size)))


def region_yields(
    event_weight: Any,
    region_prob: Any,
    observable: Any,
    bin_edges: Any,
    *,
    name: str | None = None,
) -> Yields:
    """Histogram probability-weighted events into bins, for every weight draw at once.

    Event n contributes ``w_n p_kn`` to bin ``b(x_n)`` of draw k. Bins follow
    ``np.histogram``: half-open ``[e_i, e_i+1)`` except the last, which includes its upper
    edge; events outside the edges (or with NaN observable) are dropped. All draws are
    filled at once by a matrix product with the weight-carrying one-hot bin matrix (chunked
    over events only to bound memory): no loop over events or draws.

    Args:
        event_weight: expected events per event ``[N]`` (generator weight times
            :func:`normalisation`), may be negative.
        region_prob: probability that each event is in the region, ``[N]`` (one draw) or
            ``[K, N]`` (one row per Bayesian weight draw).
        observable: the binned quantity per event ``[N]`` (e.g. m_eff in GeV).
        bin_edges: strictly increasing edges ``[B + 1]``, same unit as ``observable``.
        name: name of the observable (e.g. ``mjj``), kept as :attr:`Yields.observable`.

    Returns:
        :class:`Yields`.

    Raises:
        InputValueError: mismatched lengths, probabilities outside [0, 1], non-finite
            weights, or bad bin edges.
    """
    w = _as_float_array(event_weight, "event weights")
    p = _as_float_array(region_prob, "region probabilities")
    x = _as_float_array(observable, "observable")
    edges = _as_float_array(bin_edges, "bin edges")
    if edges.ndim != 1 or edges.size < 2 or not np.all(np.diff(edges) > 0):
        raise InputValueError(
            f"bin edges {edges.tolist()!r} must be a strictly increasing 1-D list of >= 2 values"
        )
    if w.ndim != 1 or x.shape != w.shape:
        raise InputValueError(
            f"event weights {w.shape} and observable {x.shape} must both be 1-D of length N"
        )
    if p.ndim == 1:
        p = p[None, :]
    if p.ndim != 2 or p.shape[1] != w.size:
        raise InputValueError(
            f"region probabilities have shape {p.shape}; expected [N] or [K, N] with N = {w.size}"
        )
    if not np.all(np.isfinite(w)):
        raise InputValueError("event weights contain NaN or infinite values")
    _check_probabilities(p, "region probabilities")

    n_draws, n_bins = p.shape[0], edges.size - 1
    # np.histogram convention: right-open bins, last bin closed; outside (or NaN) -> weight 0
    bin_index = np.searchsorted(edges, x, side="right") - 1
    bin_index[x == edges[-1]] = n_bins - 1
    inside = (bin_index >= 0) & (bin_index < n_bins)
    bin_index = np.where(inside, bin_index, 0)
    w_in = np.where(inside, w, 0.0)

    # per_draw[k, b] = sum_n p[k, n] w_n [bin_n == b]: a matrix product with the weighted
    # one-hot matrix, in event chunks so that the one-hot matrix stays small (<= 32 MiB).
    # One pass over p through BLAS: ~3x faster than one bincount with offsets k * B.
    per_draw = np.zeros((n_draws, n_bins))
    chunk = max(1, _ONE_HOT_ENTRIES // n_bins)
    for start in range(0, w.size, chunk):
        stop = min(start + chunk, w.size)
        one_hot = np.zeros((stop - start, n_bins))
        one_hot[np.arange(stop - start), bin_index[start:stop]] = w_in[start:stop]
        per_draw += p[:, start:stop] @ one_hot

    p_mean = p.mean(axis=0)
    mc_stat = np.sqrt(np.bincount(bin_index, weights=(w_in * p_mean) ** 2, minlength=n_bins))
    return Yields(
        bin_edges=edges,
        nominal=per_draw.mean(axis=0),
        per_draw=per_draw,
        mc_stat_error=mc_stat,
        covariance=_draw_covariance(per_draw),
        observable=name,
    )


def bounded_region_yields(
    event_weight: Any,
    nominal: Any,
    low: Any,
    high: Any,
    flagged: Any,
    observable: Any,
    bin_edges: Any,
) -> OodYields:
    """Yields of the events holding an out-of-support object, at their nominal, least and
    largest region probability.

    Args:
        event_weight: expected events per event ``[N]``.
        nominal, low, high: region probabilities ``[K, N]``: the surrogate's own, and the
            least and largest that the flagged objects' allowed range gives
            (:func:`surrotag.tagging.counts.count_bounds`, multiplied over independent
            requirements).
        flagged: bool ``[N]``, the event holds a flagged object (only these enter).
        observable: binned quantity per event ``[N]``.
        bin_edges: strictly increasing edges ``[B + 1]``.

    Returns:
        :class:`OodYields`, each averaged over draws like the nominal (zeros when nothing
        is flagged).
    """
    rows = np.flatnonzero(np.asarray(flagged, dtype=bool).reshape(-1))
    n_bins = _as_float_array(bin_edges, "bin edges").size - 1
    if rows.size == 0:
        zeros = np.zeros(max(n_bins, 0))
        return OodYields(zeros, zeros.copy(), zeros.copy())
    w = _as_float_array(event_weight, "event weights").reshape(-1)[rows]
    x = _as_float_array(observable, "observable").reshape(-1)[rows]
    return OodYields(
        *(
            region_yields(w, np.atleast_2d(_as_float_array(prob, "region probabilities"))[:, rows],
                          x, bin_edges).nominal
            for prob in (nominal, low, high)
        )
    )  # fmt: skip


def ood_region_yields(
    event_weight: Any,
    p1: Any,
    p2: Any,
    flagged1: Any,
    flagged2: Any,
    requirement: str,
    observable: Any,
    bin_edges: Any,
) -> OodYields:
    """Yields of the two-object events holding an out-of-support object: nominal, least, most.

    Only events with a flagged object enter. Their region probability is recomputed per
    weight draw with every flagged object's tag probability free in its allowed range
    (:data:`OOD_RANGE`): the region probability is linear in each object's probability, so
    its least (``down``) and largest (``up``) values lie at corners where each flagged object
    is tagged or not (:func:`surrotag.tagging.counts.count_bounds`, which includes the mixed
    corner: "exactly one" of two flagged objects reaches 1); then averaged over draws like
    the nominal.

    Args:
        event_weight: expected events per event ``[N]``.
        p1, p2: tag probabilities of the two objects, ``[N]`` or ``[K, N]``.
        flagged1, flagged2: bool ``[N]``, object out of the surrogate's training support.
        requirement: the region's tag requirement
            (:data:`surrotag.tagging.combinatorics.REQUIREMENTS`).
        observable: binned quantity per event ``[N]``.
        bin_edges: strictly increasing edges ``[B + 1]``.

    Returns:
        :class:`OodYields` (zeros when no event holds a flagged object).

    Example:
        >>> y = ood_region_yields([1.0, 1.0], [0.5, 0.5], [0.5, 0.5], [True, False],
        ...                       [False, False], "both", [0.5, 1.5], [0, 1, 2])
        >>> y.nominal.tolist(), y.down.tolist(), y.up.tolist()
        ([0.25, 0.0], [0.0, 0.0], [0.5, 0.0])
        >>> y = ood_region_yields([1.0], [0.5], [0.5], [True], [True], "exactly_one", [0.5],
        ...                       [0, 1])
        >>> y.nominal.tolist(), y.down.tolist(), y.up.tolist()
        ([0.5], [0.0], [1.0])
    """
    from surrotag.tagging.counts import pair_bounds

    w = _as_float_array(event_weight, "event weights").reshape(-1)
    a = np.atleast_2d(_as_float_array(p1, "p1"))
    b = np.atleast_2d(_as_float_array(p2, "p2"))
    f1 = np.asarray(flagged1, dtype=bool).reshape(-1)
    f2 = np.asarray(flagged2, dtype=bool).reshape(-1)
    x = _as_float_array(observable, "observable").reshape(-1)
    if not (a.shape[-1] == b.shape[-1] == w.size == x.size == f1.size == f2.size):
        raise InputValueError(
            f"ood_region_yields: weights {w.shape}, p1 {a.shape}, p2 {b.shape}, flags "
            f"{f1.shape}/{f2.shape} and observable {x.shape} must share the event axis N"
        )
    nominal = event_probabilities(a, b).of(requirement)
    a, b = np.broadcast_arrays(a, b)
    low, high = pair_bounds(a, b, np.column_stack([f1, f2]), requirement, nominal)
    return bounded_region_yields(w, nominal, low, high, f1 | f2, x, bin_edges)

"""Statistics: background-only workspaces, signal patches, CLs and upper limits (pyhf).

The analysis ships a background-only pyhf workspace (:mod:`.workspace`); the recast signal
enters as an RFC 6902 JSON patch (:mod:`.patch`) with its own MC-statistics modifier and the
surrogate uncertainty as correlated eigen-variations; :mod:`.infer` computes CLs and 95% CL
upper limits with the asymptotic formulae (arXiv:1007.1727) through pyhf; :mod:`.dijet_fit`
fits the dijet function to an m_jj spectrum, the smooth multijet background of dijet searches.
"""

from __future__ import annotations

from surrotag.stats.dijet_fit import DijetFit, fit_dijet, smooth_sample
from surrotag.stats.infer import (
    CLsResult,
    FitResult,
    UpperLimit,
    cls,
    cls_and_upper_limit,
    fit,
    upper_limit,
)
from surrotag.stats.patch import (
    EigenVariations,
    PatchPoint,
    SignalPatch,
    build_patch,
    eigen_variations,
    patchset,
    write_patchset,
)
from surrotag.stats.workspace import BackgroundWorkspace, ChannelInfo, load_workspace

__all__ = [
    "BackgroundWorkspace",
    "CLsResult",
    "ChannelInfo",
    "DijetFit",
    "EigenVariations",
    "FitResult",
    "PatchPoint",
    "SignalPatch",
    "UpperLimit",
    "build_patch",
    "cls",
    "cls_and_upper_limit",
    "eigen_variations",
    "fit",
    "fit_dijet",
    "load_workspace",
    "patchset",
    "smooth_sample",
    "upper_limit",
    "write_patchset",
]

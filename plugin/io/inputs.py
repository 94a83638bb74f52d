"""Find the event files of a recast as users have them, and what they say about themselves.

:func:`resolve_inputs` turns command-line arguments into event files: plain files, shell
globs (``"runs/*.lhe.gz"``) and MadGraph5_aMC@NLO output folders. A MadGraph run folder is
``PROC/Events/run_NN/``; it holds ``<tag>_delphes_events.root`` when Delphes ran,
``<tag>_pythia8_events.hepmc.gz`` when Pythia 8 showered the events, and
``unweighted_events.lhe.gz``, plus the run banner ``run_NN_<tag>_banner.txt``. The most
complete record of the same events is taken: the Delphes file (reconstructed objects,
``delphes`` level), else the showered HepMC record (``particle`` level: hadron-level jets,
no detector), else the LHE file (``parton`` level). Pass a file itself to choose another
level. The process folder ``PROC`` or its ``Events`` folder may be given when it holds
exactly one run.

:func:`input_cross_section` reads the cross-section that the inputs carry, in order of
preference per file: the matched cross-section of a merged MadGraph run's banner for its
LHE events (below), the LHE ``<init>`` block (sum of ``XSECUP``, pb;
arXiv:hep-ph/0609017) checked against the event weights
(:func:`surrotag.io.lhe.lhe_cross_section_info`), the HepMC cross-section of the last event
that records one (pb), the provenance of surrotag's own Parquet samples (``sigma_pb``,
recorded by ``surrotag reference generate``), and the MadGraph banner of the run folder.

The banner records the matrix-element cross-section (``#  Integrated weight (pb)  :
0.123``) and, once the shower ran on an MLM/CKKW-merged run (``ickkw`` != 0), the
cross-section after the matching veto (``#  Matched Integrated weight (pb)  :  0.045``).
The matched one is the sample's cross-section whenever there is one: for Delphes files
(showered, matched) and for the run's LHE events too (the unmatched XSECUP would count the
jet multiplicities twice), the latter with a warning that parton-level events have not
passed the veto. A merged run whose banner has no matched cross-section gives the unmatched
one with a warning; an LHE ``<init>`` that disagrees with the banner gives the LHE's own
number with a warning. Every such warning is one line in :attr:`CrossSection.warnings`
and the ``source`` says which number was used. :func:`input_collision_energy` reads the
collision energy of every file (LHE ``EBMUP1 + EBMUP2``, Parquet ``settings.ecm``, banner
``ebeam1 + ebeam2``), in GeV; files that disagree follow the convention of the
cross-sections: a one-line warning listing the files and energies, and no single energy is
claimed (:func:`input_sqrt_s` gives None), whatever the order of the files.
"""

from __future__ import annotations

import glob
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, NamedTuple

from surrotag.errors import EmptyInputError, InputFileError, InputValueError

__all__ = [
    "CollisionEnergy",
    "CrossSection",
    "InputFiles",
    "input_collision_energy",
    "input_cross_section",
    "input_sqrt_s",
    "madgraph_banner",
    "resolve_inputs",
]

#: File names of a MadGraph run folder, in order of preference.
_DELPHES_GLOB: Final = "*_delphes_events.root"
_LHE_NAMES: Final = ("unweighted_events.lhe.gz", "unweighted_events.lhe")
_HEPMC_GLOB: Final = "*_pythia8_events.hepmc*"
_BANNER_GLOB: Final = "*_banner.txt"
_GLOB_CHARS: Final = re.compile(r"[*?\[]")
_NUMBER: Final = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eEdD][-+]?\d+)?)"
_XSEC_LINE: Final = re.compile(r"^[\s#]*Integrated weight \(pb\)\s*:\s*" + _NUMBER, re.MULTILINE)
_MATCHED_LINE: Final = re.compile(
    r"^[\s#]*Matched Integrated weight \(pb\)\s*:\s*" + _NUMBER, re.MULTILINE
)
_ICKKW_LINE: Final = re.compile(r"^\s*(\S+)\s*=\s*ickkw\b", re.MULTILINE)
_EBEAM_LINE: Final = re.compile(r"^\s*([-+0-9.eEdD]+)\s*=\s*ebeam([12])\b", re.MULTILINE)


@dataclass(frozen=True)
class InputFiles:
    """Resolved event files.

    Attributes:
        paths: the event files, in the order given (globs sorted).
        run_folders: the MadGraph run folder of each file (None for plain files); its
            banner may carry the cross-section.
    """

    paths: tuple[Path, ...]
    run_folders: tuple[Path | None, ...]


@dataclass(frozen=True)
class CrossSection:
    """A cross-section and where it came from.

    Attributes:
        value_pb: sigma in pb (>= 0).
        error_pb: its uncertainty in pb (0 when unknown).
        source: ``option`` (given by the user), ``lhe-init`` (XSECUP), ``lhe-weights``
            (the mean event weight), ``hepmc``, ``parquet-provenance``, ``madgraph-banner``
            (unmatched) or ``madgraph-banner-matched`` (after the matching veto of a merged
            run); ``+``-joined when files differ.
        detail: the file it was read from (or the option), for the report.
        warnings: one line per doubt about the number (sources that disagree, a merged run
            without matched cross-section), each saying which number was used.
    """

    value_pb: float
    error_pb: float
    source: str
    detail: str
    warnings: tuple[str, ...] = ()


def _run_folder_files(folder: Path) -> list[Path]:
    """The run folder's most complete record: Delphes, else showered HepMC, else LHE."""
    for found in (sorted(folder.glob(_DELPHES_GLOB)), sorted(folder.glob(_HEPMC_GLOB))):
        if found:
            return found
    return [folder / name for name in _LHE_NAMES if (folder / name).is_file()][:1]


def _runs_of(folder: Path) -> list[Path]:
    """Run folders of a MadGraph process folder or its Events folder."""
    events = folder / "Events" if (folder / "Events").is_dir() else folder
    return sorted(p for p in events.glob("run_*") if p.is_dir() and _run_folder_files(p))


def _expand_folder(folder: Path) -> tuple[list[Path], Path]:
    files = _run_folder_files(folder)
    if files:
        return files, folder
    runs = _runs_of(folder)
    if len(runs) == 1:
        return _run_folder_files(runs[0]), runs[0]
    if len(runs) > 1:
        names = ", ".join(run.name for run in runs)
        raise InputFileError(
            f"{folder}: holds {len(runs)} MadGraph runs ({names}); pass one run folder, "
            f"e.g. {runs[0]}, or its event files"
        )
    raise InputFileError(
        f"{folder}: no event files found: a MadGraph run folder holds {_DELPHES_GLOB}, "
        f"{_LHE_NAMES[0]} or {_HEPMC_GLOB} (Events/run_*/); pass event files or such a folder"
    )


def resolve_inputs(specs: Sequence[str | os.PathLike[str]]) -> InputFiles:
    """Event files from files, globs and MadGraph folders.

    Args:
        specs: each a file, a glob pattern (``*``, ``?``, ``[``), a MadGraph run folder
            ``Events/run_NN``, or a process or ``Events`` folder holding exactly one run.

    Returns:
        :class:`InputFiles`, duplicates removed (first occurrence kept).

    Raises:
        EmptyInputError: nothing given, or a glob matching no file.
        InputFileError: a missing path, or a folder without (or with several) runs.
    """
    if not specs:
        raise EmptyInputError("no event files given; pass files, globs or a MadGraph run folder")
    paths: list[Path] = []
    runs: list[Path | None] = []
    for spec in specs:
        text = os.fspath(spec)
        path = Path(text)
        if path.is_dir():
            found, run = _expand_folder(path)
            paths += found
            runs += [run] * len(found)
        elif path.is_file():
            paths.append(path)
            runs.append(path.parent if list(path.parent.glob(_BANNER_GLOB)) else None)
        elif _GLOB_CHARS.search(text):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
            matches = [m for m in matches if m.is_file()]
            if not matches:
                raise EmptyInputError(f"{text}: the pattern matches no file")
            paths += matches
            runs += [m.parent if list(m.parent.glob(_BANNER_GLOB)) else None for m in matches]
        else:
            raise InputFileError(f"{text}: no such file or folder")
    seen: dict[Path, tuple[Path, Path | None]] = {}
    for path, run in zip(paths, runs, strict=True):
        seen.setdefault(path.resolve(), (path, run))
    return InputFiles(tuple(p for p, _ in seen.values()), tuple(r for _, r in seen.values()))


def madgraph_banner(folder: Path | None) -> Path | None:
    """The run banner ``*_banner.txt`` of a MadGraph run folder (None if absent)."""
    if folder is None:
        return None
    banners = sorted(folder.glob(_BANNER_GLOB))
    return banners[0] if banners else None


def _number(text: str) -> float:
    return float(text.replace("d", "e").replace("D", "e"))


class _Banner(NamedTuple):
    """The cross-sections (pb) a MadGraph run banner records."""

    path: Path
    integrated: float | None  # the matrix-element one
    matched: float | None  # after the matching veto (the last one written)
    ickkw: str | None  # the run card's merging scheme, when not 0


def _banner(folder: Path | None) -> _Banner | None:
    banner = madgraph_banner(folder)
    if banner is None:
        return None
    text = banner.read_text("utf-8", errors="replace")
    integrated = _XSEC_LINE.search(text)
    matched = _MATCHED_LINE.findall(text)
    ickkw = _ICKKW_LINE.search(text)
    merged = None
    if ickkw is not None and ickkw.group(1).strip("'\"") not in ("0", "0.0", "F", "False"):
        merged = ickkw.group(1)
    return _Banner(
        banner,
        None if integrated is None else _number(integrated.group(1)),
        _number(matched[-1]) if matched else None,
        merged,
    )


def _differ(a: float, b: float) -> bool:
    from surrotag.io.lhe import XSEC_RTOL

    return abs(a - b) > XSEC_RTOL * max(abs(a), abs(b))


def _own_cross_section(path: Path, fmt: str) -> CrossSection | None:
    """What the event file itself says (LHE: XSECUP checked against the weights)."""
    if fmt == "lhe":
        from surrotag.io.lhe import lhe_cross_section_info

        info = lhe_cross_section_info(path)
        if info is None:
            return None
        notes = () if info.warning is None else (info.warning,)
        return CrossSection(info.value_pb, info.error_pb, info.source, str(path), notes)
    from surrotag.io.readers import cross_section

    found = cross_section(path)
    source = "hepmc" if fmt == "hepmc" else "parquet-provenance"
    return None if found is None else CrossSection(found[0], found[1], source, str(path))


def _file_cross_section(path: Path, run: Path | None) -> CrossSection | None:
    from surrotag.io.sniff import sniff_format

    fmt = sniff_format(path)
    banner = _banner(run)
    if banner is not None and banner.matched is not None and fmt in ("lhe", "delphes", "exroot"):
        notes: tuple[str, ...] = ()
        if fmt != "delphes":
            unmatched = "?" if banner.integrated is None else f"{banner.integrated:.6g}"
            notes = (
                f"{path}: parton-level events of a merged run (ickkw = {banner.ickkw or '?'}) "
                f"normalised to the banner's matched cross-section {banner.matched:.6g} pb "
                f"(unmatched {unmatched} pb); they have not passed the matching veto",
            )
        return CrossSection(banner.matched, 0.0, "madgraph-banner-matched", str(banner.path), notes)
    own = _own_cross_section(path, fmt)
    if own is not None:
        if (
            fmt == "lhe"
            and banner is not None
            and banner.integrated is not None
            and _differ(own.value_pb, banner.integrated)
        ):
            line = (
                f"{path}: the LHE file gives {own.value_pb:.6g} pb ({own.source}), its run "
                f"banner {banner.path.name} {banner.integrated:.6g} pb; used the LHE file's "
                "(give --xsec-pb if the banner is right)"
            )
            own = replace(own, warnings=(*own.warnings, line))
        return own
    if banner is not None and banner.matched is not None:
        return CrossSection(banner.matched, 0.0, "madgraph-banner-matched", str(banner.path))
    if banner is None or banner.integrated is None:
        return None
    notes = ()
    if banner.ickkw is not None:
        notes = (
            f"{banner.path}: merged run (ickkw = {banner.ickkw}) without a matched "
            "cross-section ('Matched Integrated weight (pb)', written when the shower ran); "
            f"used the unmatched {banner.integrated:.6g} pb, which overestimates the showered "
            "sample's: give --xsec-pb",
        )
    return CrossSection(banner.integrated, 0.0, "madgraph-banner", str(banner.path), notes)


def input_cross_section(
    inputs: InputFiles, n_events: Sequence[int] | None = None
) -> CrossSection | None:
    """The cross-section the inputs carry (None if a file carries none).

    Several files of one sample (e.g. generation jobs) each carry an estimate; they are
    combined as the mean weighted by each file's number of events ``n_events`` (equal
    weights when None), the errors likewise, as ``surrotag reference generate`` combines its
    jobs; their warnings are gathered (each once).

    Raises:
        InputValueError: a negative or non-finite cross-section in a file.
    """
    found = [
        _file_cross_section(p, r) for p, r in zip(inputs.paths, inputs.run_folders, strict=True)
    ]
    if not found or any(f is None for f in found):
        return None
    for item in found:
        if not math.isfinite(item.value_pb) or item.value_pb < 0:
            raise InputValueError(
                f"{item.detail}: cross-section {item.value_pb!r} pb ({item.source}) is negative "
                "or not finite; give the right one with --xsec-pb"
            )
    if len(found) == 1:
        return found[0]
    notes = tuple(dict.fromkeys(line for item in found for line in item.warnings))
    weights = [1.0] * len(found) if n_events is None else [float(n) for n in n_events]
    total = math.fsum(weights) or 1.0
    value = math.fsum(w * f.value_pb for w, f in zip(weights, found, strict=True)) / total
    error = math.sqrt(math.fsum((w * f.error_pb) ** 2 for w, f in zip(weights, found, strict=True)))
    sources = sorted({f.source for f in found})
    return CrossSection(
        value, error / total, "+".join(sources), f"{len(found)} files, n-weighted", notes
    )


def _file_sqrt_s(path: Path, run: Path | None) -> float | None:
    from surrotag.io.sniff import sniff_format

    fmt = sniff_format(path)
    if fmt == "lhe":
        import pylhe

        lhef = pylhe.LHEFile.fromfile(path, generator=True)
        lhef.events.close()
        info = lhef.init.initInfo
        return float(info.energyA) + float(info.energyB)
    if fmt == "parquet":
        from surrotag.io.parquet import read_parquet_metadata

        settings = read_parquet_metadata(path).get("settings") or {}
        ecm = settings.get("ecm") if isinstance(settings, dict) else None
        return float(ecm) if ecm is not None else None
    banner = madgraph_banner(run)
    if banner is not None:
        beams = dict(
            (m.group(2), _number(m.group(1)))
            for m in _EBEAM_LINE.finditer(banner.read_text("utf-8", errors="replace"))
        )
        if len(beams) == 2:
            return beams["1"] + beams["2"]
    return None


#: Relative difference above which two files' collision energies disagree.
_SQRT_S_RTOL: Final = 1e-6
#: Files named per energy in the warning of mixed energies (the rest are counted).
_NAMED_PER_ENERGY: Final = 3


@dataclass(frozen=True)
class CollisionEnergy:
    """The collision energies the input files record.

    Attributes:
        value_gev: sqrt(s) in GeV shared by every file that records one; None when no file
            records one or when they disagree.
        by_file: ``(file, sqrt(s) in GeV)`` of each file that records one, in input order.
        warnings: one line when the files disagree, listing each energy with its files.
    """

    value_gev: float | None
    by_file: tuple[tuple[Path, float], ...] = ()
    warnings: tuple[str, ...] = ()


def _same_energy(a: float, b: float) -> bool:
    return abs(a - b) <= _SQRT_S_RTOL * max(abs(a), abs(b))


def _distinct(values: Iterable[float]) -> list[float]:
    """The values with near-equal ones (relative :data:`_SQRT_S_RTOL`) merged, ascending."""
    found: list[float] = []
    for value in sorted(values):
        if not found or not _same_energy(value, found[-1]):
            found.append(value)
    return found


def input_collision_energy(inputs: InputFiles) -> CollisionEnergy:
    """The centre-of-mass energy (GeV) of every input file, and whether they agree.

    A recast treats its inputs as one sample (their cross-sections are averaged), so files
    at different energies are a mistake of the user; like disagreeing cross-section sources
    (:func:`input_cross_section`) it is a warning, one line naming each energy with its
    files, and no single energy is claimed. The result does not depend on the order of the
    files. Files that record no energy (a Delphes file without a MadGraph banner) are left
    out.

    Args:
        inputs: resolved event files.

    Returns:
        :class:`CollisionEnergy`.
    """
    by_file = tuple(
        (path, value)
        for path, run in zip(inputs.paths, inputs.run_folders, strict=True)
        if (value := _file_sqrt_s(path, run)) is not None
    )
    energies = _distinct(value for _, value in by_file)
    if len(energies) <= 1:
        return CollisionEnergy(energies[0] if energies else None, by_file)
    groups = []
    for energy in energies:
        paths = sorted(str(path) for path, value in by_file if _same_energy(value, energy))
        named = ", ".join(paths[:_NAMED_PER_ENERGY])
        more = len(paths) - _NAMED_PER_ENERGY
        groups.append(f"{energy:g} GeV: {named}" + (f" (+{more} more)" if more > 0 else ""))
    line = (
        f"the inputs mix collision energies ({'; '.join(groups)}); they are treated as one "
        "sample (one cross-section for all): recast each energy separately"
    )
    return CollisionEnergy(None, by_file, (line,))


def input_sqrt_s(inputs: InputFiles) -> float | None:
    """The centre-of-mass energy (GeV) the inputs record, or None.

    None when no file records one, or when the files disagree
    (:func:`input_collision_energy` gives them and the warning).
    """
    return input_collision_energy(inputs).value_gev

"""Save and load surrogates: a folder with ``card.json`` and ``weights.safetensors``.

Weights are stored with safetensors (tensors only: no pickle, no code runs on load); the
card records the model config, the sha256 of every weight file and its own digest
(``card_sha256``, :func:`~surrotag.surrogates.card.seal_card`). Loading validates the card
against its schema, checks the card's digest and every file's sha256 *before* any byte of
weights is parsed, so a tampered or truncated file (card or weights) is refused with one
line naming it; weights holding NaN or infinity are refused too (a matching sha256 is not a
sanity check). Saving is atomic: the folder is written under a temporary name beside the
target, then renamed; the folder and its files get the modes a plain ``mkdir`` and ``open``
give under the user's umask.

An MCMC surrogate keeps its weight samples stacked, ``[S, *shape]`` per layer; the sampler
moves only some layers (the output layer, :mod:`~surrotag.surrogates.mcmc`), and a layer whose
S samples are all equal is written once, ``[1, *shape]``, and named in the file's metadata
(:data:`SHARED_STACKS_KEY`). Loading expands it back to the full contiguous stack, so the
model in memory, and every probability, is bit for bit what was saved
(:func:`pack_stacks`, :func:`unpack_stacks`).

References:
    safetensors format, https://github.com/huggingface/safetensors
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import secrets
import shutil
import stat
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as distribution_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from surrotag.surrogates.card import (
    CARD_DIGEST_KEY,
    CARD_FILENAME,
    SCHEMA_VERSION,
    Card,
    load_card,
    seal_card,
    sha256_file,
)
from surrotag.surrogates.errors import CardError, IntegrityError, SurrogateError

if TYPE_CHECKING:
    from surrotag.surrogates.flow import Surrogate

__all__ = [
    "SHARED_STACKS_KEY",
    "WEIGHTS_FILENAME",
    "check_device",
    "check_finite_tensors",
    "check_model_config",
    "file_status",
    "load_surrogate",
    "pack_stacks",
    "repack_weights",
    "save_surrogate",
    "set_solver",
    "sha256_file",
    "unpack_stacks",
    "verify_files",
]

#: File name of the weights inside a surrogate folder.
WEIGHTS_FILENAME = "weights.safetensors"

#: safetensors metadata key naming the weight stacks written once because all their samples
#: are equal; its value is JSON ``{tensor name: number of samples}``.
SHARED_STACKS_KEY = "surrotag_shared_stacks"

_STACK_PREFIX = "stack_"


def _is_stack(name: str) -> bool:
    return name.rsplit(".", 1)[-1].startswith(_STACK_PREFIX)


def pack_stacks(tensors: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
    """Write each weight stack whose samples are all equal once.

    Args:
        tensors: name -> torch tensor, as :meth:`Surrogate.tensors` gives them; stacks are
            the ``stack_*`` buffers of an MCMC surrogate, ``[S, *shape]``.

    Returns:
        ``(packed, shared)``: the tensors with each such stack cut to ``[1, *shape]``, and
        ``{name: S}`` for those stacks (for :data:`SHARED_STACKS_KEY`).

    Example:
        >>> import torch
        >>> packed, shared = pack_stacks({"w.stack_a": torch.ones(4, 2), "w.stack_b": torch.eye(2)})
        >>> tuple(packed["w.stack_a"].shape), tuple(packed["w.stack_b"].shape), shared
        ((1, 2), (2, 2), {'w.stack_a': 4})
    """
    packed: dict[str, Any] = {}
    shared: dict[str, int] = {}
    for name, tensor in tensors.items():
        if _is_stack(name) and tensor.ndim >= 1 and tensor.shape[0] > 1:
            first = tensor[:1]
            if bool((tensor == first).all()):  # NaN != NaN: never shared
                packed[name] = first.clone().contiguous()
                shared[name] = int(tensor.shape[0])
                continue
        packed[name] = tensor
    return packed, shared


def unpack_stacks(
    tensors: Mapping[str, Any], metadata: Mapping[str, str] | None, source: Path
) -> dict[str, Any]:
    """Expand the stacks :func:`pack_stacks` wrote once back to ``[S, *shape]`` (contiguous).

    Args:
        tensors: name -> torch tensor, as read from the file.
        metadata: the file's safetensors metadata (None: nothing was packed).
        source: the weights file, named in messages.

    Returns:
        The tensors, each shared stack a contiguous ``[S, *shape]`` copy of its one sample.

    Raises:
        IntegrityError: the metadata is not ``{name: S}`` JSON, or names a tensor that is
            missing or not ``[1, *shape]``.
    """
    raw = (metadata or {}).get(SHARED_STACKS_KEY)
    if raw is None:
        return dict(tensors)
    try:
        shared = json.loads(raw)
    except ValueError:
        shared = None
    if not isinstance(shared, dict) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shared.values()
    ):
        raise IntegrityError(
            f"{source}: metadata {SHARED_STACKS_KEY!r} is not a JSON map of tensor names to "
            "sample counts; the file is corrupt (re-save or reinstall the surrogate)"
        )
    out = dict(tensors)
    for name, samples in shared.items():
        tensor = out.get(name)
        if tensor is None or tensor.ndim < 1 or tensor.shape[0] != 1:
            shape = None if tensor is None else tuple(tensor.shape)
            raise IntegrityError(
                f"{source}: stack {name!r} is listed as stored once but its shape is {shape}; "
                "the file is corrupt (re-save or reinstall the surrogate)"
            )
        out[name] = tensor.expand(samples, *tensor.shape[1:]).contiguous()
    return out


def _write_weights(tensors: Mapping[str, Any], path: Path) -> None:
    """Write the tensors (shared stacks once) to ``path`` with the folder's file mode."""
    from safetensors.torch import save_file

    packed, shared = pack_stacks(tensors)
    metadata = {"format": "pt", "producer": "surrotag"}
    if shared:
        metadata[SHARED_STACKS_KEY] = json.dumps(shared, sort_keys=True)
    save_file(packed, path, metadata=metadata)
    os.chmod(path, stat.S_IMODE(path.parent.stat().st_mode) & 0o666)  # safetensors: 0600


def _read_weights(path: Path, device: str = "cpu") -> dict[str, Any]:
    """The tensors of a weights file, shared stacks expanded; one line if it is not one."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device=str(device)) as handle:
            metadata = handle.metadata()
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except SafetensorError as error:
        raise IntegrityError(f"{path}: not a valid safetensors file ({error})") from None
    return unpack_stacks(tensors, metadata, path)


def _surrotag_version() -> str:
    try:
        return distribution_version("surrotag")
    except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        return "unknown"


def file_status(folder: str | os.PathLike[str], card: Card) -> dict[str, str]:
    """Hash status of each file the card lists: ``ok``, ``missing`` or ``sha256 mismatch``."""
    folder = Path(folder)
    status = {}
    for name, expected in card.files.items():
        path = folder / name
        if not path.is_file():
            status[name] = "missing"
        else:
            status[name] = "ok" if sha256_file(path) == expected else "sha256 mismatch"
    return status


def verify_files(folder: str | os.PathLike[str], card: Card) -> None:
    """Check every file the card lists against its sha256.

    Raises:
        IntegrityError: one line naming the first missing or altered file.
    """
    for name, status in file_status(folder, card).items():
        if status == "missing":
            raise IntegrityError(
                f"{Path(folder) / name}: missing; the card lists it (reinstall or re-save "
                "the surrogate)"
            )
        if status != "ok":
            raise IntegrityError(
                f"{Path(folder) / name}: sha256 differs from the card's {card.files[name][:12]}…"
                "; the file was altered or truncated (reinstall or re-train the surrogate)"
            )


def _features(surrogate: Surrogate, given: list[Mapping[str, Any]] | None) -> list[dict]:
    """Card features in model order; support, mean and std from the model's buffers."""
    names = list(surrogate.feature_names)
    given = list(given or [{"name": name} for name in names])
    if [entry.get("name") for entry in given] != names:
        raise CardError(
            f"card features {[entry.get('name') for entry in given]} differ from the model's "
            f"{names}: list the same features in the same order"
        )
    columns = {
        key: getattr(surrogate, f"feature_{key}").detach().cpu().tolist()
        for key in ("low", "high", "mean", "std")
    }
    return [
        {
            "unit": "",
            "description": "",
            **entry,
            "support": [columns["low"][i], columns["high"][i]],
            "mean": columns["mean"][i],
            "std": columns["std"][i],
        }
        for i, entry in enumerate(given)
    ]


def _finite_figures(value: Any, *, drop: bool) -> Any:
    """``value`` with non-finite floats dropped (``drop``) or made None, at any depth."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        cleaned = {key: _finite_figures(item, drop=drop) for key, item in value.items()}
        if drop:
            cleaned = {
                key: item for key, item in cleaned.items() if item is not None or value[key] is None
            }
        return cleaned
    if isinstance(value, list | tuple):
        return [_finite_figures(item, drop=drop) for item in value]
    return value


def _card_document(
    surrogate: Surrogate, card_fields: Mapping[str, Any], digest: str
) -> dict[str, Any]:
    document = dict(card_fields)
    config = surrogate.config()
    document["schema_version"] = SCHEMA_VERSION
    document["model"] = config
    document["features"] = _features(surrogate, card_fields.get("features"))
    document["bayes"] = {"method": config["bayes"]["method"], "draws": config["bayes"]["draws"]}
    diagnostics = (card_fields.get("bayes") or {}).get("diagnostics")
    if diagnostics is not None:  # an undefined figure (inf R-hat) is null, as NaN already is
        document["bayes"]["diagnostics"] = _finite_figures(diagnostics, drop=False)
    if document.get("validation") is not None:  # free-form figures: a non-finite one is left out
        document["validation"] = _finite_figures(document["validation"], drop=True)
    document["solver"] = _solver_document(config["solver"], card_fields.get("solver"))
    document["files"] = {WEIGHTS_FILENAME: digest}
    document.pop("support", None)
    if surrogate.support is not None:
        document["support"] = surrogate.support.summary()
    document.setdefault(
        "created", datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    document.setdefault("surrotag_version", _surrotag_version())
    return seal_card(document)


def _solver_document(config: Mapping[str, Any], given: Any) -> dict[str, Any]:
    """The card's ``solver``: method, steps, time grid (when graded) and the measured check."""
    out: dict[str, Any] = {"method": config["method"], "steps": config["steps"]}
    if config.get("grid_power", 1.0) != 1.0:
        out["grid_power"] = config["grid_power"]
    if config.get("nodes") is not None:
        out["nodes"] = list(config["nodes"])
    check = given.get("check") if isinstance(given, Mapping) else None
    if check is not None:
        out["check"] = _finite_figures(dict(check), drop=False)
    return out


def save_surrogate(
    surrogate: Surrogate,
    card_fields: Mapping[str, Any],
    folder: str | os.PathLike[str],
    *,
    overwrite: bool = False,
) -> Card:
    """Write a surrogate folder atomically: ``weights.safetensors`` then ``card.json``.

    Args:
        surrogate: the trained model; its ``tensors()`` go to safetensors and its
            ``config()`` into the card's ``model``.
        card_fields: the card fields that describe rather than derive from the model
            (name, version, description, tagger, score, working_points, training,
            references, optional efficiency_map and validation). ``features`` may give
            ``name``/``unit``/``description`` per feature (in model order); support, mean
            and std come from the model's buffers. ``schema_version``, ``model``,
            ``bayes``, ``solver``, ``files``, ``support`` (the joint training support,
            when the model has one) and ``card_sha256`` (the card's own digest, last) are
            filled here; ``created`` and
            ``surrotag_version`` default to now and the installed version.
        folder: destination folder (its parent is created if needed).
        overwrite: replace an existing folder.

    Returns:
        The card written (validated against the schema before anything is written).

    Raises:
        CardError: the fields do not make a valid card.
        SurrogateError: ``folder`` exists and ``overwrite`` is False.
    """
    folder = Path(folder)
    if folder.exists() and not overwrite:
        raise SurrogateError(f"{folder}: already exists; choose another folder or overwrite it")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        name: tensor.detach().to("cpu").contiguous().clone()
        for name, tensor in surrogate.tensors().items()
    }
    try:  # never write what cannot be loaded
        check_finite_tensors(tensors, folder / WEIGHTS_FILENAME)
    except IntegrityError as error:
        raise SurrogateError(
            f"nothing written: {error}".replace(
                "the weights are corrupt (re-train or reinstall the surrogate)",
                "the trained model is broken (a bug: report it)",
            )
        ) from None
    staging = _new_folder(folder, ".tmp")
    try:
        weights = staging / WEIGHTS_FILENAME
        _write_weights(tensors, weights)
        document = _card_document(surrogate, card_fields, sha256_file(weights))
        card = Card.from_dict(document, source=str(folder / CARD_FILENAME))
        (staging / CARD_FILENAME).write_text(json.dumps(document, indent=2) + "\n", "utf-8")
        _replace_folder(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return card


def set_solver(
    folder: str | os.PathLike[str],
    steps: int,
    grid_power: float,
    check: Mapping[str, Any],
    nodes: Sequence[float] | None = None,
) -> Card:
    """Give a surrogate folder's card a new RK4 solver, with the measurement that chose it.

    Only the card changes (``model.solver``, ``solver``, the seal); the weights are not
    touched. The card is checked first (digest, files) and replaced atomically.

    Args:
        folder: the surrogate folder.
        steps: RK4 steps.
        grid_power: RK4 time grid (1: equal steps).
        check: the measurement
            (:meth:`~surrotag.surrogates.solver_choice.SolverCheck.to_dict`).
        nodes: RK4 nodes in unit time instead of the power grid (None: the power grid).

    Returns:
        The new card.
    """
    folder = Path(folder)
    card = load_card(folder)
    check_model_config(card, folder / CARD_FILENAME)
    verify_files(folder, card)
    document = json.loads((folder / CARD_FILENAME).read_text("utf-8"))
    old = document["model"]["solver"]
    config = {"method": old["method"], "steps": int(steps)}
    if grid_power != 1.0:
        config["grid_power"] = float(grid_power)
    if nodes is not None:
        from surrotag.surrogates.ode import check_nodes  # torch: not for `surrogate show`

        config["nodes"] = list(check_nodes(nodes, int(steps)))
    kept = ("method", "steps", "grid_power", "nodes")
    config |= {k: v for k, v in old.items() if k not in kept}
    document["model"]["solver"] = config
    document["solver"] = _solver_document(config, {"check": check})
    sealed = seal_card({k: v for k, v in document.items() if k != CARD_DIGEST_KEY})
    new_card = Card.from_dict(sealed, source=str(folder / CARD_FILENAME))
    temporary = folder / f".{CARD_FILENAME}.{secrets.token_hex(4)}.tmp"
    try:
        temporary.write_text(json.dumps(sealed, indent=2) + "\n", "utf-8")
        os.replace(temporary, folder / CARD_FILENAME)
    finally:
        temporary.unlink(missing_ok=True)
    return new_card


def repack_weights(folder: str | os.PathLike[str]) -> tuple[str, str]:
    """Rewrite a surrogate folder's weights in today's storage (shared stacks written once).

    The tensors read back from the new file are checked to be bit for bit those of the old
    one before anything is replaced; only ``weights.safetensors``, the card's ``files``
    entry and the card's seal change. The folder is replaced as a whole (its other files
    copied unchanged), so it is either the old one or the new one.

    Args:
        folder: the surrogate folder (card and weights are checked first).

    Returns:
        ``(old sha256, new sha256)`` of ``weights.safetensors``.

    Raises:
        SurrogateError: the rewritten tensors differ from the old ones (a bug: nothing
            is replaced).
    """
    import torch

    folder = Path(folder)
    card = load_card(folder)
    check_model_config(card, folder / CARD_FILENAME)
    verify_files(folder, card)
    before = _read_weights(folder / WEIGHTS_FILENAME)
    check_finite_tensors(before, folder / WEIGHTS_FILENAME)
    staging = _new_folder(folder, ".tmp")
    try:
        shutil.copytree(folder, staging, dirs_exist_ok=True)
        weights = staging / WEIGHTS_FILENAME
        _write_weights(before, weights)
        after = _read_weights(weights)
        same = after.keys() == before.keys() and all(
            after[name].dtype == tensor.dtype and torch.equal(after[name], tensor)
            for name, tensor in before.items()
        )
        if not same:
            raise SurrogateError(f"{folder}: repacked weights differ from the old ones; kept")
        digest = sha256_file(weights)
        document = json.loads((folder / CARD_FILENAME).read_text("utf-8"))
        document["files"][WEIGHTS_FILENAME] = digest
        sealed = seal_card({k: v for k, v in document.items() if k != CARD_DIGEST_KEY})
        Card.from_dict(sealed, source=str(folder / CARD_FILENAME))
        (staging / CARD_FILENAME).write_text(json.dumps(sealed, indent=2) + "\n", "utf-8")
        _replace_folder(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return card.files[WEIGHTS_FILENAME], digest


def _new_folder(folder: Path, suffix: str) -> Path:
    """Create an empty, unique ``.<name>.<random><suffix>`` folder beside ``folder``.

    Created with mode ``0o777`` (``os.mkdir``), so the kernel applies the umask exactly as
    for a plain ``mkdir``: the shipped folder gets ``0755`` under umask ``022`` (where
    ``tempfile.mkdtemp`` would give ``0700`` whatever the umask), with no process-wide
    ``os.umask`` call. The files in it get the folder's mode without the execute bits.
    """
    while True:
        candidate = folder.with_name(f".{folder.name}.{secrets.token_hex(4)}{suffix}")
        try:
            candidate.mkdir(mode=0o777)
        except FileExistsError:  # pragma: no cover - 2**-32 per try
            continue
        return candidate


def _replace_folder(staging: Path, folder: Path) -> None:
    """Move ``staging`` to ``folder``; an existing ``folder`` is swapped out, then removed."""
    if not folder.exists():
        os.replace(staging, folder)
        return
    backup = _new_folder(folder, ".old")
    backup.rmdir()  # its name is reserved; the rename below needs it absent
    os.replace(folder, backup)
    try:
        os.replace(staging, folder)
    except BaseException:
        os.replace(backup, folder)
        raise
    with contextlib.suppress(OSError):
        shutil.rmtree(backup)


def check_model_config(card: Card, source: Path) -> None:
    """The card's features, bayes and solver fields must agree with its model config."""
    model = card.model
    if model.get("feature_names") != card.feature_names:
        raise CardError(
            f"{source}: features {card.feature_names} differ from the model config's "
            f"{model.get('feature_names')}; the card was edited by hand (re-save the surrogate)"
        )
    bayes = model.get("bayes") if isinstance(model.get("bayes"), dict) else {}
    solver = model.get("solver") if isinstance(model.get("solver"), dict) else {}
    pairs = {
        "bayes.method": (card.bayes["method"], bayes.get("method")),
        "bayes.draws": (card.bayes["draws"], bayes.get("draws")),
        "solver.method": (card.solver["method"], solver.get("method")),
        "solver.steps": (card.solver["steps"], solver.get("steps")),
        "solver.grid_power": (card.solver.get("grid_power", 1.0), solver.get("grid_power", 1.0)),
        "solver.nodes": (card.solver.get("nodes"), solver.get("nodes")),
    }
    pairs["support"] = (card.support is not None, isinstance(model.get("support"), dict))
    for key, (stated, configured) in pairs.items():
        if stated != configured:
            raise CardError(
                f"{source}: card {key} is {stated!r} but the model config says {configured!r}; "
                "the card was edited by hand (re-save the surrogate)"
            )


def check_device(device: Any) -> None:
    """Refuse a torch device that does not exist here, with one line (before any tensor).

    Raises:
        SurrogateError: not a device name torch knows, or an accelerator this machine lacks.
    """
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError, TypeError) as error:
        message = " ".join(str(error).split())[:200]
        raise SurrogateError(f"--device {device!r}: not a torch device ({message})") from None
    if parsed.type == "cpu":
        return
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise SurrogateError(
                f"--device {device!r}: CUDA is not available on this machine (torch "
                f"{torch.__version__}); use --device cpu"
            )
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise SurrogateError(
                f"--device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
        return
    if parsed.type == "mps":
        if not torch.backends.mps.is_available():
            raise SurrogateError(f"--device {device!r}: MPS is not available on this machine")
        return
    backend = getattr(torch, parsed.type, None)
    available = getattr(backend, "is_available", None)
    if not (callable(available) and available()):
        raise SurrogateError(
            f"--device {device!r}: no {parsed.type} backend is available on this machine; use "
            "--device cpu or cuda"
        )


def check_finite_tensors(tensors: Mapping[str, Any], source: Path) -> None:
    """Refuse weights holding NaN or infinity (they would give NaN probabilities).

    Args:
        tensors: name -> torch tensor, as read from safetensors.
        source: the weights file, named in the message.

    Raises:
        IntegrityError: one line naming the first tensor with a non-finite value.
    """
    import torch

    for name, tensor in tensors.items():
        if not tensor.is_floating_point():
            continue
        bad = int((~torch.isfinite(tensor)).sum())
        if bad:
            raise IntegrityError(
                f"{source}: tensor {name!r} holds {bad} non-finite value(s) (NaN or infinity) "
                f"of its {tensor.numel()}; the weights are corrupt (re-train or reinstall the "
                "surrogate)"
            )


def load_surrogate(
    folder: str | os.PathLike[str], *, device: str = "cpu"
) -> tuple[Surrogate, Card]:
    """Load a surrogate folder after checking its card and the sha256 of its files.

    Args:
        folder: a folder holding ``card.json`` and ``weights.safetensors`` (use
            :func:`~surrotag.surrogates.registry.resolve_surrogate` for names).
        device: torch device of the returned model (``cpu``, ``cuda``, ...).

    Returns:
        ``(surrogate, card)``; the model is in eval mode on ``device``.

    Raises:
        CardError: the card is missing, not JSON, fails the schema or has another
            ``schema_version``.
        IntegrityError: the card was edited (its ``card_sha256`` differs), a listed file is
            missing or its sha256 differs (checked before the weights are read), or a
            weight tensor holds NaN or infinity.
    """
    from surrotag.surrogates.flow import Surrogate

    folder = Path(folder)
    card = load_card(folder)
    check_model_config(card, folder / CARD_FILENAME)
    verify_files(folder, card)
    weights = folder / WEIGHTS_FILENAME
    check_device(device)
    tensors = _read_weights(weights, device)
    check_finite_tensors(tensors, weights)
    try:
        surrogate = Surrogate.from_parts(card.model, tensors)
    except SurrogateError as error:
        raise IntegrityError(f"{folder}: weights and card do not fit: {error}") from None
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise IntegrityError(
            f"{weights}: weights do not fit the card's model config "
            f"({type(error).__name__}: {' '.join(str(error).split())[:200]})"
        ) from None
    return surrogate.to(device).eval(), card

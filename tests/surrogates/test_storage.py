"""Surrogate folders: atomic save, sha256-checked load, exact round trip, clear refusals."""

from __future__ import annotations

import json
import os
import re
import stat

import pytest
import torch

from surrotag.surrogates.card import card_digest, load_card, seal_card
from surrotag.surrogates.errors import CardError, IntegrityError, SurrogateError
from surrotag.surrogates.storage import (
    WEIGHTS_FILENAME,
    file_status,
    load_surrogate,
    save_surrogate,
    sha256_file,
)

THRESHOLDS = [-1.0, 0.0, 1.5]


@pytest.fixture
def saved(trained, card_fields, tmp_path):
    folder = tmp_path / "vi"
    save_surrogate(trained["vi"], card_fields, folder)
    return folder


@pytest.mark.parametrize("method", ["none", "vi", "mcmc"])
def test_round_trip_gives_identical_probabilities(trained, card_fields, tmp_path, method):
    model = trained[method]
    card = save_surrogate(model, card_fields, tmp_path / method)
    loaded, loaded_card = load_surrogate(tmp_path / method)
    assert loaded_card == card
    assert card.bayes == {"method": method, "draws": model.default_draws}
    features = trained["features"][:40]
    before = model(features).prob_above(THRESHOLDS)
    after = loaded(features).prob_above(THRESHOLDS)
    assert before.shape == (model.default_draws, 40, 3)
    assert torch.equal(before, after)
    assert torch.equal(
        model(features).sample(torch.Generator().manual_seed(1)),
        loaded(features).sample(torch.Generator().manual_seed(1)),
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [method]  # no temporary left over


def test_card_is_derived_from_the_model(trained, saved):
    card = json.loads((saved / "card.json").read_text())
    model = trained["vi"]
    assert card["files"] == {WEIGHTS_FILENAME: sha256_file(saved / WEIGHTS_FILENAME)}
    assert card["model"] == model.config()
    assert [f["support"] for f in card["features"]] == torch.stack(
        [model.feature_low, model.feature_high], 1
    ).tolist()
    assert card["features"][0]["unit"] == "GeV"
    expected = {"method": "rk4", "steps": model.steps}
    if model.grid_power != 1.0:
        expected["grid_power"] = model.grid_power
    if model.nodes is not None:
        expected["nodes"] = list(model.nodes)
    assert card["solver"] == expected  # no check: the fields gave no training figures
    assert (saved / WEIGHTS_FILENAME).read_bytes()[8:9] == b"{"  # safetensors JSON header


def test_tampered_weight_byte_is_refused_before_loading(saved):
    weights = saved / WEIGHTS_FILENAME
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"weights\.safetensors: sha256 differs") as caught:
        load_surrogate(saved)
    assert "\n" not in str(caught.value)
    assert file_status(saved, _card(saved)) == {WEIGHTS_FILENAME: "sha256 mismatch"}


def test_missing_weights_are_refused(saved):
    (saved / WEIGHTS_FILENAME).unlink()
    with pytest.raises(IntegrityError, match=r"weights\.safetensors: missing"):
        load_surrogate(saved)


def test_card_edit_breaking_the_schema_names_the_path(saved):
    document = json.loads((saved / "card.json").read_text())
    document["bayes"]["method"] = "ensemble"
    (saved / "card.json").write_text(json.dumps(document))
    with pytest.raises(CardError, match=r"card\.json: invalid surrogate card at \$\.bayes\.method"):
        load_surrogate(saved)


def test_wrong_schema_version_is_refused(saved):
    document = json.loads((saved / "card.json").read_text())
    document["schema_version"] = 2
    (saved / "card.json").write_text(json.dumps(document))
    with pytest.raises(CardError, match="schema_version 2 is not supported"):
        load_surrogate(saved)


@pytest.mark.parametrize(
    ("key", "value", "path"),
    [
        ("bayes", {"method": "vi", "draws": 7}, "bayes.draws"),
        ("solver", {"method": "dopri5", "steps": 8}, "solver.method"),
    ],
)
def test_card_disagreeing_with_its_model_config_is_refused(saved, key, value, path):
    document = json.loads((saved / "card.json").read_text())
    document[key] = value  # still valid for the schema
    (saved / "card.json").write_text(json.dumps(seal_card(document)))  # digest re-recorded
    with pytest.raises(CardError, match=f"card {path} is .* but the model config says"):
        load_surrogate(saved)


def test_weights_of_another_model_are_refused(trained, card_fields, saved, tmp_path):
    other = save_surrogate(trained["none"], card_fields, tmp_path / "none")
    (saved / WEIGHTS_FILENAME).write_bytes((tmp_path / "none" / WEIGHTS_FILENAME).read_bytes())
    document = json.loads((saved / "card.json").read_text())
    document["files"] = other.files  # hashes updated: the swap passes the integrity check
    (saved / "card.json").write_text(json.dumps(seal_card(document)))
    with pytest.raises(IntegrityError, match="do not match the config"):
        load_surrogate(saved)


def test_existing_folder_needs_overwrite(trained, card_fields, saved):
    with pytest.raises(SurrogateError, match="already exists"):
        save_surrogate(trained["none"], card_fields, saved)
    card = save_surrogate(trained["none"], card_fields, saved, overwrite=True)
    assert card.bayes["method"] == "none"
    assert sorted(p.name for p in saved.parent.iterdir()) == ["vi"]
    assert load_surrogate(saved)[1].bayes["method"] == "none"


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_saved_folder_and_files_follow_the_umask(trained, card_fields, tmp_path, umask):
    """The folder gets ``0o777 & ~umask`` as a plain mkdir would (mkdtemp gives 0700)."""
    previous = os.umask(umask)
    try:
        save_surrogate(trained["none"], card_fields, tmp_path / "s")
        save_surrogate(trained["none"], card_fields, tmp_path / "s", overwrite=True)
    finally:
        os.umask(previous)
    folder = tmp_path / "s"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~umask
    for name in ("card.json", WEIGHTS_FILENAME):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_invalid_fields_write_nothing(trained, card_fields, tmp_path):
    with pytest.raises(CardError, match=r"at \$\.score\.space"):
        save_surrogate(
            trained["vi"],
            dict(card_fields, score={"space": "x", "clip": 0.0, "column": "s"}),
            tmp_path / "a",
        )
    with pytest.raises(CardError, match="differ from the model's"):
        save_surrogate(
            trained["vi"], dict(card_fields, features=[{"name": "mass"}]), tmp_path / "b"
        )
    assert list(tmp_path.iterdir()) == []


def _card(folder):
    from surrotag.surrogates.card import load_card

    return load_card(folder)


def test_saved_card_records_its_own_digest(saved):
    document = json.loads((saved / "card.json").read_text())
    assert document["card_sha256"] == card_digest(document)
    reindented = json.dumps(document, indent=7)  # layout is not content: still accepted
    (saved / "card.json").write_text(reindented)
    assert load_surrogate(saved)[1].card_sha256 == document["card_sha256"]


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["working_points"][0].update(threshold=-5.0),
        lambda d: d.update(description="edited"),
        lambda d: d.pop("card_sha256"),
    ],
)
def test_hand_edited_card_is_refused_with_one_line(saved, edit):
    document = json.loads((saved / "card.json").read_text())
    edit(document)
    (saved / "card.json").write_text(json.dumps(document, indent=2))
    for load in (load_surrogate, load_card):
        with pytest.raises(
            IntegrityError, match=r"card\.json: (card content sha256|the card has no)"
        ) as caught:
            load(saved)
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        (lambda d: d["solver"].update(steps=1_000_000_000), "$.solver.steps"),
        (lambda d: d["model"]["solver"].update(steps=10**9), "$.model.solver.steps"),
        (lambda d: d["model"]["architecture"].update(hidden=10**5), "$.model.architecture"),
        (lambda d: d["bayes"].update(draws=10**7), "$.bayes.draws"),
    ],
)
def test_absurd_sizes_are_refused_by_the_schema_even_when_sealed(saved, edit, path):
    document = json.loads((saved / "card.json").read_text())
    edit(document)
    (saved / "card.json").write_text(json.dumps(seal_card(document)))
    with pytest.raises(CardError, match="invalid surrogate card at " + re.escape(path)):
        load_surrogate(saved)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_threshold_is_refused(saved, literal):
    text = (saved / "card.json").read_text()
    document = json.loads(text)
    old = json.dumps(document["working_points"][0]["threshold"])
    assert text.count(f'"threshold": {old}') == 1
    (saved / "card.json").write_text(text.replace(f'"threshold": {old}', f'"threshold": {literal}'))
    with pytest.raises(CardError, match=r"not valid JSON .*(non-finite|overflows)") as caught:
        load_surrogate(saved)
    assert "\n" not in str(caught.value)


def test_in_memory_card_with_nan_threshold_is_refused(saved):
    from surrotag.surrogates.card import validate_card

    document = json.loads((saved / "card.json").read_text())
    document["working_points"][0]["threshold"] = float("nan")
    with pytest.raises(CardError, match=r"at \$\.working_points\[0\]\.threshold: not a finite"):
        validate_card(document, "x")


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_weights_holding_nan_are_refused_on_load(saved, value):
    """A matching sha256 is no sanity check: NaN weights (re-hashed) would tag NaN."""
    from safetensors.torch import load_file, save_file

    weights = saved / WEIGHTS_FILENAME
    tensors = load_file(weights)
    name = sorted(n for n, t in tensors.items() if t.is_floating_point())[0]
    tensors[name].view(-1)[0] = value
    save_file(tensors, weights, metadata={"format": "pt"})
    document = json.loads((saved / "card.json").read_text())
    document["files"] = {WEIGHTS_FILENAME: sha256_file(weights)}
    (saved / "card.json").write_text(json.dumps(seal_card(document)))
    with pytest.raises(IntegrityError, match=f"tensor '{name}' holds 1 non-finite") as caught:
        load_surrogate(saved)
    assert "\n" not in str(caught.value)


def _rewrite_weights(folder, tensors, metadata):
    """Write ``tensors`` as the folder's weights and reseal the card (as a hand-made file)."""
    from safetensors.torch import save_file

    weights = folder / WEIGHTS_FILENAME
    save_file(tensors, weights, metadata=metadata)
    document = json.loads((folder / "card.json").read_text())
    document["files"] = {WEIGHTS_FILENAME: sha256_file(weights)}
    document.pop("card_sha256")
    (folder / "card.json").write_text(json.dumps(seal_card(document)))


def test_mcmc_stacks_equal_over_samples_are_written_once(trained, card_fields, tmp_path):
    """The sampler moves the output layer only: the other stacks are stored [1, ...] once,
    named in the metadata, and load back as the full stack, bit for bit."""
    from safetensors import safe_open

    from surrotag.surrogates.storage import SHARED_STACKS_KEY

    model = trained["mcmc"]
    save_surrogate(model, card_fields, tmp_path / "m")
    with safe_open(str(tmp_path / "m" / WEIGHTS_FILENAME), framework="pt") as handle:
        shared = json.loads(handle.metadata()[SHARED_STACKS_KEY])
        shapes = {name: tuple(handle.get_slice(name).get_shape()) for name in handle.keys()}
    samples = model.weights.n_samples
    stacks = {name for name in shapes if ".stack_" in name}
    assert shared and set(shared) < stacks  # some layers moved, some did not
    assert set(shared.values()) == {samples}
    for name in stacks:
        assert shapes[name][0] == (1 if name in shared else samples)
    original = model.tensors()
    loaded = load_surrogate(tmp_path / "m")[0].tensors()
    assert loaded.keys() == original.keys()
    assert all(torch.equal(loaded[k], original[k]) for k in original)
    assert all(loaded[k].is_contiguous() for k in shared)


def test_weights_with_full_stacks_load_and_repack_bit_identically(trained, card_fields, tmp_path):
    """A folder written before stacks were shared loads as it did, and ``repack_weights``
    rewrites it smaller with the same tensors, keeping the folder's other files."""
    from surrotag.surrogates.storage import repack_weights

    model = trained["mcmc"]
    folder = tmp_path / "old"
    save_surrogate(model, card_fields, folder)
    _rewrite_weights(folder, model.tensors(), {"format": "pt"})
    (folder / "validation.json").write_text('{"kept": true}\n')
    features = trained["features"][:40]
    expected = model(features).prob_above(THRESHOLDS)
    assert torch.equal(load_surrogate(folder)[0](features).prob_above(THRESHOLDS), expected)
    size = (folder / WEIGHTS_FILENAME).stat().st_size
    old_digest, new_digest = repack_weights(folder)
    assert old_digest != new_digest == load_card(folder).files[WEIGHTS_FILENAME]
    assert (folder / WEIGHTS_FILENAME).stat().st_size < size
    assert (folder / "validation.json").read_text() == '{"kept": true}\n'
    assert torch.equal(load_surrogate(folder)[0](features).prob_above(THRESHOLDS), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]


@pytest.mark.parametrize(
    "metadata, reason",
    [
        ("not json", "not a JSON map"),
        ('{"weights.stack_out_w": 0}', "not a JSON map"),
        ('{"weights.stack_nope": 3}', "shape is None"),
        ('{"weights.stack_out_w": 3}', "listed as stored once but its shape"),
    ],
)
def test_corrupt_shared_stack_metadata_is_refused_with_one_line(
    trained, card_fields, tmp_path, metadata, reason
):
    from surrotag.surrogates.storage import SHARED_STACKS_KEY

    model = trained["mcmc"]
    folder = tmp_path / "m"
    save_surrogate(model, card_fields, folder)
    _rewrite_weights(folder, model.tensors(), {"format": "pt", SHARED_STACKS_KEY: metadata})
    with pytest.raises(IntegrityError, match=re.escape(reason)) as caught:
        load_surrogate(folder)
    assert "\n" not in str(caught.value) and "re-save or reinstall" in str(caught.value)

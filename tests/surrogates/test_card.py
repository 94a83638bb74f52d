"""Surrogate cards: schema validation with one-line errors naming the JSON path."""

from __future__ import annotations

import copy
import json

import pytest

from surrotag.surrogates.card import Card, card_schema, load_card, seal_card, validate_card
from surrotag.surrogates.errors import CardError


def test_schema_is_valid_draft_2020_12():
    import jsonschema

    schema = card_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    jsonschema.Draft202012Validator.check_schema(schema)


def test_valid_card_round_trips(card_document, tmp_path):
    path = tmp_path / "card.json"
    sealed = seal_card(card_document)
    path.write_text(json.dumps(sealed))
    card = load_card(tmp_path)
    assert card.feature_names == ["pt", "mass"]
    assert card.working_point("tight")["threshold"] == 0.9
    assert card.to_dict() == sealed
    assert Card.from_dict(card.to_dict()) == card


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        (lambda d: d["features"][1].pop("unit"), "$.features[1]"),
        (lambda d: d["score"].update(space="tanh"), "$.score.space"),
        (lambda d: d["bayes"].update(draws=0), "$.bayes.draws"),
        (lambda d: d["files"].update({"weights.safetensors": "xyz"}), "$.files"),
        (lambda d: d["working_points"][0].update(efficiency=1.5), "$.working_points[0].efficiency"),
        (lambda d: d.update(colour="blue"), "$"),
        (lambda d: d["references"].append("my paper"), "$.references[2]"),
        (lambda d: d["features"][0].update(support=[5.0, 1.0]), "$.features[0].support"),
        (lambda d: d["features"][1].update(name="pt"), "$.features[1].name"),
        (
            lambda d: d["efficiency_map"]["tight"]["efficiency"].append(0.4),
            "$.efficiency_map.tight.efficiency",
        ),
        (
            lambda d: d["efficiency_map"].update(loose=d["efficiency_map"]["tight"]),
            "$.efficiency_map.loose",
        ),
    ],
)
def test_invalid_card_names_the_path(card_document, edit, path):
    bad = copy.deepcopy(card_document)
    edit(bad)
    with pytest.raises(CardError) as caught:
        validate_card(bad, "cards/x.json")
    message = str(caught.value)
    assert message.startswith("cards/x.json: invalid surrogate card at ")
    assert f" at {path}" in message
    assert "\n" not in message


@pytest.mark.parametrize("version", [2, "1", None])
def test_other_schema_version_is_refused(card_document, version):
    bad = dict(card_document, schema_version=version)
    with pytest.raises(CardError, match=r"schema_version .* is not supported"):
        validate_card(bad)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(CardError, match="no such card"):
        load_card(tmp_path)
    (tmp_path / "card.json").write_text("{not json")
    with pytest.raises(CardError, match="not valid JSON"):
        load_card(tmp_path / "card.json")


def test_unknown_working_point_lists_the_known_ones(card_document):
    card = Card.from_dict(card_document, "x")
    with pytest.raises(CardError, match=r"no working point 'loose' \(it has: tight\)"):
        card.working_point("loose")

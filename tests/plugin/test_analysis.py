"""Analysis cards (schema + cross references) and the entry-point registry."""

from __future__ import annotations

import copy
import importlib
import json
import textwrap
from importlib.resources import files

import pytest

from surrotag.analysis import (
    ENTRY_POINT_GROUP,
    Analysis,
    AnalysisCard,
    analysis_schema,
    get_analysis,
    list_analyses,
    load_analysis_card,
)
from surrotag.analysis_card import seal_analysis_card
from surrotag.errors import AnalysisError, CardError, IntegrityError, SurrotagError
from surrotag.surrogates.card import card_digest

SHIPPED = "zprime-ttbar-allhad"
#: Every analysis surrotag ships (entry points of its own distribution).
ALL_SHIPPED = {
    SHIPPED,
    "zprime-ttbar-ljets",
    "stop-allhad-toptag",
    "stop-dilepton-nn",
    "anomaly-dijet",
}


@pytest.fixture()
def document() -> dict:
    """The shipped card's JSON document (a fresh copy per test)."""
    text = (files("surrotag.analyses.zprime_ttbar_allhad") / "card.json").read_text("utf-8")
    return json.loads(text)


def test_schema_is_valid_draft_2020_12():
    import jsonschema

    schema = analysis_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema_version"]["const"] == 2


def test_dict_and_file_give_the_same_card(document, tmp_path):
    from_dict = load_analysis_card(document)
    path = tmp_path / "card.json"
    path.write_text(json.dumps(document))
    assert load_analysis_card(path) == from_dict
    assert load_analysis_card(tmp_path) == from_dict  # a folder holding card.json
    assert isinstance(from_dict, AnalysisCard)
    assert from_dict.to_dict() == document
    with pytest.raises(AttributeError):
        from_dict.name = "other"  # frozen


def _one_candidate(document: dict, cut: dict) -> None:
    document["selection"].update(candidates=1, cuts=[{"name": "cut", **cut}])


@pytest.mark.parametrize(
    ("edit", "path", "words"),
    [
        (lambda d: d.pop("luminosity_ifb"), "$", "'luminosity_ifb' is a required property"),
        (lambda d: d.__setitem__("sqrt_s_gev", "13 TeV"), "$.sqrt_s_gev", "is not of type"),
        (lambda d: d.__setitem__("luminosity_ifb", -139.0), "$.luminosity_ifb", "minimum"),
        (
            lambda d: d["regions"][1]["tag"].__setitem__("working_point", "wp70"),
            "$.regions[1].tag.working_point",
            "'wp70' is not a working point",
        ),
        (
            lambda d: d["regions"][0]["observable"]["bin_edges"].reverse(),
            "$.regions[0].observable.bin_edges",
            "must increase",
        ),
        (
            lambda d: d["selection"]["cuts"][4].pop("below"),
            "$.selection.cuts[4]",
            "is not valid under any of the given schemas",
        ),
        (
            lambda d: d["selection"]["cuts"][1].__setitem__("observable", "pt_miss"),
            "$.selection.cuts[1].observable",
            "no observable 'pt_miss' (known: ",
        ),
        (
            lambda d: d["selection"]["cuts"][1].pop("object"),
            "$.selection.cuts[1]",
            "'pt' is per object: say which",
        ),
        (
            lambda d: d["selection"]["cuts"][1].__setitem__("object", 2),
            "$.selection.cuts[1].object",
            "candidate 2 of 2",
        ),
        (
            lambda d: d["selection"]["cuts"][2].__setitem__("name", "leading_pt"),
            "$.selection.cuts[2].name",
            "'leading_pt' is used already",
        ),
        (
            lambda d: d["regions"][0]["observable"].__setitem__("name", "pt"),
            "$.regions[0].observable.name",
            "one value per object",
        ),
        (
            lambda d: d["selection"]["cuts"][3].__setitem__("collection", "jets"),
            "$.selection.cuts[3].object",
            "'each' is for the candidates",
        ),
        (
            lambda d: d["selection"]["cuts"][4].__setitem__("collection", "jets"),
            "$.selection.cuts[4].collection",
            "reads the candidates only",
        ),
        (
            lambda d: _one_candidate(d, {"observable": "delta_r", "below": 1.0}),
            "$.selection.cuts[0].observable",
            "'delta_r' needs exactly two candidates",
        ),
        (
            lambda d: _one_candidate(d, {"observable": "pt", "object": 0, "above": 500.0}),
            "$.regions[0].tag.requirement",
            "'both' counts two objects; with one candidate use 'at_least_one'",
        ),
        (
            lambda d: d["regions"][0]["observable"].__setitem__("name", "abs_eta"),
            "$.regions[0].observable.name",
            "is one value per object",
        ),
        (
            lambda d: d["surrogate"].__setitem__("tagger_sha256", "abc"),
            "$.surrogate.tagger_sha256",
            "does not match",
        ),
        (
            lambda d: d["statistics"]["channels"].pop("CR"),
            "$.statistics.channels",
            "no channel for region(s) CR",
        ),
        (
            lambda d: d["surrogate"]["names"].pop("parton"),
            "$.surrogate.names",
            "no surrogate for accepted input level 'parton'",
        ),
        (
            lambda d: d["selection"].__setitem__("collection", "jets"),
            "$.selection.collection",
            "'jets' is not in objects",
        ),
        (
            lambda d: d["statistics"].__setitem__("workspace", "../outside.json"),
            "$.statistics.workspace",
            "does not match",
        ),
    ],
)
def test_broken_card_is_one_line_with_json_path(document, tmp_path, edit, path, words):
    broken = copy.deepcopy(document)
    edit(broken)
    card = tmp_path / "card.json"
    card.write_text(json.dumps(broken))
    with pytest.raises(CardError) as caught:
        load_analysis_card(card)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{card}: invalid analysis card at {path}: ")
    assert words in message


def test_wrong_schema_version_and_bad_json(document, tmp_path):
    document["schema_version"] = 3
    with pytest.raises(CardError, match="schema_version 3 is not supported"):
        load_analysis_card(document)
    bad = tmp_path / "card.json"
    bad.write_text("{not json")
    with pytest.raises(CardError, match="not valid JSON"):
        load_analysis_card(bad)
    with pytest.raises(CardError, match="no such analysis card"):
        load_analysis_card(tmp_path / "absent.json")


def test_shipped_analysis_is_found_by_entry_point():
    infos = {info.name: info for info in list_analyses()}
    assert SHIPPED in infos, "run 'pip install -e .' so the entry point is registered"
    info = infos[SHIPPED]
    assert info.problem is None
    assert info.origin == f"entry point {SHIPPED} (surrotag)"
    analysis = get_analysis(SHIPPED)
    assert isinstance(analysis, Analysis)
    assert analysis.card == info.analysis.card
    assert json.loads(analysis.resource("card.json").read_text("utf-8"))["name"] == SHIPPED


def test_unknown_analysis_lists_the_installed_ones():
    with pytest.raises(AnalysisError) as caught:
        get_analysis("no-such-search")
    message = str(caught.value)
    assert "unknown analysis 'no-such-search'" in message
    assert f"installed: {SHIPPED}" in message or f", {SHIPPED}" in message
    assert isinstance(caught.value, SurrotagError)


def test_missing_resource_and_workspace_are_clear():
    analysis = get_analysis(SHIPPED)
    with pytest.raises(AnalysisError, match=r"ships no file 'results\.json'"):
        analysis.resource("results.json")
    with pytest.raises(AnalysisError, match="must be a relative path"):
        analysis.resource("../card.json")
    if not analysis.has_resource("workspace.json"):
        with pytest.raises(AnalysisError, match=r"no background workspace 'workspace\.json' yet"):
            analysis.workspace()


def test_folder_analysis_workspace_checks(document, tmp_path, atlas_sbottom_dir):
    """A folder analysis reads its workspace; a channel the workspace lacks is reported."""
    (tmp_path / "card.json").write_text(json.dumps(document))
    (tmp_path / "workspace.json").write_bytes((atlas_sbottom_dir / "BkgOnly.json").read_bytes())
    with pytest.raises(IntegrityError, match=r"workspace\.json: sha256 .* differs"):
        get_analysis(tmp_path).workspace()  # another workspace than the card records
    seal_analysis_card(tmp_path, ("workspace.json",))  # its author records the new one
    analysis = get_analysis(tmp_path)
    assert analysis.origin == f"folder {tmp_path}"
    with pytest.raises(AnalysisError, match=r"lacks channel\(s\) SR_mjj, CR_mjj"):
        analysis.workspace()


def _install_fake_distribution(root, name: str, entries: dict[str, str]) -> None:
    """A real (tiny) distribution on sys.path: dist-info with entry points."""
    info = root / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = "\n".join(f"{key} = {value}" for key, value in entries.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}\n")


def test_third_party_analyses_and_broken_entry_points(document, tmp_path, monkeypatch):
    """A new analysis needs no change in surrotag; broken ones are listed, not fatal."""
    good = tmp_path / "thirdparty_good"
    good.mkdir()
    (good / "__init__.py").write_text('"""A third-party analysis."""\n')
    mine = copy.deepcopy(document)
    mine["name"] = "my-search"
    mine["card_sha256"] = card_digest(mine)  # its author seals the card
    (good / "card.json").write_text(json.dumps(mine))
    bad_card = tmp_path / "thirdparty_badcard"
    bad_card.mkdir()
    (bad_card / "__init__.py").write_text("")
    negative = copy.deepcopy(document)
    negative["name"], negative["luminosity_ifb"] = "neg-lumi", -1.0
    (bad_card / "card.json").write_text(json.dumps(negative))
    (tmp_path / "thirdparty_raises.py").write_text(
        textwrap.dedent('raise RuntimeError("boom at import")\n')
    )
    _install_fake_distribution(
        tmp_path,
        "thirdparty",
        {
            "my-search": "thirdparty_good",
            "neg-lumi": "thirdparty_badcard",
            "raises": "thirdparty_raises",
            "not-a-package": "json:dumps",
            "misnamed": "thirdparty_good",
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()

    infos = {info.name: info for info in list_analyses()}
    assert {"my-search", "neg-lumi", "raises", "not-a-package", "misnamed", SHIPPED} <= set(infos)
    assert infos["my-search"].problem is None
    assert infos["my-search"].origin == "entry point my-search (thirdparty)"
    assert infos[SHIPPED].problem is None
    assert "invalid analysis card at $.luminosity_ifb" in infos["neg-lumi"].problem
    assert "failed to load: RuntimeError: boom at import" in infos["raises"].problem
    assert "it must name a package that ships card.json" in infos["not-a-package"].problem
    assert "its card is named 'my-search'" in infos["misnamed"].problem
    assert all(
        info.analysis is None for n, info in infos.items() if n not in {"my-search", *ALL_SHIPPED}
    )

    assert get_analysis("my-search").card.name == "my-search"
    with pytest.raises(AnalysisError, match="boom at import"):
        get_analysis("raises")
    with pytest.raises(CardError, match=r"\$\.luminosity_ifb"):
        get_analysis("neg-lumi")


def _good_package(root, package: str, card: dict) -> None:
    folder = root / package
    folder.mkdir()
    (folder / "__init__.py").write_text('"""A third-party analysis."""\n')
    (folder / "card.json").write_text(json.dumps(card))


def test_plugin_that_exits_or_raises_at_import_is_named_and_skipped(
    document, tmp_path, monkeypatch, capsys
):
    """sys.exit() in a plugin's import once ended the listing (SystemExit is no Exception)."""
    from surrotag.cli import main

    mine = copy.deepcopy(document)
    mine["name"] = "my-search"
    mine["card_sha256"] = card_digest(mine)
    _good_package(tmp_path, "exits_good", mine)
    (tmp_path / "exits_at_import.py").write_text('import sys\nsys.exit("bye\\nfrom a plugin")\n')
    (tmp_path / "raises_at_import.py").write_text('raise ImportError("no such\\nlibrary")\n')
    _install_fake_distribution(
        tmp_path,
        "exiting",
        {"exits": "exits_at_import", "raises": "raises_at_import", "my-search": "exits_good"},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()

    infos = {info.name: info for info in list_analyses()}
    assert infos["my-search"].problem is None and infos[SHIPPED].problem is None
    assert "'exits'" in infos["exits"].problem and "called sys.exit(" in infos["exits"].problem
    assert (
        "'raises'" in infos["raises"].problem and "ImportError: no such" in infos["raises"].problem
    )
    assert all("\n" not in infos[name].problem for name in ("exits", "raises"))
    with pytest.raises(AnalysisError, match=r"entry point 'exits' .* called sys\.exit"):
        get_analysis("exits")

    assert main(["analyses"]) == 0  # the listing goes on past them, one line each
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("exits  BROKEN") for line in lines) == 1
    assert sum(line.startswith("raises  BROKEN") for line in lines) == 1
    assert any(line.startswith("my-search ") for line in lines)
    assert main(["run", "exits", "-o", str(tmp_path / "r.json")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'exits'" in err and "sys.exit" in err


def test_two_plugins_with_one_name_are_an_error(document, tmp_path, monkeypatch, capsys):
    """Two distributions registering one analysis name: never a silent pick of either."""
    from surrotag.cli import main

    mine = copy.deepcopy(document)
    mine["name"] = "twin-search"
    mine["card_sha256"] = card_digest(mine)
    for package, distribution in (("twin_a", "twin_one"), ("twin_b", "twin_two")):
        _good_package(tmp_path, package, mine)
        _install_fake_distribution(tmp_path, distribution, {"twin-search": package})
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()

    with pytest.raises(AnalysisError) as caught:
        get_analysis("twin-search")
    message = str(caught.value)
    assert "\n" not in message and "'twin-search' is registered 2 times" in message
    assert "(twin_one) -> twin_a" in message and "(twin_two) -> twin_b" in message
    twins = [info for info in list_analyses() if info.name == "twin-search"]
    assert len(twins) == 2 and all(info.analysis is None for info in twins)
    assert all("registered 2 times" in info.problem for info in twins)
    assert get_analysis(SHIPPED).name == SHIPPED  # the others are unaffected

    assert main(["run", "twin-search", "-o", str(tmp_path / "r.json")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "registered 2 times" in err

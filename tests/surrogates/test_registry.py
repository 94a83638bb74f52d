"""Registry: shipped surrogates and third-party ones found through entry points."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from pathlib import Path

import pytest

from surrotag.surrogates.card import seal_card
from surrotag.surrogates.errors import SurrogateError, SurrogateNotFoundError
from surrotag.surrogates.registry import (
    ENTRY_POINT_GROUP,
    list_surrogates,
    resolve_surrogate,
    shipped_folder,
)


def _install_plugin(
    site: Path, entries: dict[str, str], module_code: str, module: str = "thirdparty_surrogates"
) -> None:
    """Install a real distribution (dist-info with entry points) on a sys.path folder."""
    (site / f"{module}.py").write_text(textwrap.dedent(module_code))
    info = site / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 1.0\n"
    )
    lines = "\n".join(f"{name} = {target}" for name, target in entries.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}\n")


@pytest.fixture
def plugin_site(tmp_path, monkeypatch, card_document):
    """A third-party package with a valid surrogate, a callable one and two broken ones."""
    site = tmp_path / "site"
    site.mkdir()
    for name in ("ext-top", "ext-w"):
        folder = site / "folders" / name
        folder.mkdir(parents=True)
        (folder / "card.json").write_text(json.dumps(seal_card(dict(card_document, name=name))))
    broken = site / "folders" / "broken"
    broken.mkdir()
    (broken / "card.json").write_text(json.dumps(dict(card_document, schema_version=9)))
    _install_plugin(
        site,
        {
            "ext-top": "thirdparty_surrogates:TOP",
            "ext-w": "thirdparty_surrogates:w_folder",
            "broken": "thirdparty_surrogates:BROKEN",
            "gone": "thirdparty_surrogates:MISSING",
        },
        f"""
        from pathlib import Path
        ROOT = Path({str(site / "folders")!r})
        TOP = str(ROOT / "ext-top")
        BROKEN = ROOT / "broken"
        def w_folder():
            return ROOT / "ext-w"
        """,
    )
    monkeypatch.delitem(sys.modules, "thirdparty_surrogates", raising=False)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield site
    sys.modules.pop("thirdparty_surrogates", None)


def test_shipped_folder_is_inside_the_package():
    """Shipped surrogates live in the installed package (the folder may not exist yet: git
    keeps no empty folder, and the registry then lists no shipped surrogate)."""
    import surrotag.surrogates

    assert shipped_folder().parent == Path(surrotag.surrogates.__file__).parent
    assert shipped_folder().name == "shipped"


def test_entry_points_are_listed_with_problems_kept(plugin_site):
    infos = {info.name: info for info in list_surrogates()}
    assert infos["ext-top"].problem is None
    assert infos["ext-top"].n_features == 2
    assert infos["ext-top"].bayes == "vi"
    assert infos["ext-top"].origin == "entry point ext-top (thirdparty-surrogates)"
    assert infos["ext-w"].path == plugin_site / "folders" / "ext-w"
    assert "schema_version 9" in infos["broken"].problem
    assert "failed to load" in infos["gone"].problem


def test_resolve_by_name_and_by_folder(plugin_site, tmp_path):
    folder = plugin_site / "folders" / "ext-w"
    assert resolve_surrogate("ext-w") == folder
    assert resolve_surrogate(Path(plugin_site / "folders" / "ext-top")) == folder.parent / "ext-top"
    assert resolve_surrogate(str(folder)) == folder


def test_unknown_name_lists_installed(plugin_site, tmp_path):
    with pytest.raises(SurrogateNotFoundError, match=r"no surrogate 'nope'.*ext-top.*ext-w"):
        resolve_surrogate("nope")
    with pytest.raises(SurrogateNotFoundError, match=r"folder has no card\.json"):
        resolve_surrogate(tmp_path)


def _exiting_site(tmp_path, monkeypatch, entries: dict[str, str]) -> None:
    """A package whose module calls sys.exit at import, registering ``entries``."""
    site = tmp_path / "exiting"
    site.mkdir()
    _install_plugin(site, entries, "import sys\nsys.exit(3)\n", module="exiting_surrogates")
    monkeypatch.delitem(sys.modules, "exiting_surrogates", raising=False)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()


def test_plugin_calling_sys_exit_at_import_is_listed_not_fatal(plugin_site, tmp_path, monkeypatch):
    """sys.exit at import used to end the listing (SystemExit is no Exception)."""
    _exiting_site(tmp_path, monkeypatch, {"quits": "exiting_surrogates:FOLDER"})
    infos = {info.name: info for info in list_surrogates()}
    assert infos["quits"].problem.endswith("failed to load: it called sys.exit(3)")
    assert infos["ext-top"].problem is None
    with pytest.raises(SurrogateError, match=r"^entry point 'quits' .* sys\.exit\(3\)$"):
        resolve_surrogate("quits")


def test_a_name_registered_twice_is_refused(plugin_site, tmp_path, monkeypatch):
    """Two packages registering one name: which one a run used was undefined."""
    _exiting_site(tmp_path, monkeypatch, {"ext-top": "exiting_surrogates:FOLDER"})
    with pytest.raises(SurrogateError, match=r"'ext-top' is registered 2 times.*rename all but"):
        resolve_surrogate("ext-top")
    problems = [info.problem for info in list_surrogates() if info.name == "ext-top"]
    assert len(problems) == 2 and all("registered 2 times" in p for p in problems)

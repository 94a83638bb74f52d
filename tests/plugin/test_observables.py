"""The observable registry: built-in values in closed form, plugins from entry points."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

from surrotag import observables
from surrotag.analysis_card import Cut, SelectionSpec
from surrotag.errors import AnalysisError
from surrotag.observables import Candidates, get


def _pair(pt, eta, phi, mass) -> Candidates:
    return Candidates.from_arrays(pt=[pt], eta=[eta], phi=[phi], mass=[mass])


def test_system_observables_in_closed_form():
    """Two massless jets: m^2 = 2 pT1 pT2 (cosh d_eta - cos d_phi); phi wraps at pi."""
    pair = _pair([300.0, 200.0], [0.5, -0.7], [3.0, -3.0], [0.0, 0.0])
    d_eta, d_phi = 1.2, 2 * np.pi - 6.0
    mjj = np.sqrt(2 * 300.0 * 200.0 * (np.cosh(d_eta) - np.cos(d_phi)))
    assert get("mjj").compute(pair)[0] == pytest.approx(mjj, rel=1e-12)
    assert get("abs_delta_phi").compute(pair)[0] == pytest.approx(d_phi, rel=1e-12)
    assert get("abs_delta_eta").compute(pair)[0] == pytest.approx(d_eta, rel=1e-12)
    assert get("delta_r").compute(pair)[0] == pytest.approx(np.hypot(d_eta, d_phi), rel=1e-12)
    # massless: rapidity = pseudorapidity
    assert get("abs_delta_y").compute(pair)[0] == pytest.approx(d_eta, rel=1e-12)
    pt_sum = np.hypot(
        300 * np.cos(3.0) + 200 * np.cos(-3.0), 300 * np.sin(3.0) + 200 * np.sin(-3.0)
    )
    assert get("pt_system").compute(pair)[0] == pytest.approx(pt_sum, rel=1e-9)


def test_system_observables_are_nan_without_every_candidate():
    one = _pair([300.0, np.nan], [0.0, np.nan], [0.0, np.nan], [10.0, np.nan])
    for name in ("mjj", "pt_system", "abs_delta_y", "delta_r"):
        assert np.isnan(get(name).compute(one)[0]), name


def test_unknown_observable_lists_the_known_ones():
    with pytest.raises(AnalysisError, match=r"no observable 'mt2'.*known: .*mjj"):
        get("mt2")


def test_a_name_registered_twice_is_refused():
    with pytest.raises(AnalysisError, match="'pt' is registered twice"):
        observables.register("pt", "object", "GeV", "another pT")(lambda c: c.pt)
    with pytest.raises(AnalysisError, match="kind 'jet' unknown"):
        observables.register("new_pt", "jet", "GeV", "a pT")


@pytest.fixture
def plugin_site(tmp_path, monkeypatch):
    """A third-party package registering an observable, and a broken one."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "my_observables.py").write_text(
        textwrap.dedent(
            """
            import numpy as np
            from surrotag.observables import register

            @register("pt_balance", "system", "", "(pT1 - pT2) / (pT1 + pT2)", pairs_only=True)
            def pt_balance(c):
                return (c.pt[:, 0] - c.pt[:, 1]) / (c.pt[:, 0] + c.pt[:, 1])
            """
        )
    )
    (site / "broken_observables.py").write_text("raise RuntimeError('no such detector')\n")
    info = site / "my_observables-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-observables\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[{observables.ENTRY_POINT_GROUP}]\nmine = my_observables\nbroken = broken_observables\n"
    )
    monkeypatch.syspath_prepend(str(site))
    observables._load_plugins.cache_clear()
    yield site
    observables._REGISTRY.pop("pt_balance", None)
    observables._load_plugins.cache_clear()
    sys.modules.pop("my_observables", None)


def test_an_analysis_package_registers_its_own_observable(plugin_site):
    import awkward as ak

    from surrotag.selection import select

    jets = ak.zip(
        {"pt": [[600.0, 500.0], [900.0, 300.0]], "eta": [[0.0, 0.1]] * 2,
         "phi": [[0.0, 3.0]] * 2, "mass": [[50.0, 50.0]] * 2},
        with_name="Momentum4D",
    )  # fmt: skip
    events = ak.zip({"fatjets": jets, "weight": np.ones(2)}, depth_limit=1)
    spec = SelectionSpec("fatjets", 2, (Cut("balanced", "pt_balance", below=0.2),))
    selection = select(events, spec)
    assert selection.mask.tolist() == [True, False]  # 1/11 and 1/2
    assert "pt_balance" in observables.names()
    # the broken plugin is named when a lookup fails, and it ended nothing
    with pytest.raises(AnalysisError, match=r"broken plugins: entry point 'broken'.*no such"):
        get("not_registered_anywhere")


def test_lepton_met_and_btag_observables_on_real_delphes(delphes_file):
    """n_btag, mt and delta_phi_met against the file's own branches, written out plainly."""
    import awkward as ak

    from surrotag.io import read_events
    from surrotag.selection import _candidates

    events = read_events(delphes_file)
    _, candidates = _candidates(events, "fatjets", 2)
    n_btag = get("n_btag").compute(candidates)
    assert n_btag.tolist() == ak.to_list(ak.sum(events.jets.btag, axis=1))
    mt = get("mt").compute(candidates)
    met, met_phi = ak.to_numpy(events.met.met), ak.to_numpy(events.met.phi)
    for i in range(len(events)):
        leptons = ak.to_list(events.electrons[i]) + ak.to_list(events.muons[i])
        if not leptons:
            assert np.isnan(mt[i])
            continue
        lead = max(leptons, key=lambda lepton: lepton["pt"])
        expected = np.sqrt(2 * lead["pt"] * met[i] * (1 - np.cos(lead["phi"] - met_phi[i])))
        assert mt[i] == pytest.approx(expected, rel=1e-9)
    assert np.sum(~np.isnan(mt)) == 4  # the file's five leptons are in four events
    dphi = get("delta_phi_met").compute(candidates)
    has = ~np.isnan(candidates.phi[:, 0])
    expected = np.abs(np.angle(np.exp(1j * (candidates.phi[has, 0] - met_phi[has]))))
    np.testing.assert_allclose(dphi[has], expected, rtol=1e-9)
    assert np.all(np.isnan(dphi[~has])) and has.sum() == 4


def test_lepton_count_pt_and_jet_met_angles_on_real_delphes(delphes_file):
    """n_leptons, lepton_pt, delta_phi_lepton and min_delta_phi_jets_met against plain
    per-event Python on the real Delphes file."""
    import awkward as ak

    from surrotag.io import read_events
    from surrotag.selection import _candidates

    events = read_events(delphes_file)
    _, candidates = _candidates(events, "fatjets", 1)
    n_leptons = get("n_leptons").compute(candidates)
    lepton_pt = get("lepton_pt").compute(candidates)
    d_phi_lepton = get("delta_phi_lepton").compute(candidates)
    d_phi_jets = get("min_delta_phi_jets_met").compute(candidates)
    met_phi = ak.to_numpy(events.met.phi)
    wrap = lambda x: abs(np.angle(np.exp(1j * x)))  # noqa: E731
    for i in range(len(events)):
        leptons = ak.to_list(events.electrons[i]) + ak.to_list(events.muons[i])
        assert n_leptons[i] == len(leptons)
        jets = sorted(ak.to_list(events.jets[i]), key=lambda jet: -jet["pt"])[:4]
        if jets:
            expected = min(wrap(jet["phi"] - met_phi[i]) for jet in jets)
            assert d_phi_jets[i] == pytest.approx(expected, rel=1e-9)
        else:
            assert np.isnan(d_phi_jets[i])
        if not leptons:
            assert np.isnan(lepton_pt[i]) and np.isnan(d_phi_lepton[i])
            continue
        lead = max(leptons, key=lambda lepton: lepton["pt"])
        assert lepton_pt[i] == pytest.approx(lead["pt"], rel=1e-9)
        if not np.isnan(candidates.phi[i, 0]):
            expected = wrap(candidates.phi[i, 0] - lead["phi"])
            assert d_phi_lepton[i] == pytest.approx(expected, rel=1e-9)
    assert n_leptons.sum() == 5 and np.isfinite(d_phi_jets).sum() > 0


def _w_pairs(n: int, seed: int):
    """Transverse momenta of the leptons and neutrinos of n on-shell W pairs (massless decay
    products, W's boosted in random directions)."""
    import vector

    rng = np.random.default_rng(seed)
    m_w = 80.369

    def decay():
        cos, phi = rng.uniform(-1, 1, n), rng.uniform(-np.pi, np.pi, n)
        sin = np.sqrt(1 - cos**2)
        half = m_w / 2
        w = vector.array(
            {"pt": rng.uniform(0, 300, n), "eta": rng.uniform(-2, 2, n),
             "phi": rng.uniform(-np.pi, np.pi, n), "mass": np.full(n, m_w)}
        )  # fmt: skip
        lepton = vector.array({"px": half * sin * np.cos(phi), "py": half * sin * np.sin(phi),
                               "pz": half * cos, "E": np.full(n, half)}).boost_p4(w)  # fmt: skip
        neutrino = vector.array({"px": -half * sin * np.cos(phi), "py": -half * sin * np.sin(phi),
                                 "pz": -half * cos, "E": np.full(n, half)}).boost_p4(w)  # fmt: skip
        return lepton, neutrino

    (l1, n1), (l2, n2) = decay(), decay()
    return l1, l2, n1.px + n2.px, n1.py + n2.py, m_w


def test_mt2_of_w_pairs_stays_below_the_w_mass_and_reaches_it():
    """The m_T2 endpoint: for W+W- -> l nu l nu with the true MET, m_T2(ll) <= m_W (the true
    neutrino split already gives max(m_T) <= m_W), and the largest of 4000 events comes
    close to m_W."""
    from surrotag.observables import mt2_massless

    l1, l2, met_x, met_y, m_w = _w_pairs(4000, seed=3)
    mt2 = mt2_massless(l1.px, l1.py, l2.px, l2.py, met_x, met_y)
    assert np.all(np.isfinite(mt2)) and np.all(mt2 >= 0)
    assert mt2.max() <= m_w * (1 + 1e-6)
    assert mt2.max() > 0.97 * m_w


def test_mt2_equals_a_direct_minimisation():
    """On 150 random configurations m_T2 equals scipy's minimum of max(m_T1, m_T2) over the
    split of MET (Nelder-Mead from three starts), to 1e-4 relative."""
    from scipy.optimize import minimize

    from surrotag.observables import mt2_massless

    rng = np.random.default_rng(11)
    p = rng.normal(0, 80, size=(150, 6))
    mt2 = mt2_massless(*p.T)
    for row, ours in zip(p, mt2, strict=True):
        p1, p2, met = row[0:2], row[2:4], row[4:6]

        def f(q, p1=p1, p2=p2, met=met):
            r = met - q
            a = 2 * (np.hypot(*p1) * np.hypot(*q) - p1 @ q)
            b = 2 * (np.hypot(*p2) * np.hypot(*r) - p2 @ r)
            return max(a, b)

        starts = (np.zeros(2), met, met / 2)
        best = min(
            minimize(f, x0, method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-9,
                     "maxiter": 4000}).fun
            for x0 in starts
        )  # fmt: skip
        assert ours == pytest.approx(np.sqrt(max(best, 0.0)), rel=1e-4, abs=1e-3)


def test_mt2_ll_needs_two_leptons_on_real_delphes(delphes_file):
    from surrotag.io import read_events
    from surrotag.selection import _candidates

    events = read_events(delphes_file)
    _, candidates = _candidates(events, "fatjets", 1)
    mt2 = get("mt2_ll").compute(candidates)
    import awkward as ak

    two = ak.to_numpy(ak.num(events.electrons) + ak.num(events.muons)) >= 2
    assert np.all(np.isnan(mt2[~two])) and np.all(np.isfinite(mt2[two]))

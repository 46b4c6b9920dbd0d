"""pgmpy interop (to_pgmpy / from_pgmpy) and read_network's format dispatch."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pgmpy.factors.discrete import TabularCPD as PgmpyCPD
from pgmpy.models import DiscreteBayesianNetwork

from bnem.errors import BIFParseError, BnemTypeError, BnemValueError, NetworkError
from bnem.io import (BIFNormalizationWarning, format_bif, from_pgmpy, read_bif, read_network,
                     to_pgmpy)
from bnem.network.bayesnet import BayesianNetwork

NETWORKS = Path(__file__).resolve().parent.parent / "networks"


def hand_model(evidence=("smoke", "pollution"), child_states=None):
    """cancer-like pgmpy model built by hand; evidence order differs from edge order."""
    model = DiscreteBayesianNetwork([("pollution", "cancer"), ("smoke", "cancer")])
    model.add_cpds(
        PgmpyCPD("pollution", 2, [[0.9], [0.1]], state_names={"pollution": ["low", "high"]}),
        PgmpyCPD("smoke", 2, [[0.3], [0.7]], state_names={"smoke": ["True", "False"]}),
    )
    names = {"cancer": ["yes", "no"], "smoke": ["True", "False"], "pollution": ["low", "high"]}
    names.update(child_states or {})
    # P(cancer=yes | smoke, pollution); columns: first evidence variable slowest.
    p_yes = {("True", "low"): 0.03, ("True", "high"): 0.05,
             ("False", "low"): 0.001, ("False", "high"): 0.02}
    columns = []
    for a in names[evidence[0]]:
        for b in names[evidence[1]]:
            assignment = {evidence[0]: a, evidence[1]: b}
            columns.append(p_yes[(assignment["smoke"], assignment["pollution"])])
    model.add_cpds(PgmpyCPD("cancer", 2, [columns, [1 - v for v in columns]],
                            evidence=list(evidence), evidence_card=[2, 2], state_names=names))
    return model


def expected_cancer(net, smoke, pollution):
    sm, po = net.states("smoke").index(smoke), net.states("pollution").index(pollution)
    table = net.cpd("cancer").values
    return table[sm, po] if net.parents("cancer") == ("smoke", "pollution") else table[po, sm]


@pytest.mark.parametrize("evidence", [("smoke", "pollution"), ("pollution", "smoke")])
def test_from_pgmpy_hand_built_model(evidence):
    net = from_pgmpy(hand_model(evidence))
    assert net.nodes == ("pollution", "cancer", "smoke")
    assert net.parents("cancer") == evidence
    assert net.states("smoke") == ("True", "False")
    assert net.cpd("pollution").values.tolist() == [0.9, 0.1]
    np.testing.assert_allclose(expected_cancer(net, "True", "high"), [0.05, 0.95])
    np.testing.assert_allclose(expected_cancer(net, "False", "low"), [0.001, 0.999])


def test_from_pgmpy_permutes_parent_states_listed_in_another_order():
    model = hand_model(child_states={"smoke": ["False", "True"]})
    net = from_pgmpy(model)
    assert net.states("smoke") == ("True", "False")  # the parent's own order wins
    np.testing.assert_allclose(expected_cancer(net, "True", "high"), [0.05, 0.95])
    np.testing.assert_allclose(expected_cancer(net, "False", "high"), [0.02, 0.98])


@pytest.mark.parametrize("name", ["asia", "child", "alarm"])
def test_round_trip_through_pgmpy(name):
    net = read_bif(NETWORKS / f"{name}.bif")
    model = to_pgmpy(net)
    assert isinstance(model, DiscreteBayesianNetwork)
    assert model.check_model()
    cpd = model.get_cpds(net.nodes[-1])
    assert list(cpd.variables[1:]) == list(net.parents(net.nodes[-1]))
    assert list(cpd.state_names[net.nodes[-1]]) == list(net.states(net.nodes[-1]))
    back = from_pgmpy(model)
    assert back == net
    assert back.nodes == net.nodes


def test_to_pgmpy_values_layout():
    net = read_bif(NETWORKS / "asia.bif")
    cpd = to_pgmpy(net).get_cpds("either")  # P(either | lung, tub)
    assert cpd.get_values().shape == (2, 4)
    # column (lung=no, tub=no) is the 4th: last evidence variable fastest
    np.testing.assert_array_equal(cpd.get_values()[:, 3], net.cpd("either").values[1, 1])
    np.testing.assert_array_equal(cpd.get_values()[:, 3], [0.0, 1.0])


def test_network_methods_delegate():
    net = read_bif(NETWORKS / "cancer.bif")
    assert BayesianNetwork.from_pgmpy(net.to_pgmpy()) == net


def test_from_pgmpy_errors():
    model = DiscreteBayesianNetwork([("a", "b")])
    model.add_cpds(PgmpyCPD("a", 2, [[0.5], [0.5]]))
    with pytest.raises(NetworkError, match=r"no CPD for \['b'\] and their states are unknown"):
        from_pgmpy(model)
    with pytest.raises(BnemTypeError, match="expects a pgmpy DiscreteBayesianNetwork"):
        from_pgmpy("model")
    with pytest.raises(BnemTypeError, match="expects a bnem BayesianNetwork"):
        to_pgmpy(model)


def test_from_pgmpy_renormalises_small_deviations_only():
    model = hand_model()
    model.remove_cpds("pollution")
    model.add_cpds(PgmpyCPD("pollution", 2, [[0.9], [0.0995]],
                            state_names={"pollution": ["low", "high"]}))
    with pytest.warns(BIFNormalizationWarning, match=r"\['pollution'\]"):
        net = from_pgmpy(model)
    np.testing.assert_allclose(net.cpd("pollution").values, [0.9 / 0.9995, 0.0995 / 0.9995])
    model.remove_cpds("pollution")
    model.add_cpds(PgmpyCPD("pollution", 2, [[0.9], [0.05]],
                            state_names={"pollution": ["low", "high"]}))
    with pytest.raises(NetworkError, match="'pollution' has a distribution summing to 0.95"):
        from_pgmpy(model)


@pytest.mark.slow  # a subprocess that imports bnem
def test_import_bnem_does_not_import_pgmpy():
    code = "import sys, bnem, bnem.io; print('pgmpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "False"


# -- read_network ------------------------------------------------------------------
def test_read_network_xmlbif(tmp_path):
    from pgmpy.readwrite import XMLBIFWriter

    net = read_bif(NETWORKS / "alarm.bif")  # pgmpy's XMLBIF writer rewrites names like '<5'
    for name in ("alarm.xml", "alarm.XMLBIF"):
        XMLBIFWriter(to_pgmpy(net)).write(str(tmp_path / name))
        back = read_network(tmp_path / name)
        assert sorted(back.nodes) == sorted(net.nodes)  # pgmpy writes them sorted
        assert all(back.parents(n) == net.parents(n) and back.states(n) == net.states(n)
                   for n in net.nodes)
        for n in net.nodes:  # XMLBIF text keeps fewer digits: compare numerically
            np.testing.assert_allclose(back.cpd(n).values, net.cpd(n).values, atol=1e-9)


def test_read_network_net_and_uai(tmp_path):
    from pgmpy.readwrite import NETWriter, UAIWriter

    net = read_bif(NETWORKS / "asia.bif")
    NETWriter(to_pgmpy(net)).write(str(tmp_path / "asia.net"))
    hugin = read_network(tmp_path / "asia.net")
    assert set(hugin.nodes) == set(net.nodes)
    np.testing.assert_allclose(hugin.cpd("either").values, net.cpd("either").values)
    UAIWriter(to_pgmpy(net)).write(str(tmp_path / "asia.uai"))
    uai = read_network(tmp_path / "asia.uai")
    assert len(uai.nodes) == 8
    assert sorted(len(uai.parents(n)) for n in uai.nodes) == \
        sorted(len(net.parents(n)) for n in net.nodes)


def test_read_network_bif_and_gzip(tmp_path):
    net = read_bif(NETWORKS / "survey.bif")
    assert read_network(NETWORKS / "survey.bif") == net
    assert read_network(str(NETWORKS / "survey.bif")) == net
    packed = tmp_path / "survey.BIF.gz"
    packed.write_bytes(gzip.compress(format_bif(net).encode()))
    assert read_network(packed) == net
    broken = tmp_path / "broken.bif"
    broken.write_text("variable x {")
    with pytest.raises(BIFParseError, match=r"broken\.bif:1:13: expected 'type'"):
        read_network(broken)


@pytest.mark.parametrize("name", ["model.yaml", "model", "model.bif.txt", "model.gz"])
def test_read_network_unknown_extension(tmp_path, name):
    with pytest.raises(BnemValueError, match=r"cannot tell the format .* expected one of "
                                             r"\.bif, \.json, \.net, \.uai, \.xml, \.xmlbif"):
        read_network(tmp_path / name)


def test_read_network_rejects_non_path():
    with pytest.raises(BnemTypeError, match="expects a path"):
        read_network(42)


def test_read_network_rejects_markov_uai(tmp_path):
    path = tmp_path / "pair.uai"
    path.write_text("MARKOV\n2\n2 2\n1\n2 0 1\n\n4\n 0.1 0.2 0.3 0.4\n")
    with pytest.raises(BnemValueError, match=r"pair\.uai as UAI: it describes a Markov network "
                                             r"\(MARKOV\); bnem reads Bayesian networks"):
        read_network(path)

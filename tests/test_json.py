"""JSON networks: exact round trips, bnlearn/pgmpy Gaussian files against pgmpy, errors."""

from __future__ import annotations

import copy
import gzip
import importlib.resources
import io
import json
from pathlib import Path

import numpy as np
import pytest

import bnem
from bnem.errors import BnemTypeError, CycleError, NetworkError
from bnem.io import JSONFormatError, format_json, read_json, write_json
from bnem.io import json_format
from conftest import NETWORKS

EXAMPLES = Path(str(importlib.resources.files("pgmpy") / "utils" / "example_models"))
GAUSSIAN = ["ecoli70", "magic-niab", "magic-irri", "arth150"]
SHIPPED = ["alarm", "asia", "cancer", "child", "earthquake", "insurance", "sachs", "survey"]


def plant() -> bnem.BayesianNetwork:
    """The network of the module docstring's example."""
    return bnem.BayesianNetwork(
        {"line": ["A", "B"], "speed": "continuous", "heat": "continuous"},
        {"speed": ["line"], "heat": ["speed", "line"]},
        {"line": [0.3, 0.7], "speed": {"intercept": [10.0, 12.5], "variance": [1.0, 2.25]},
         "heat": {"intercept": [1.0, -3.0], "weights": [[0.5], [0.75]], "variance": [0.25, 0.5]}},
        name="plant")


def random_hybrid(seed: int) -> bnem.BayesianNetwork:
    """Two discrete parents, interleaved parent orders, arbitrary (non-round) floats."""
    rng = np.random.default_rng(seed)
    variables = {"a": ["x", "y", "z"], "u": "continuous", "b": ["p", "q"], "v": "continuous",
                 "w": "continuous"}
    parents = {"b": ["a"], "u": ["a"], "v": ["u", "b", "a"], "w": ["v", "a", "u"]}
    cpds = {"a": rng.dirichlet(np.ones(3)), "b": rng.dirichlet(np.ones(2), size=3),
            "u": {"intercept": rng.normal(size=3), "variance": rng.gamma(2.0, size=3)},
            "v": {"intercept": rng.normal(size=(2, 3)), "weights": rng.normal(size=(2, 3, 1)),
                  "variance": rng.gamma(2.0, size=(2, 3))},
            "w": {"intercept": rng.normal(size=3) * 1e-300, "weights": rng.normal(size=(3, 2)),
                  "variance": rng.gamma(2.0, size=3) * 1e10}}
    return bnem.BayesianNetwork(variables, parents, cpds, name="random hybrid")


# -- round trips --------------------------------------------------------------------------

@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("suffix", [".json", ".json.gz"])
def test_discrete_round_trip_is_exact(tmp_path, name, suffix):
    net = bnem.read_bif(NETWORKS / f"{name}.bif")
    path = tmp_path / f"{name}{suffix}"
    write_json(net, path)
    assert read_json(path) == net
    assert bnem.read_network(str(path)) == net


@pytest.mark.parametrize("make", [plant, lambda: random_hybrid(0), lambda: random_hybrid(1),
                                  lambda: bnem.BayesianNetwork({"x": "continuous"})])
def test_hybrid_round_trip_is_exact(tmp_path, make):
    net = make()
    for path in (tmp_path / "net.json", tmp_path / "net.json.gz"):
        write_json(net, path)
        back = read_json(path)
        assert back == net
        assert back.name == net.name and back.nodes == net.nodes
        assert all(back.parents(n) == net.parents(n) for n in net.nodes)


def test_module_docstring_example_is_what_write_json_writes():
    doc = json_format.__doc__
    example = doc[doc.index("    {\n"):doc.index("\n\n", doc.index("    {\n"))] + "\n"
    text = "".join(line[4:] + "\n" for line in example.splitlines())
    assert format_json(plant()) == text
    assert json_format.parse_json(text) == plant()


def test_file_objects_and_deterministic_gzip(tmp_path):
    net = random_hybrid(2)
    buffer = io.StringIO()
    write_json(net, buffer)
    assert read_json(io.StringIO(buffer.getvalue())) == net
    binary = io.BytesIO()
    write_json(net, binary)
    assert read_json(io.BytesIO(binary.getvalue())) == net
    write_json(net, tmp_path / "a.json.gz")
    write_json(net, tmp_path / "b.JSON.GZ")
    assert (tmp_path / "a.json.gz").read_bytes() == (tmp_path / "b.JSON.GZ").read_bytes()
    assert gzip.decompress((tmp_path / "a.json.gz").read_bytes()).decode() == format_json(net)


def test_omitted_parameters_default_like_the_constructor():
    text = json.dumps({"format": "bnem-network", "version": 1, "nodes": [
        {"name": "z", "type": "discrete", "states": ["a", "b"]},
        {"name": "x", "type": "gaussian", "parents": ["z"]}]})
    net = json_format.parse_json(text)
    assert net == bnem.BayesianNetwork({"z": ["a", "b"], "x": "continuous"}, {"x": ["z"]})
    assert net.name == "unknown"


# -- bnlearn / pgmpy Gaussian networks --------------------------------------------------

def pgmpy_joint(model, order):
    """Mean and covariance of a pgmpy linear Gaussian network, at full precision.

    (pgmpy's own ``to_joint_gaussian`` rounds to 8 decimals.)
    """
    index = {n: i for i, n in enumerate(order)}
    n = len(order)
    b, omega, mean = np.zeros((n, n)), np.zeros(n), np.zeros(n)
    for node in order:  # topological
        cpd = model.get_cpds(node)
        i = index[node]
        mean[i] = cpd.beta[0] + sum(w * mean[index[p]] for w, p in zip(cpd.beta[1:], cpd.evidence))
        for w, p in zip(cpd.beta[1:], cpd.evidence):
            b[i, index[p]] = w
        omega[i] = cpd.std ** 2
    inv = np.linalg.inv(np.eye(n) - b)
    return mean, inv @ np.diag(omega) @ inv.T


@pytest.mark.parametrize("name", GAUSSIAN)
def test_bnlearn_gaussian_files_match_pgmpy(name):
    from pgmpy.models import LinearGaussianBayesianNetwork

    path = EXAMPLES / f"{name}.json"
    net = bnem.read_network(path)
    model = LinearGaussianBayesianNetwork.load(str(path))
    raw = json.loads(path.read_text())["cpds"]
    assert net.name == name and not net.discrete_nodes
    assert set(net.nodes) == set(model.nodes()) and set(net.edges) == set(model.edges())
    for node in net.nodes:
        ours, theirs = net.cpd(node), model.get_cpds(node)
        assert net.parents(node) == tuple(theirs.evidence)
        assert ours.intercept == theirs.beta[0]
        assert np.array_equal(ours.weights, np.asarray(theirs.beta[1:], dtype=float))
        assert ours.variance == raw[node]["variance"][0]  # the file's value, exactly
        assert ours.variance == pytest.approx(theirs.std ** 2, rel=1e-14)  # pgmpy: std=sqrt
    rows = net.sample(6, seed=0)
    rows.iloc[4, [0, 3, 5]] = np.nan  # a row with missing cells: the marginal density
    mean, cov = pgmpy_joint(model, list(net.topological_order))
    from scipy.stats import multivariate_normal
    expected = []
    for _, row in rows[list(net.topological_order)].iterrows():
        seen = row.notna().to_numpy()
        expected.append(multivariate_normal(mean[seen], cov[np.ix_(seen, seen)])
                        .logpdf(row.to_numpy()[seen]))
    np.testing.assert_allclose(net.log_prob(rows), expected, rtol=1e-9)
    complete = rows.drop(index=4)
    assert net.log_likelihood(complete) == pytest.approx(model.log_likelihood(complete), rel=1e-6)


def test_bnlearn_layout_from_pgmpy_save_and_gzip(tmp_path):
    from pgmpy.models import LinearGaussianBayesianNetwork

    model = LinearGaussianBayesianNetwork.load(str(EXAMPLES / "ecoli70.json"))
    model.save(str(tmp_path / "saved.json"))
    expected = bnem.read_network(EXAMPLES / "ecoli70.json")
    saved = read_json(tmp_path / "saved.json")
    assert set(saved.nodes) == set(expected.nodes)  # pgmpy saves its own node order
    for node in expected.nodes:  # pgmpy saves std**2, which may differ in the last bit
        assert saved.cpd(node).intercept == expected.cpd(node).intercept
        assert saved.cpd(node).variance == pytest.approx(expected.cpd(node).variance, rel=1e-14)
    gz = tmp_path / "ecoli70.json.gz"
    gz.write_bytes(gzip.compress((EXAMPLES / "ecoli70.json").read_bytes()))
    back = bnem.read_network(gz)
    assert back == expected and back.name == "ecoli70"


# -- errors -----------------------------------------------------------------------------

def base():
    return json.loads(format_json(plant()))


def mutate(fn):
    doc = base()
    fn(doc)
    return json.dumps(doc)


def node(doc, name):
    return next(n for n in doc["nodes"] if n["name"] == name)


VALID = format_json(plant())
ERRORS = [
    ("{", r"bad.json:1:2: not valid JSON"),
    ("[1, 2]", r"unknown JSON network layout: .* got array \[1, 2\]"),
    ('{"nodes": []}', r"unknown JSON network layout: .*got an object with keys \['nodes'\]"),
    (mutate(lambda d: d.update(format="other")), r'unknown format string "other"'),
    (mutate(lambda d: d.pop("version")), r"top level: missing key\(s\) \['version'\]"),
    (mutate(lambda d: d.update(version=2)), r"version number 2 is not supported; .* reads version 1"),
    (mutate(lambda d: d.update(version=True)), r"version boolean true is not supported"),
    (mutate(lambda d: d.update(name=3)), r"'name' must be a string, got number 3"),
    (mutate(lambda d: d.update(extra=1)), r"top level: unknown key\(s\) \['extra'\]"),
    (mutate(lambda d: d.update(nodes={})), r"'nodes' must be a non-empty array .*got object"),
    (mutate(lambda d: d.update(nodes=[])), r"'nodes' must be a non-empty array"),
    (mutate(lambda d: node(d, "heat")["parents"].append("heat")),
     r"node 'heat' lists itself as a parent"),
    (mutate(lambda d: d["nodes"].insert(0, "line")), r"nodes\[0\]: expected a node object, got string"),
    (mutate(lambda d: d["nodes"][0].pop("name")), r"nodes\[0\]: 'name' must be a non-empty string, got null$"),
    (mutate(lambda d: d["nodes"].append(copy.deepcopy(d["nodes"][0]))),
     r"node 'line': the name appears more than once"),
    (mutate(lambda d: node(d, "speed").update(type="continuous")),
     r"node 'speed': 'type' must be \"discrete\" or \"gaussian\", got string \"continuous\""),
    (mutate(lambda d: node(d, "line").pop("states")),
     r"node 'line' \(discrete\): missing key\(s\) \['states'\]"),
    (mutate(lambda d: node(d, "speed").update(states=["a"])),
     r"node 'speed' \(gaussian\): unknown key\(s\) \['states'\]"),
    (mutate(lambda d: node(d, "line").update(cpd_=1)), r"unknown key\(s\) \['cpd_'\]"),
    (mutate(lambda d: node(d, "line").update(states=[1, 2])),
     r"node 'line': 'states' must be an array of strings, got array \[1, 2\]"),
    (mutate(lambda d: node(d, "line").update(states=["A", "A"])),
     r"node 'line': .*repeats state name\(s\) \['A'\]"),
    (mutate(lambda d: node(d, "speed").update(parents="line")),
     r"node 'speed': 'parents' must be an array of strings, got string"),
    (mutate(lambda d: node(d, "speed").update(parents=["nope"])),
     r"node 'speed': parent 'nope' is not a node"),
    (mutate(lambda d: node(d, "heat").update(parents=["line", "line"])),
     r"node 'heat': 'parents' lists a node twice"),
    (mutate(lambda d: node(d, "line").update(parents=["speed"])),
     r"node 'line': a discrete node may only have discrete parents; got gaussian parent"),
    (mutate(lambda d: node(d, "line").update(cpd=[[0.3, 0.7]])),
     r"node 'line': 'cpd' must have shape \(2,\) \(axes: the 2 states of 'line'\); cpd should be "
     r"an array of 2 entries, got array \[\[0.3, 0.7\]\]"),
    (mutate(lambda d: node(d, "line").update(cpd=[0.3, 0.2, 0.5])),
     r"'cpd' must have shape \(2,\) .* cpd should be an array of 2 entries, got array"),
    (mutate(lambda d: node(d, "line").update(cpd=[0.3, "0.7"])),
     r"node 'line': cpd\[1\]: expected a number, got string \"0.7\""),
    (mutate(lambda d: node(d, "line").update(cpd=[0.3, True])), r"cpd\[1\]: expected a number, got boolean"),
    (VALID.replace('"cpd": [0.3, 0.7]', '"cpd": [NaN, 0.7]'), r"cpd\[0\]: expected a finite number, got number NaN"),
    (mutate(lambda d: node(d, "line").update(cpd=[0.3, 0.6])), r"bad.json: CPD of 'line' is not normalised: .* sums to 0.9"),
    (mutate(lambda d: node(d, "speed").update(intercept=10.0)),
     r"node 'speed': 'intercept' must have shape \(2,\) \(axes: line \(2 states\)\); intercept "
     r"should be an array of 2 entries, got number 10.0"),
    (mutate(lambda d: node(d, "heat").update(weights=[0.5, 0.75])),
     r"'weights' must have shape \(2, 1\) \(axes: line \(2 states\), then one coefficient per "
     r"continuous parent \['speed'\]\); weights\[0\] should be an array of 1 entry, got number 0.5"),
    (mutate(lambda d: node(d, "speed").update(variance=[1.0, -2.0])),
     r"Gaussian CPD of 'speed': variance must be > 0, got -2.0 for \(line='B'\)"),
    (VALID.replace('"cpd": [0.3, 0.7]', '"cpd": [0.3, 0.7], "cpd": [0.5, 0.5]'),
     r"node 'line' \(discrete\): key\(s\) \['cpd'\] given more than once"),
    (mutate(lambda d: node(d, "speed").update(parents=["line", "heat"], weights=[[0.0], [0.0]])),
     r"directed cycle"),
]
BNLEARN = {"nodes": ["a", "b"], "arcs": [["a", "b"]], "cpds": {
    "a": {"coefficients": {"(Intercept)": [1.5]}, "variance": [0.25], "parents": []},
    "b": {"coefficients": {"(Intercept)": [0.1], "a": [2.0]}, "variance": [1.0], "parents": ["a"]}}}


def bnlearn(fn):
    doc = copy.deepcopy(BNLEARN)
    fn(doc)
    return json.dumps(doc)


BNLEARN_ERRORS = [
    (bnlearn(lambda d: d.update(extra=1)), r"top level: unknown key\(s\) \['extra'\]"),
    (bnlearn(lambda d: d.update(nodes=["a", "a"])), r"'nodes' must list distinct node names"),
    (bnlearn(lambda d: d["cpds"].pop("b")), r"'cpds' has no entry for node\(s\) \['b'\]"),
    (bnlearn(lambda d: d["cpds"].update(c=d["cpds"]["a"])), r"'cpds' has entries for \['c'\]"),
    (bnlearn(lambda d: d["cpds"]["b"]["coefficients"].pop("a")),
     r"node 'b': 'coefficients': missing key\(s\) \['a'\]"),
    (bnlearn(lambda d: d["cpds"]["b"].update(sd=[1.0])), r"node 'b' \(in 'cpds'\): unknown key\(s\) \['sd'\]"),
    (bnlearn(lambda d: d["cpds"]["b"].update(variance=[1.0, 2.0])),
     r"node 'b': variance: expected a number or an array of one number, got array"),
    (bnlearn(lambda d: d["cpds"]["b"].update(variance=["1"])), r"node 'b': variance: expected a number, got string"),
    (bnlearn(lambda d: d["cpds"]["b"].update(variance=[0.0])), r"bad.json: Gaussian CPD of 'b': variance must be > 0, got 0.0"),
    (bnlearn(lambda d: d["cpds"]["b"].update(parents=["q"])), r"node 'b': parent 'q' is not a node"),
    (bnlearn(lambda d: d.update(arcs=[])), r"node 'b': its CPD's parents \['a'\] differ from the arcs into it \[\]"),
    (bnlearn(lambda d: d.update(arcs=[["a"]])), r"'arcs'\[0\]: expected a \[parent, child\] pair"),
    (bnlearn(lambda d: d.update(arcs="a->b")), r"'arcs': expected an array of \[parent, child\] pairs"),
]


@pytest.mark.parametrize("text, match", ERRORS + BNLEARN_ERRORS)
def test_malformed_files_are_clear_network_errors(tmp_path, text, match):
    path = tmp_path / "bad.json"
    path.write_text(text)
    expected = CycleError if match == "directed cycle" else JSONFormatError
    with pytest.raises(expected, match=match) as info:
        read_json(path)
    assert isinstance(info.value, NetworkError) and isinstance(info.value, ValueError)
    assert str(info.value).startswith(str(path))
    with pytest.raises(expected, match=match):
        bnem.read_network(path)


def test_bnlearn_example_in_docstring_reads():
    net = json_format.parse_json(json.dumps(BNLEARN))
    assert net.parents("b") == ("a",) and float(net.cpd("b").weights[0]) == 2.0


def test_corrupt_gzip_and_wrong_argument_types(tmp_path):
    path = tmp_path / "net.json.gz"
    path.write_bytes(gzip.compress(VALID.encode())[:30])
    with pytest.raises(JSONFormatError, match="cannot decompress gzip data"):
        bnem.read_network(path)
    with pytest.raises(BnemTypeError, match="read_json expects a path or a file object, got int"):
        read_json(3)
    with pytest.raises(BnemTypeError, match="format_json expects a BayesianNetwork, got str"):
        write_json("net", tmp_path / "x.json")
    with pytest.raises(BnemTypeError, match="write_json expects a path or a file object, got int"):
        write_json(plant(), 3)
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "missing.json")


def test_json_text_is_read_as_read_bif_reads_bif_text(tmp_path, monkeypatch):
    """A string starting with '{' that names no file is the JSON itself (it gave
    "[Errno 36] File name too long"); an existing file of such a name is read as a file."""
    net = bnem.BayesianNetwork({"rain": ["yes", "no"]})
    path = tmp_path / "n.json"
    bnem.write_json(net, path)
    text = path.read_text()
    assert read_json(text) == net
    assert read_json("  " + text) == net
    with pytest.raises(JSONFormatError, match="<string>"):
        read_json('{"format": "bnem-network"}')
    monkeypatch.chdir(tmp_path)
    (tmp_path / "{odd}.json").write_text(text)
    assert read_json("{odd}.json") == net
    with pytest.raises(OSError):
        read_json("missing.json")


def test_names_any_encoding_can_hold_round_trip(tmp_path):
    net = bnem.BayesianNetwork({"ünï": ["a", "b"], "x\ud800": "continuous"}, {"x\ud800": ["ünï"]})
    path = tmp_path / "n.json"
    bnem.write_json(net, path)
    assert bnem.read_json(path) == net
    with open(tmp_path / "ascii.json", "w", encoding="ascii") as handle:
        bnem.write_json(net, handle)
    assert bnem.read_json(tmp_path / "ascii.json") == net

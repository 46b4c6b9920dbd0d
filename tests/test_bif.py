"""BIF reading and writing: pgmpy as oracle on real files, round trips, syntax, errors."""

from __future__ import annotations

import gzip
import importlib.resources
import io
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from bnem.errors import BIFParseError, BnemTypeError, CycleError
from bnem.io import BIFNormalizationWarning, format_bif, read_bif, write_bif
from bnem.network.bayesnet import BayesianNetwork

EXAMPLES = Path(str(importlib.resources.files("pgmpy") / "utils" / "example_models"))
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.bif.gz"))
NETWORKS = Path(__file__).resolve().parent.parent / "networks"
SHIPPED = ["alarm", "asia", "cancer", "child", "earthquake", "insurance", "sachs", "survey"]
# round trips that take about half a second or more
SLOW_ROUND_TRIPS = {"diabetes.bif.gz", "mildew.bif.gz", "munin.bif.gz", "munin2.bif.gz",
                    "munin3.bif.gz", "munin4.bif.gz"}
ROUND_TRIP_CASES = [pytest.param(p, id=p.name,
                                 marks=pytest.mark.slow if p.name in SLOW_ROUND_TRIPS else ())
                    for p in EXAMPLE_FILES]


def pgmpy_model(text: str):
    from pgmpy.readwrite import BIFReader

    return BIFReader(string=text).get_model()


def assert_same_as_pgmpy(net: BayesianNetwork, model) -> None:
    """Same nodes (in order), states, parents (in order), edges and CPD values."""
    assert list(model.nodes()) == list(net.nodes)
    assert set(model.edges()) == set(net.edges)
    cpds = {cpd.variable: cpd for cpd in model.get_cpds()}
    assert set(cpds) == set(net.nodes)
    for node in net.nodes:
        cpd = cpds[node]
        names = {v: [str(s) for s in cpd.state_names[v]] for v in cpd.variables}
        evidence = list(cpd.variables[1:])
        assert net.states(node) == tuple(names[node])
        assert net.parents(node) == tuple(evidence)
        # pgmpy: (card, prod(evidence cards)), last evidence variable fastest.
        values = np.asarray(cpd.get_values()).reshape(list(cpd.cardinality))
        order = [1 + evidence.index(p) for p in net.parents(node)] + [0]
        expected = values.transpose(order)
        for axis, var in enumerate(net.parents(node) + (node,)):
            expected = np.take(expected, [names[var].index(s) for s in net.states(var)], axis)
        # bnem divides distributions that sum to 1 only within 1e-6 by their sum
        # (TabularCPD); apply the same rule to pgmpy's values, then compare exactly
        sums = expected.sum(axis=-1, keepdims=True)
        assert np.abs(sums - 1).max() <= 1e-6
        if (np.abs(sums - 1) > 1e-12).any():
            expected = expected / sums
        np.testing.assert_array_equal(net.cpd(node).values, expected)


@pytest.mark.slow  # pgmpy's BIF reader takes over half a second even for the small files
@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_matches_pgmpy_on_every_example_file(path):
    net = read_bif(path)
    assert_same_as_pgmpy(net, pgmpy_model(gzip.decompress(path.read_bytes()).decode()))


def test_example_files_found():
    assert len(EXAMPLE_FILES) >= 20
    assert {"pathfinder.bif.gz", "munin.bif.gz", "asia.bif.gz"} <= {p.name for p in EXAMPLE_FILES}


@pytest.mark.parametrize("path", ROUND_TRIP_CASES)
def test_round_trip_every_example_file(path):
    net = read_bif(path)
    text = format_bif(net)
    back = read_bif(text)
    assert back == net
    assert back.name == net.name
    assert format_bif(back) == text


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_networks_read_and_equal_pgmpy_copies(name):
    net = read_bif(NETWORKS / f"{name}.bif")
    assert net == read_bif(EXAMPLES / f"{name}.bif.gz")
    assert len(net.nodes) >= 5


def test_shipped_network_list():
    assert sorted(p.stem for p in NETWORKS.glob("*.bif")) == SHIPPED


# -- syntax ------------------------------------------------------------------------
BASE = """\
network test {
  property author = "someone; really";
}
variable A {
  type discrete [ 3 ] { <5, 5-12, 12+ };
  property position = (10, 20);
}
variable "B b" {
  type discrete [ 2 ] { "Asy/Patch", Transp. };
}
variable C {
  type discrete [ 2 ] { yes, no };
}
probability ( A ) {
  table 0.2, 0.3, 0.5;
}
probability ( "B b" | A ) {
  // the child's distribution for each state of A
  default 0.5, 0.5;
  (<5) 0.1, 0.9; /* a block
  comment */
  (12+) 0.7, 0.3;
  property note = x;
}
probability ( C | "B b", A ) {
  table 0.1, 0.2, 0.3, 0.4, 0.5, 0.6,
        0.9, 0.8, 0.7, 0.6, 0.5, 0.4;
}
"""
C_TABLE = [[[0.1, 0.9], [0.2, 0.8], [0.3, 0.7]], [[0.4, 0.6], [0.5, 0.5], [0.6, 0.4]]]


def test_comments_properties_default_quotes_odd_states_and_table_order():
    net = read_bif(BASE)
    assert net.name == "test"
    assert net.nodes == ("A", "B b", "C")
    assert net.states("A") == ("<5", "5-12", "12+")
    assert net.states("B b") == ("Asy/Patch", "Transp.")
    assert net.parents("C") == ("B b", "A")
    np.testing.assert_array_equal(net.cpd("A").values, [0.2, 0.3, 0.5])
    np.testing.assert_array_equal(net.cpd("B b").values, [[0.1, 0.9], [0.5, 0.5], [0.7, 0.3]])
    np.testing.assert_array_equal(net.cpd("C").values, C_TABLE)


@pytest.mark.slow  # pgmpy's BIF reader
def test_table_with_parents_follows_pgmpy():
    text = ("variable a { type discrete [ 2 ] { a0, a1 }; }\n"
            "variable b { type discrete [ 3 ] { b0, b1, b2 }; }\n"
            "variable c { type discrete [ 2 ] { c0, c1 }; }\n"
            "probability ( a ) { table 0.3, 0.7; }\nprobability ( b ) { table 0.2, 0.3, 0.5; }\n"
            "probability ( c | a, b ) {\n"
            "  table 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4;\n}\n")
    net = read_bif(text)
    assert_same_as_pgmpy(net, pgmpy_model(text))
    np.testing.assert_array_equal(net.cpd("c").values, C_TABLE)


def test_old_style_header_whitespace_lists_and_blocks_in_any_order():
    text = ("probability ( w r s ) { (t y) 0.9 0.1; (t n) 0.8 0.2; default 0 1; }\n"
            "probability ( r ) { table 0.2 0.8; }  probability ( s ) { () 0.5 0.5; }\n"
            "variable w { type discrete [2] {wet dry}; } variable r { type discrete[2]{t f}; }\n"
            "variable s { type discrete [ 2 ] { y n }; }")
    net = read_bif(text)
    assert net.nodes == ("w", "r", "s")
    assert net.parents("w") == ("r", "s")
    np.testing.assert_array_equal(net.cpd("w").values,
                                  [[[0.9, 0.1], [0.8, 0.2]], [[0.0, 1.0], [0.0, 1.0]]])
    np.testing.assert_array_equal(net.cpd("s").values, [0.5, 0.5])


def test_windows_line_endings_read_the_same_and_keep_line_numbers():
    assert read_bif(BASE.replace("\n", "\r\n")) == read_bif(BASE)
    bad = BASE.replace("(12+)", "(13+)").replace("\n", "\r\n")
    with pytest.raises(BIFParseError, match=r":22:4: expected a state of 'A'"):
        read_bif(bad)


def test_sources_path_gzip_fileobj_bytes(tmp_path):
    expected = read_bif(BASE)
    plain = tmp_path / "net.bif"
    plain.write_text(BASE)
    packed = tmp_path / "net.bif.gz"
    packed.write_bytes(gzip.compress(BASE.encode()))
    unlabelled = tmp_path / "net.data"  # gzip recognised by magic bytes, not by name
    unlabelled.write_bytes(gzip.compress(BASE.encode()))
    for source in (plain, str(plain), packed, str(packed), unlabelled, BASE.encode(),
                   io.StringIO(BASE), io.BytesIO(gzip.compress(BASE.encode()))):
        assert read_bif(source) == expected
    with open(plain, "rb") as fh:
        assert read_bif(fh) == expected


def test_latin1_and_bom(tmp_path):
    text = BASE.replace("Transp.", "caf\u00e9")
    latin = tmp_path / "latin.bif"
    latin.write_bytes(text.encode("latin-1"))
    assert read_bif(latin).states("B b") == ("Asy/Patch", "caf\u00e9")
    bom = tmp_path / "bom.bif"
    bom.write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    assert read_bif(bom) == read_bif(BASE)


def test_unsupported_source_type():
    with pytest.raises(BnemTypeError, match="expects a path, a file object, BIF text or bytes"):
        read_bif(42)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.bif"):
        read_bif(tmp_path / "absent.bif")


# -- errors: (id, old, new, line, column, message) ---------------------------------
ERRORS = [
    ("missing-semicolon", "(<5) 0.1, 0.9;", "(<5) 0.1, 0.9", 22, 3,
     r"expected a number, ',' or ';', found '\('"),
    ("unknown-state", "(12+)", "(13+)", 22, 4,
     r"expected a state of 'A' \(parent of 'B b': \['<5', '5-12', '12\+'\]\), found '13\+'"),
    ("duplicate-configuration", "(12+)", "(<5)", 22, 3,
     r"configuration \(<5\) of 'B b' is listed twice \(first at line 20\)"),
    ("too-many-values", "(12+) 0.7, 0.3;", "(12+) 0.7, 0.3, 0.0;", 22, 19,
     r"expected 2 values \(one per state of 'B b'\), found 3"),
    ("too-few-values", "(12+) 0.7, 0.3;", "(12+) 0.7;", 22, 12,
     r"expected 2 values \(one per state of 'B b'\), found 1"),
    ("too-many-states", "(12+)", "(12+, <5)", 22, 9,
     r"expected 1 parent state\(s\) \(A\) in a configuration of 'B b', found 2"),
    ("table-too-short", ", 0.4;", ";", 27, 32,
     r"expected 12 values \(6 parent configurations x 2 states of 'C', the child's state "
     r"varying slowest\), found 11"),
    ("not-a-number", "table 0.2, 0.3, 0.5;", "table 0.2, x, 0.5;", 15, 14,
     r"expected a number, found 'x'"),
    ("negative", "(<5) 0.1, 0.9;", "(<5) -0.1, 1.1;", 20, 8,
     r"expected a finite probability >= 0, found '-0.1'"),
    ("not-normalised", "(<5) 0.1, 0.9;", "(<5) 0.1, 0.5;", 20, 3,
     r"the distribution of 'B b' given \(A=<5\) sums to 0.6, expected 1"),
    ("state-count", "[ 3 ]", "[ 4 ]", 5, 19, r"variable 'A' declares 4 states but lists 3"),
    ("duplicate-state", "{ yes, no }", "{ yes, yes }", 12, 30,
     r"variable 'C' lists state 'yes' twice"),
    ("not-discrete", "type discrete [ 2 ] { yes", "type continuous [ 2 ] { yes", 12, 8,
     r"expected 'discrete', found 'continuous'"),
    ("no-semicolon-after-states", "{ yes, no };", "{ yes, no }", 13, 1,
     r"expected ';' after the list of states, found '}'"),
    ("no-brace", "variable C {", "variable C", 12, 3,
     r"expected '\{' to open the block of variable 'C', found 'type'"),
    ("unknown-variable", '( C | "B b", A )', '( C | "B b", D )', 25, 26,
     r"unknown variable 'D' in a probability block; declared variables: 'A', 'B b', 'C'"),
    ("missing-block", "probability ( A ) {\n  table 0.2, 0.3, 0.5;\n}\n", "", 4, 10,
     r"variable 'A' has no probability block"),
    ("missing-configuration", "  default 0.5, 0.5;\n", "", 23, 1,
     r"expected an entry for configuration \(5-12\) of 'B b' or a 'default' entry, "
     r"found '}'; 1 of 3 parent configuration\(s\) have no distribution"),
    ("table-and-entries", "default 0.5, 0.5;", "table 0.5, 0.5, 0.5, 0.5, 0.5, 0.5;", 20, 3,
     r"found a per-configuration entry in the probability block of 'B b', which already "
     r"has a 'table'"),
    ("two-defaults", "default 0.5, 0.5;", "default 0.5, 0.5; default 0.5, 0.5;", 19, 21,
     r"found a 'default' entry .* which already has a 'default' entry"),
    ("unterminated-comment", "  comment */", "  comment", 20, 18,
     r"expected '\*/' closing this comment, found end of file"),
    ("wrong-case", '( C | "B b", A )', '( c | "B b", A )', 25, 15,
     r"unknown variable 'c' in a probability block \(names are case-sensitive: did you mean "
     r"'C'\?\)"),
    ("self-parent", '( C | "B b", A )', '( C | "B b", C )', 25, 26,
     r"the probability block of 'C' lists 'C' as its own parent"),
    ("repeated-parent", '( C | "B b", A )', '( C | A, A )', 25, 22,
     r"the probability block of 'C' lists 'A' twice"),
]
APPENDED = [
    ("garbage", "foo", 29, 1, r"expected 'network', 'variable' or 'probability', found 'foo'"),
    ("unterminated-quote", 'variable "x', 29, 10,
     r"expected '\"' closing this quoted name, found end of file"),
    ("second-block", "probability ( A ) { table 1, 0, 0; }", 29, 15,
     r"second probability block for 'A' \(the first is at line 14\)"),
    ("second-variable", "variable C { type discrete [ 1 ] { x }; }", 29, 10,
     r"variable 'C' is declared twice \(first at line 11\)"),
    ("second-network", "network again { }", 29, 1,
     r"second 'network' block \(the first is at line 1\)"),
    ("truncated", "variable D { type discrete", 29, 27,
     r"expected '\[' before the number of states, found end of file"),
]


def _check(text, line, column, message, source="<string>"):
    with pytest.raises(BIFParseError, match=rf"^{re.escape(source)}:{line}:{column}: {message}"):
        read_bif(text)
    try:
        read_bif(text)
    except BIFParseError as exc:
        assert (exc.line, exc.column) == (line, column)
        assert isinstance(exc, ValueError)


@pytest.mark.parametrize("old, new, line, column, message",
                         [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_malformed(old, new, line, column, message):
    assert old in BASE
    _check(BASE.replace(old, new, 1), line, column, message)


@pytest.mark.parametrize("extra, line, column, message",
                         [c[1:] for c in APPENDED], ids=[c[0] for c in APPENDED])
def test_malformed_appended(extra, line, column, message):
    _check(BASE + extra, line, column, message)


def test_error_names_the_file(tmp_path):
    path = tmp_path / "broken.bif.gz"
    path.write_bytes(gzip.compress(BASE.replace("(12+)", "(13+)").encode()))
    _check(path, 22, 4, r"expected a state of 'A'", source=str(path))


def test_cycle_is_reported():
    text = BASE.replace("probability ( A ) {\n  table", 'probability ( A | C ) {\n  default')
    with pytest.raises(CycleError, match="cycle"):
        read_bif(text)


def test_small_deviation_is_renormalised_with_a_warning():
    text = BASE.replace("(<5) 0.1, 0.9;", "(<5) 0.1, 0.8995;")
    with pytest.warns(BIFNormalizationWarning, match=r"1 node\(s\): \['B b'\]"):
        net = read_bif(text)
    np.testing.assert_allclose(net.cpd("B b").values[0], [0.1 / 0.9995, 0.8995 / 0.9995])
    np.testing.assert_array_equal(net.cpd("B b").values[1:], [[0.5, 0.5], [0.7, 0.3]])


def test_deviation_below_tolerance_is_normalised_silently():
    text = BASE.replace("(<5) 0.1, 0.9;", "(<5) 0.1, 0.9000003;")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net = read_bif(text)
    # within the 1e-6 tolerance: accepted without a warning, divided by its sum
    np.testing.assert_allclose(net.cpd("B b").values[0], [0.1 / 1.0000003, 0.9000003 / 1.0000003],
                               rtol=1e-15)


# -- writing -----------------------------------------------------------------------
def _odd_network():
    states = {"a b": ["<5", "12+", "x y", 'say "hi"'], "c\\d": ["//x", "/*y", "{z}", ""],
              "table": ["default", "property"]}
    rng = np.random.default_rng(0)
    cpds = {"a b": rng.dirichlet(np.ones(4)), "c\\d": rng.dirichlet(np.ones(4), size=4),
            "table": rng.dirichlet(np.ones(2), size=(4, 4))}
    return BayesianNetwork(states, {"c\\d": ["a b"], "table": ["c\\d", "a b"]}, cpds,
                           name="odd name")


def test_round_trip_quoted_names_and_random_floats():
    net = _odd_network()
    text = format_bif(net)
    assert '"a b"' in text and '"say \\"hi\\""' in text and "(<5, " not in text
    back = read_bif(text)
    assert back == net
    assert back.name == "odd name"


def test_write_targets(tmp_path):
    net = read_bif(BASE)
    for name in ("out.bif", "out.bif.gz"):
        write_bif(net, tmp_path / name)
        assert read_bif(tmp_path / name) == net
    assert (tmp_path / "out.bif.gz").read_bytes()[:2] == b"\x1f\x8b"
    text_buf, byte_buf = io.StringIO(), io.BytesIO()
    write_bif(net, text_buf)
    write_bif(net, byte_buf)
    assert text_buf.getvalue() == byte_buf.getvalue().decode() == format_bif(net)
    assert read_bif(io.StringIO(text_buf.getvalue())) == net


@pytest.mark.slow  # pgmpy's BIF reader
def test_written_text_is_readable_by_pgmpy():
    net = read_bif(NETWORKS / "child.bif")
    assert_same_as_pgmpy(net, pgmpy_model(format_bif(net)))


def test_write_rejects_bad_arguments(tmp_path):
    with pytest.raises(BnemTypeError, match="expects a BayesianNetwork"):
        format_bif("not a network")
    with pytest.raises(BnemTypeError, match="expects a path or a writable file object"):
        write_bif(read_bif(BASE), 42)

"""Data: matching values to states, latent columns, merging rows, CSV reading, errors."""

import io

import numpy as np
import pandas as pd
import pytest

import bnem
from bnem.data.encode import encode
from bnem.data.variables import Variable

VARS = [Variable("a", ("yes", "no")), Variable("n", ("1", "2", "3")),
        Variable("flag", ("true", "false")), Variable("h", ("u", "v"))]


def test_matching_rules_and_latent_columns():
    df = pd.DataFrame({
        "a": pd.Categorical(["yes", "no", None, "yes"]),
        "n": [1, 2.0, np.nan, 3],
        "flag": [True, False, True, True],
    })
    enc = encode(df, VARS, merge=False)
    np.testing.assert_array_equal(enc.codes, [[0, 0, 0, -1], [1, 1, 1, -1],
                                              [-1, -1, 0, -1], [0, 2, 0, -1]])
    assert enc.latent == ("h",)
    assert enc.columns == ("a", "n", "flag")


def test_all_missing_column_is_latent():
    df = pd.DataFrame({"a": ["yes", "no"], "h": [np.nan, np.nan]})
    assert encode(df, VARS).latent == ("n", "flag", "h")


def test_identical_rows_are_merged_with_weights():
    df = pd.DataFrame({"a": ["yes", "no", "yes", "yes", None]})
    enc = encode(df, VARS)
    assert enc.codes.shape[0] == 3
    assert sorted(enc.weights.tolist()) == [1.0, 1.0, 3.0]
    # every input row maps back to an identical distinct row
    np.testing.assert_array_equal(enc.codes[enc.inverse, 0], [0, 1, 0, 0, -1])


def test_unknown_state_names_column_value_count_and_states():
    df = pd.DataFrame({"a": ["yes", "maybe", "maybe", "no"]})
    with pytest.raises(bnem.DataError,
                       match=r"column 'a': value 'maybe' \(in 2 row\(s\), first row 1\) is not a state of node "
                             r"'a'; valid states: \['yes', 'no'\]"):
        encode(df, VARS)


def test_unknown_column_is_an_error():
    with pytest.raises(bnem.DataError, match=r"column\(s\) 'id' name no node"):
        encode(pd.DataFrame({"a": ["yes"], "id": [1]}), VARS)


@pytest.mark.parametrize("df, match", [
    (pd.DataFrame({"a": pd.Series([], dtype=object)}), "empty"),
    (pd.DataFrame(index=range(3)), "no columns"),
    (pd.DataFrame([["yes", "no"]], columns=["a", "a"]), "appear more than once"),
])
def test_bad_tables(df, match):
    with pytest.raises(bnem.DataError, match=match):
        encode(df, VARS)


def test_not_a_dataframe():
    with pytest.raises(TypeError, match="must be a pandas DataFrame, got list"):
        encode([["yes"]], VARS)


def test_read_table_markers(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,n\nyes,?\n,2\nNA,3\nno,\n")
    df = bnem.read_table(path)
    assert df["a"].isna().tolist() == [False, True, True, False]
    assert df["n"].isna().tolist() == [True, False, False, True]
    df2 = bnem.read_table(path, missing=["?"])
    assert df2["a"].tolist()[2] == "NA" and df2["n"].isna().sum() == 1


def test_read_table_keeps_markers_that_are_states(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("f,g\nNA,NA\nYes,?\n")
    with pytest.warns(UserWarning, match="column 'f': \\['NA'\\]"):
        df = bnem.read_table(path, states={"f": ["NA", "No", "Yes"], "g": ["x"]})
    assert df["f"].tolist() == ["NA", "Yes"]
    assert df["g"].isna().all()


def test_read_table_errors(tmp_path):
    with pytest.raises(bnem.DataError, match="does not exist"):
        bnem.read_table(tmp_path / "nope.csv")
    empty = tmp_path / "e.csv"
    empty.write_text("")
    with pytest.raises(bnem.DataError, match="is empty"):
        bnem.read_table(empty)


def test_read_table_from_file_object():
    df = bnem.read_table(io.StringIO("a\nyes\n?\n"))
    assert df["a"].isna().tolist() == [False, True]


def test_non_string_column_labels_match_node_names():
    vars_ = [Variable("1", ("a", "b")), Variable("2", ("a", "b"))]
    enc = encode(pd.DataFrame({1: ["a", "b"], 2: ["b", None]}), vars_, merge=False)
    np.testing.assert_array_equal(enc.codes, [[0, 1], [1, -1]])
    assert enc.latent == ()


def test_float_and_mixed_type_cells_match_states():
    net = bnem.BayesianNetwork({"x": [0.5, 1.0]})
    assert net.states("x") == ("0.5", "1")  # states normalised like data cells
    lp = net.log_prob(pd.DataFrame({"x": np.array([0.5, 1.0], dtype=np.float32)}))
    np.testing.assert_allclose(lp, np.log(0.5))
    v = [Variable("x", ("0", "1", "True", "False"))]
    mixed = pd.DataFrame({"x": pd.Series([1, True, 0, False], dtype=object)})
    np.testing.assert_array_equal(encode(mixed, v, merge=False).codes.ravel(), [1, 2, 0, 3])
    v2 = [Variable("x", ("1.0", "2.0"))]  # string state names that look like floats
    np.testing.assert_array_equal(encode(pd.DataFrame({"x": [2.0, 1.0]}), v2).codes.ravel(),
                                  [0, 1])


def test_read_table_rejects_shifted_rows_and_keeps_blank_cells(tmp_path):
    ragged = tmp_path / "r.csv"
    ragged.write_text("rain,wet\nyes,no,yes\nno,yes,no\n")
    with pytest.raises(bnem.DataError, match=r"line 2 has 3 field\(s\) but the header has 2"):
        bnem.read_table(ragged)
    one = tmp_path / "one.csv"
    one.write_text("rain\nyes\n\nno\n")
    assert bnem.read_table(one)["rain"].isna().tolist() == [False, True, False]
    dup = tmp_path / "dup.csv"
    dup.write_text("rain,rain\nyes,no\n")
    with pytest.raises(bnem.DataError, match=r"\['rain'\] appear more than once"):
        bnem.read_table(dup)
    with pytest.raises(bnem.DataError, match="is a directory"):
        bnem.read_table(tmp_path)


@pytest.mark.parametrize("kwargs, match", [
    ({"missing": 5}, "missing must be a sequence"),
    ({"sep": 5}, "sep must be a one-character string"),
    ({"states": ["a"]}, "states must be a mapping"),
])
def test_read_table_argument_types(tmp_path, kwargs, match):
    path = tmp_path / "d.csv"
    path.write_text("a\nyes\n")
    with pytest.raises(TypeError, match=match):
        bnem.read_table(path, **kwargs)
    with pytest.raises(TypeError, match="path must be a file path"):
        bnem.read_table(5)


def test_read_table_row_width_bom_and_blank_header():
    short = io.StringIO("a,b,c\nx,y\nx,y,z\n")
    with pytest.raises(bnem.DataError, match=r"line 2 has 2 field\(s\) but the header has 3"):
        bnem.read_table(short)
    with pytest.raises(bnem.DataError, match="line 1 is empty"):
        bnem.read_table(io.StringIO("\na,b\nx,y\n"))
    bom = bnem.read_table(io.StringIO("\ufeffa,b\n?,x\nNA,y\n"))
    assert list(bom.columns) == ["a", "b"] and bom["a"].isna().all()
    with pytest.raises(bnem.DataError, match="not UTF-8"):
        bnem.read_table(io.BytesIO("a\n\xe9\n".encode("latin-1")))


def test_float32_cells_match_decimal_states():
    net = bnem.BayesianNetwork({"x": ["0.1", "0.2"]})
    df = pd.DataFrame({"x": np.array([0.1, 0.2, 0.1], dtype=np.float32)})
    np.testing.assert_allclose(net.log_prob(df), np.log(0.5))


def test_numeric_continuous_columns_read_in_one_block_keep_values_and_checks():
    """Continuous columns already holding numbers (float32, int, uint, float) are read
    in one block, beside text and discrete columns: the same values as parsing them
    one by one, latent columns still latent, and an infinite or overflowing cell still
    refused, naming its column and row."""
    from bnem.data.variables import ContinuousVariable
    variables = [Variable("d", ["a", "b"]), ContinuousVariable("f"), ContinuousVariable("i"),
                 ContinuousVariable("u"), ContinuousVariable("t"), ContinuousVariable("h")]
    df = pd.DataFrame({"f": np.array([1.5, np.nan, -2.0], dtype=np.float32),
                       "d": ["a", "b", None], "i": [1, -2, 3],
                       "u": np.array([7, 8, 9], dtype=np.uint8), "t": ["0.5", " ", "2"],
                       "h": [np.nan] * 3}, index=[10, 11, 12])
    enc = encode(df, variables, merge=False)
    np.testing.assert_array_equal(enc.values, [[1.5, 1, 7, 0.5, np.nan],
                                               [np.nan, -2, 8, np.nan, np.nan],
                                               [-2, 3, 9, 2, np.nan]])
    assert enc.latent == ("h",)
    only = encode(df[["f", "i", "u"]], variables[1:4], merge=False)  # every column numeric
    np.testing.assert_array_equal(only.values, enc.values[:, :3])
    for bad, match in ((np.inf, r"column 'i': 1 infinite value\(s\) \(first in row 11\)"),
                       (1e300, r"column 'i': value 1e\+300 \(row 11; 1 such")):
        with pytest.raises(bnem.DataError, match=match):
            encode(df.assign(i=[1.0, bad, 3.0]), variables, merge=False)

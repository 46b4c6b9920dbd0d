"""Bounded fuzzing of the BIF reader: any text gives a network or bnem's own error, fast."""

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bnem

from conftest import NETWORKS

SEED_TEXT = (NETWORKS / "asia.bif").read_text()
PIECES = ["network", "variable", "probability", "type", "discrete", "table", "default",
          "property", "{", "}", "(", ")", "[", "]", ",", ";", "|", '"', "0.5", "1", "2",
          "-1", "1e309", "nan", "a", "b", "yes", "no", "\n", " ", "//", "/*", "*/", "²", "٣"]


def _read(text):
    start = time.perf_counter()
    try:
        bnem.read_bif(text + "\n")  # a newline: always read as text, never as a path
    except bnem.BnemError:
        pass
    assert time.perf_counter() - start < 1.0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES), max_size=80))
def test_token_soup(tokens):
    _read(" ".join(tokens))


@settings(max_examples=150, deadline=None)
@given(st.integers(0, len(SEED_TEXT) - 1), st.integers(0, 40), st.text(max_size=20))
def test_mutated_real_file(at, cut, insert):
    _read(SEED_TEXT[:at] + insert + SEED_TEXT[at + cut:])


@pytest.mark.parametrize("text", [SEED_TEXT.replace("0.5", "0.5" * 2000), "{" * 100_000,
                                  "network x { }\n" + "variable v {" * 5000])
def test_pathological_inputs_stay_fast(text):
    _read(text)

"""A pytest plugin recording the history and parameters of every ``bnem.fit`` call made
by each test, to compare two commits on the whole suite (see ``behaviour_lock.py``)::

    LOCK_OUT=old.json PYTHONPATH=OLD_TREE:benchmarks python -m pytest -p lock_plugin   # in OLD_TREE
    LOCK_OUT=new.json PYTHONPATH=benchmarks python -m pytest -p lock_plugin
    python benchmarks/behaviour_lock.py --compare-suite old.json new.json

Calls are matched by test id and their order within the test.
"""

from __future__ import annotations

import functools
import json
import os
import sys

import numpy as np

_current = {"id": None, "n": 0}
_records: list[dict] = []


def pytest_runtest_setup(item) -> None:  # noqa: ANN001 (pytest's hook)
    _current["id"], _current["n"] = item.nodeid, 0


def pytest_configure(config) -> None:  # noqa: ANN001
    import bnem.em.loop as loop
    original = loop.fit

    @functools.wraps(original)
    def recorded(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        res = original(*args, **kwargs)
        history = res.history.select_dtypes("number").drop(columns=["seconds"],
                                                             errors="ignore")
        _records.append({"test": _current["id"], "call": _current["n"],
                         "history": history.to_numpy().tolist(),
                         "theta": np.asarray(res.network.flat_params()).tolist()})
        _current["n"] += 1
        return res

    for name, module in list(sys.modules.items()):  # every module holding bnem's fit
        if name.startswith("bnem"):
            for attr, value in list(vars(module).items()):
                if value is original:
                    setattr(module, attr, recorded)


def pytest_unconfigure(config) -> None:  # noqa: ANN001
    with open(os.environ.get("LOCK_OUT", "lock.json"), "w") as handle:
        json.dump(_records, handle)

"""Time bnem.io.read_bif against pgmpy's BIFReader on a BIF file (default: pathfinder).

Both readers get the same decompressed text from memory, so file and gzip costs are
excluded. pgmpy's time is ``BIFReader(string=...).get_model()``; bnem's is
``read_bif(text)``, which returns a validated network. Best of ``--repeat`` runs.

Usage::

    python benchmarks/bench_bif_read.py [--network pathfinder] [--repeat 5]
"""

from __future__ import annotations

import argparse
import gzip
import importlib.resources
import time
from pathlib import Path


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="pathfinder",
                        help="name of a *.bif.gz in pgmpy's example_models, or a path")
    parser.add_argument("--repeat", type=int, default=5, help="bnem runs (best is kept)")
    parser.add_argument("--pgmpy-repeat", type=int, default=3, help="pgmpy runs")
    args = parser.parse_args(argv)

    from pgmpy.readwrite import BIFReader

    from bnem.io import read_bif

    path = Path(args.network)
    if not path.exists():
        examples = importlib.resources.files("pgmpy") / "utils" / "example_models"
        path = Path(str(examples / f"{args.network}.bif.gz"))
    data = path.read_bytes()
    text = (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode("utf-8")

    net = read_bif(text)  # warm up, and a sanity check against pgmpy
    model = BIFReader(string=text).get_model()
    assert set(model.nodes()) == set(net.nodes)

    t_bnem = best_of(args.repeat, lambda: read_bif(text))
    t_pgmpy = best_of(args.pgmpy_repeat, lambda: BIFReader(string=text).get_model())
    print(f"network: {path.name} ({len(text) / 1e6:.2f} MB, {len(net.nodes)} nodes, "
          f"{net.n_parameters} free parameters)")
    print(f"bnem.read_bif            : {t_bnem:8.3f} s (best of {args.repeat})")
    print(f"pgmpy BIFReader+get_model: {t_pgmpy:8.3f} s (best of {args.pgmpy_repeat})")
    print(f"ratio pgmpy / bnem       : {t_pgmpy / t_bnem:8.1f}x")


if __name__ == "__main__":
    main()

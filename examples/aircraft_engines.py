"""Anomalous aircraft engines: a combination of readings that no plant produces.
=============================================================================

Engines come from two plants. Plant A's engines vibrate little but run anywhere from
cool to hot; plant B's run cool but vibrate anywhere from little to a lot. Plotted as
vibration against heat, the engines make an L: two long, thin clusters meeting at the
corner of low vibration and low heat.

A two-component Gaussian mixture with full covariances is fitted by EM to the
training engines. A new engine then arrives with high vibration *and* high heat:
each reading on its own lies within the range seen in training (high, around the
95th percentile, but in the top 1% of neither), yet the combination sits in the empty
corner of the L. Scoring engines by the fitted density ``log p(vibration, heat)`` and
flagging those below the 1% quantile of the training scores catches it; a check of
each feature against its training range, or against its own 1% tails, does not.

A reading can also be missing: an engine with no heat reading is scored by the
marginal density of its vibration alone (the mixture integrates heat out), and is
compared with a threshold taken from the training engines scored the same way.

    python examples/aircraft_engines.py
    python examples/aircraft_engines.py --rows 2000 --plot engines.png --out scores.csv

The plot needs matplotlib (``pip install bnem[plot]``); without it the example
says so and carries on.
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np
import pandas as pd

import bnem

FEATURES = ["vibration", "heat"]          # mm/s RMS, degrees C above ambient
# Each plant: share of the fleet, mean (vibration, heat), covariance.
PLANTS = {
    "A": (0.55, [2.0, 70.0], [[0.16, 0.6], [0.6, 144.0]]),   # low vibration, heat 35-105
    "B": (0.45, [7.0, 45.0], [[2.9, 1.0], [1.0, 9.0]]),      # low heat, vibration 2-12
}
UNUSUAL = {"vibration": 9.0, "heat": 90.0}   # each reading seen before, the pair never
QUANTILE = 0.01


def simulate(rows: int, seed: int) -> pd.DataFrame:
    """``rows`` engines from the two plants, with the plant they came from."""
    rng = np.random.default_rng(seed)
    shares = np.array([p[0] for p in PLANTS.values()])
    plant = rng.choice(list(PLANTS), size=rows, p=shares)
    x = np.empty((rows, 2))
    for name, (_, mean, cov) in PLANTS.items():
        at = plant == name
        x[at] = rng.multivariate_normal(mean, cov, size=int(at.sum()))
    df = pd.DataFrame(x, columns=FEATURES)
    df["plant"] = plant
    return df


def percentile_in(train: pd.DataFrame, engine: dict) -> pd.DataFrame:
    """Where each reading of ``engine`` falls among the training engines."""
    rows = []
    for f in FEATURES:
        col = train[f].to_numpy()
        v = engine[f]
        rows.append({"feature": f, "value": v, "train_min": col.min(), "train_max": col.max(),
                     "percentile": 100.0 * (col < v).mean(),
                     "within_range": bool(col.min() <= v <= col.max())})
    return pd.DataFrame(rows).set_index("feature")


def plant_of_component(network) -> dict:
    """Component state -> plant, by the fitted means (plant A vibrates less)."""
    _, means, _ = bnem.mixture_parameters(network)
    order = np.argsort(means[:, 0])
    return {str(order[0]): "A", str(order[1]): "B"}


def run(rows: int = 5000, seed: int = 0, n_init: int = 3, plot: str | None = None,
        show: bool = False) -> dict:
    engines = simulate(rows, seed)
    train = engines[FEATURES]
    gm = bnem.gaussian_mixture(FEATURES, 2, covariance="full")
    res = bnem.fit(gm, train, seed=seed, n_init=n_init, max_iter=500, tol=1e-8)
    net = res.network
    weights, means, covs = bnem.mixture_parameters(net)
    plants = plant_of_component(net)

    # Training engines flagged at the 1% quantile of their own scores.
    train_flags = bnem.flag_anomalies(net, train, reference=train, quantile=QUANTILE)
    threshold = train_flags.attrs["threshold"]

    # New engines: a fresh batch from the same plants, the unusual one, and the
    # unusual one again with its heat sensor down.
    fresh = simulate(200, seed + 1)[FEATURES]
    new = pd.concat([fresh, pd.DataFrame([UNUSUAL, {"vibration": UNUSUAL["vibration"],
                                                    "heat": np.nan}])], ignore_index=True)
    new.index = [f"fresh-{i}" for i in range(len(fresh))] + ["unusual", "unusual, no heat"]
    complete = new.drop(index="unusual, no heat")
    flags = bnem.flag_anomalies(net, complete, threshold=threshold)

    # The engine with a missing reading is scored by the density of what was
    # observed; compare it with training engines scored on vibration alone.
    vibration_only = train.assign(heat=np.nan)
    missing_flag = bnem.flag_anomalies(net, new.loc[["unusual, no heat"]],
                                       reference=vibration_only, quantile=QUANTILE)
    posterior = net.posterior(new.loc[["unusual", "unusual, no heat"]], "component")
    posterior = posterior.rename(columns=lambda c: f"plant {plants[str(c)]}")

    out = {
        "rows": rows, "result": res, "history": res.history,
        "weights": weights, "means": means, "covariances": covs, "plants": plants,
        "threshold": threshold, "train_flagged": float(train_flags["anomaly"].mean()),
        "flags": flags, "unusual": flags.loc["unusual"],
        "fresh_flagged": float(flags["anomaly"].drop(index="unusual").mean()),
        "percentiles": percentile_in(train, UNUSUAL),
        "missing": missing_flag.loc["unusual, no heat"],
        "missing_threshold": missing_flag.attrs["threshold"],
        "posterior": posterior, "plot": None,
    }
    if plot is not None or show:
        out["plot"] = save_plot(net, train, train_flags, pd.DataFrame([UNUSUAL]), plot,
                                bool(out["unusual"]["anomaly"]), show)
    return out


def save_plot(net, train, train_flags, unusual, path, r_flag,
              show: bool = False) -> pathlib.Path | None:
    """Density contours, training engines, flagged engines, written to ``path`` (if
    given) and left open on pyplot's figures with ``show`` (the documentation's gallery
    shows it from there); ``None`` without matplotlib or without ``path``."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print("matplotlib is not installed (pip install bnem[plot]): no plot written")
        return None
    lo = np.minimum(train.min(), unusual.min()).to_numpy()
    hi = np.maximum(train.max(), unusual.max()).to_numpy()
    pad = 0.08 * (hi - lo)
    gx = np.linspace(lo[0] - pad[0], hi[0] + pad[0], 160)
    gy = np.linspace(lo[1] - pad[1], hi[1] + pad[1], 160)
    xx, yy = np.meshgrid(gx, gy)
    grid = pd.DataFrame({"vibration": xx.ravel(), "heat": yy.ravel()})
    zz = net.log_prob(grid).reshape(xx.shape)
    threshold = train_flags.attrs["threshold"]

    if show:
        import matplotlib.pyplot as plt
        fig = plt.figure(figsize=(7, 5.5))
    else:
        fig = Figure(figsize=(7, 5.5))
    ax = fig.add_subplot()
    levels = np.linspace(max(zz.min(), threshold - 8), zz.max(), 12)
    contours = ax.contourf(xx, yy, zz, levels=levels, cmap="Blues", extend="min")
    fig.colorbar(contours, ax=ax, label="log p(vibration, heat)")
    ax.contour(xx, yy, zz, levels=[threshold], colors="k", linewidths=1.2, linestyles="--")
    flagged = train_flags["anomaly"].to_numpy()
    ax.scatter(train.vibration[~flagged], train.heat[~flagged], s=4, c="0.35", alpha=0.5,
               label="training engines")
    ax.scatter(train.vibration[flagged], train.heat[flagged], s=18, c="orange",
               edgecolors="k", linewidths=0.4, label=f"flagged ({QUANTILE:.0%} of training)")
    ax.scatter(unusual.vibration, unusual.heat, s=180, marker="*", c="red", edgecolors="k",
               label="new engine" + (" (flagged)" if r_flag else " (not flagged)"), zorder=5)
    ax.set_xlabel("vibration (mm/s)")
    ax.set_ylabel("heat (°C above ambient)")
    ax.set_title("Two-plant engines: fitted mixture density; dashed = 1% threshold")
    ax.legend(loc="upper right", fontsize=8)
    if path is None:
        return None
    path = pathlib.Path(path)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def report(r: dict) -> None:
    res = r["result"]
    np.set_printoptions(precision=3, suppress=True)
    print(res.summary())
    for state, plant in sorted(r["plants"].items()):
        k = int(state)
        print(f"component {state} = plant {plant}: weight {r['weights'][k]:.3f}, "
              f"mean {r['means'][k]}, covariance\n{r['covariances'][k]}")
    print(f"\nthreshold (1% quantile of training log p): {r['threshold']:.3f}; "
          f"flagged {r['train_flagged']:.1%} of training, {r['fresh_flagged']:.1%} of 200 "
          "fresh engines")
    u = r["unusual"]
    print(f"unusual engine {UNUSUAL}: log p = {u['log_prob']:.2f} -> "
          f"{'FLAGGED' if u['anomaly'] else 'not flagged'}")
    print("each reading alone, among the training engines:")
    print(r["percentiles"].round(2).to_string())
    m = r["missing"]
    print(f"\nsame engine, heat missing: log p(vibration) = {m['log_prob']:.2f} against "
          f"{r['missing_threshold']:.2f} (training engines scored on vibration alone) -> "
          f"{'flagged' if m['anomaly'] else 'not flagged'}"
          f"{'' if m['anomaly'] else ': vibration alone is not unusual'}")
    print("P(plant | readings):")
    print(r["posterior"].round(4).to_string())
    if r["plot"] is not None:
        print(f"\nplot written to {r['plot']}")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=5000, help="training engines")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-init", type=int, default=3, help="EM restarts")
    parser.add_argument("--plot", help="write a PNG of the fitted density here")
    parser.add_argument("--show", action="store_true",
                        help="leave the plot open on pyplot's figures (plt.show() shows it)")
    parser.add_argument("--out", help="write the scores of the new engines to this CSV")
    args = parser.parse_args(argv)
    r = run(args.rows, args.seed, args.n_init, args.plot, args.show)
    if args.out:
        r["flags"].to_csv(args.out, index_label="engine")
    report(r)
    return r


if __name__ == "__main__":
    main()

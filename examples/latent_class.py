"""A latent-class model: a hidden cause whose column never appears in the data.
============================================================================

Five yes/no symptoms depend on one hidden condition with three classes. The data
hold only the symptoms (with a few cells missing as well); EM with restarts recovers
the class sizes and the symptom probabilities, up to a relabelling of the classes,
which ``match_labels`` undoes by trying every permutation.

    python examples/latent_class.py
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np

import bnem

SYMPTOMS = ["fever", "cough", "rash", "fatigue", "headache"]
CLASSES = ["c1", "c2", "c3"]


def true_network() -> bnem.BayesianNetwork:
    variables = {"condition": CLASSES, **{s: ["yes", "no"] for s in SYMPTOMS}}
    parents = {s: ["condition"] for s in SYMPTOMS}
    p_yes = np.array([[0.9, 0.8, 0.1, 0.7, 0.2],   # class c1
                      [0.1, 0.2, 0.9, 0.3, 0.1],   # class c2
                      [0.2, 0.1, 0.1, 0.9, 0.9]])  # class c3
    cpds = {"condition": [0.5, 0.3, 0.2]}
    for j, s in enumerate(SYMPTOMS):
        cpds[s] = np.stack([p_yes[:, j], 1 - p_yes[:, j]], axis=1)
    return bnem.BayesianNetwork(variables, parents, cpds, name="latent_class")


def match_labels(true_probs: np.ndarray, learned_probs: np.ndarray) -> tuple:
    """The permutation of learned classes closest to the true ones (L1 distance)."""
    k = true_probs.shape[0]
    return min(itertools.permutations(range(k)),
               key=lambda perm: np.abs(true_probs - learned_probs[list(perm)]).sum())


def symptom_matrix(net) -> np.ndarray:
    """P(symptom = yes | class), classes by rows."""
    return np.stack([net.cpd(s).values[:, 0] for s in SYMPTOMS], axis=1)


def main(rows: int = 5000, seed: int = 0, n_init: int = 5) -> dict:
    truth = true_network()
    data = truth.sample(rows, seed=seed, missing=0.05, hide=["condition"])
    res = bnem.fit(truth, data, n_init=n_init, seed=seed, max_iter=500, tol=1e-8)
    perm = list(match_labels(symptom_matrix(truth), symptom_matrix(res.network)))
    learned_sizes = res.network.cpd("condition").values[perm]
    learned_probs = symptom_matrix(res.network)[perm]
    posterior = res.network.posterior(data.head(5), "condition").iloc[:, perm]
    posterior.columns = CLASSES
    return {"result": res, "sizes": learned_sizes, "probs": learned_probs,
            "true_sizes": truth.cpd("condition").values, "true_probs": symptom_matrix(truth),
            "posterior_head": posterior}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-init", type=int, default=5)
    args = parser.parse_args()
    r = main(args.rows, args.seed, args.n_init)
    np.set_printoptions(precision=3, suppress=True)
    print(r["result"].summary())
    print("class sizes   true", r["true_sizes"], " learned", r["sizes"])
    print("P(symptom=yes | class), true:\n", r["true_probs"])
    print("learned (classes relabelled to match):\n", r["probs"])
    print("P(condition | row) for the first rows:\n", r["posterior_head"].round(3))

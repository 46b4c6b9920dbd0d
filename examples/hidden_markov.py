"""A hidden Markov model from sequences with gaps in the record.
==============================================================

A machine is either working normally or wearing, and its state changes rarely; an
hourly check reads "ok", "warn" or "alarm", and one reading in eight is missing. From
300 logs of different lengths, ``bnem.HiddenMarkovModel`` learns the transition and
emission probabilities by Baum-Welch (missing readings summed out), and Viterbi decodes
the most probable state path of each log. The learned probabilities and the share of
hours decoded correctly are compared with the truth the logs were drawn from.

    python examples/hidden_markov.py
    python examples/hidden_markov.py --logs 1000 --show
"""

from __future__ import annotations

import argparse

import numpy as np

import bnem

TRANSITIONS = np.array([[0.95, 0.05], [0.10, 0.90]])   # normal, wearing
EMISSIONS = np.array([[0.85, 0.12, 0.03], [0.20, 0.45, 0.35]])
READINGS = np.array(["ok", "warn", "alarm"], dtype=object)


def sample(logs: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X, states, lengths = [], [], []
    for _ in range(logs):
        n = int(rng.integers(10, 40))
        z = 0
        for _ in range(n):
            states.append(z)
            reading = READINGS[rng.choice(3, p=EMISSIONS[z])]
            X.append(reading if rng.random() > 1 / 8 else None)
            z = rng.choice(2, p=TRANSITIONS[z])
        lengths.append(n)
    return np.array(X, dtype=object)[:, None], np.array(states), np.array(lengths)


def main(logs: int = 300, seed: int = 0, show: bool = False) -> dict:
    X, truth, lengths = sample(logs, seed)
    hmm = bnem.HiddenMarkovModel(2, n_init=3, random_state=seed).fit(X, lengths=lengths)
    # name the learned states: the one that reads "ok" more often is "normal"
    ok = hmm.emissionprob_["x0"]["ok"].to_numpy()
    order = np.argsort(-ok)                  # learned state -> position (normal first)
    transmat = hmm.transmat_[np.ix_(order, order)]
    decoded = np.argsort(order)[hmm.predict(X, lengths=lengths)]
    result = {"hmm": hmm, "transmat": transmat,
              "emissions": hmm.emissionprob_["x0"].iloc[order][["ok", "warn", "alarm"]].to_numpy(),
              "accuracy": float(np.mean(decoded == truth)), "plot": None}
    np.set_printoptions(precision=3, suppress=True)
    print("transitions (normal, wearing), learned:\n", transmat, "\ndrawn with:\n", TRANSITIONS)
    print("emissions ok/warn/alarm, learned:\n", result["emissions"], "\ndrawn with:\n", EMISSIONS)
    print(f"hours decoded correctly by Viterbi: {result['accuracy']:.1%}")
    if show:
        import matplotlib.pyplot as plt
        first = lengths[0]
        post = hmm.predict_proba(X[:first])[:, order[1]]
        fig, ax = plt.subplots(figsize=(7, 3), layout="constrained")
        ax.plot(post, marker=".", label="P(wearing | log)")
        ax.step(range(first), truth[:first], where="mid", label="true state (1 = wearing)")
        ax.set_xlabel("hour")
        ax.legend(fontsize="small")
        result["plot"] = ax
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--logs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", action="store_true", help="plot the first log's posterior")
    args = parser.parse_args()
    main(args.logs, args.seed, args.show)

"""Diagnostic accuracy without a gold standard: shared and fixed parameters.
=========================================================================

Two clinicians rate every patient for a disease that is never observed directly; a lab
test of known sensitivity and specificity (from its validation study) is run on most
patients. The clinicians were trained together, so they are modelled with one shared
table of error rates. EM learns the prevalence and the clinicians' error rates with
the lab test's CPD held fixed, and the shared model (3 free parameters) is compared by
BIC with the model that frees everything (7 free parameters).

    python examples/raters.py
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

import bnem

PREVALENCE = 0.3
CLINICIAN = [[0.85, 0.15],   # P(rating | disease = no): specificity 0.85
             [0.20, 0.80]]   # P(rating | disease = yes): sensitivity 0.80
LAB = [[0.95, 0.05],         # known from the lab test's validation study
       [0.10, 0.90]]


def structure() -> bnem.BayesianNetwork:
    """The model as the analyst states it: the lab test's CPD known, the rest to learn."""
    return bnem.BayesianNetwork(
        {"disease": ["no", "yes"], "clinician1": ["neg", "pos"],
         "clinician2": ["neg", "pos"], "lab": ["neg", "pos"]},
        {"clinician1": ["disease"], "clinician2": ["disease"], "lab": ["disease"]},
        {"lab": LAB}, name="raters")


def main(rows: int = 3000, seed: int = 0, n_init: int = 5) -> dict:
    truth = structure().with_cpds({"disease": [1 - PREVALENCE, PREVALENCE],
                                   "clinician1": CLINICIAN, "clinician2": CLINICIAN})
    data = truth.sample(rows, seed=seed, missing=0.1, hide=["disease"])  # 10% cells missing

    shared_model = structure().share("clinician", ["clinician1", "clinician2"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bnem.DegenerateWarning)
        shared = bnem.fit(shared_model, data, fixed=["lab"], n_init=n_init, seed=seed)
        free = bnem.fit(structure(), data, n_init=n_init, seed=seed)
    net = shared.network
    errors = shared.standard_errors(data)
    out = {
        "result": shared, "free_result": free, "truth": truth,
        "prevalence": float(net.cpd("disease").values[1]),
        "clinician": net.cpd("clinician1").values, "clinician2": net.cpd("clinician2").values,
        "lab": net.cpd("lab").values,
        "n_parameters": (net.n_parameters, free.network.n_parameters),
        "bic": (bnem.bic(net, data), bnem.bic(free.network, data)),
        "standard_errors": errors,
    }
    print(f"{rows} patients, disease never observed, 10% of ratings missing")
    print(f"prevalence: {out['prevalence']:.3f} (true {PREVALENCE})")
    print("clinicians' shared P(rating | disease):\n", np.round(out["clinician"], 3))
    print(f"free parameters: shared model {out['n_parameters'][0]}, free model "
          f"{out['n_parameters'][1]}; BIC {out['bic'][0]:.1f} against {out['bic'][1]:.1f}")
    print(errors[errors.node != "clinician2"].round(4).to_string(index=False))
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rows", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    main(args.rows, args.seed)

"""How fast our BG/NBD + Gamma-Gamma fits are, next to the ``lifetimes`` package, on the same data.

Usage (from the repository root)::

    uv run python bench/clv.py --customers 1000000
    uv run python bench/clv.py --customers 100000 --skip-lifetimes

It simulates customers from a BG/NBD process with known parameters (transaction rate
lambda ~ Gamma(r, alpha), drop-out probability p ~ Beta(a, b) after each repeat purchase, ages
T in whole days over a two-year window, times in weeks rounded to whole days, as an
``rfm_summary`` would give) and a Gamma-Gamma spend process, then fits both models with
``models_ml.clv`` and with ``lifetimes.BetaGeoFitter`` / ``GammaGammaFitter`` (default
settings, one row per customer, as the package is normally used) and prints the seconds of
each, the speed-up, both parameter sets next to the true ones, and whether "ours >= 5x
faster" holds. For reference it also times lifetimes' BG/NBD on grouped rows with weights
(the grouping our fit does internally) and our predictions for every customer. Peak memory
is the process's VmHWM (it includes the simulated data and both libraries).

The machine's other work shows in the seconds: compare runs made at quiet times.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models_ml.clv import (  # noqa: E402
    customer_lifetime_value,
    expected_purchases,
    fit_bgnbd,
    fit_gamma_gamma,
    probability_alive,
)

TRUE_BGNBD = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
TRUE_GAMMA_GAMMA = {"p": 6.0, "q": 3.8, "v": 15.0}
WINDOW_DAYS = 730
TARGET_SPEED_UP = 5.0


def simulate(customers: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """frequency, recency, T (weeks, whole days) and monetary value of ``customers`` BG/NBD customers.

    With N ~ Poisson(lambda T) purchases of an always-alive customer in (0, T] and J ~
    Geometric(p) the repeat purchase after which they leave, the observed frequency is
    x = min(N, J) and the last purchase is the x-th of N uniform times on (0, T], whose
    position is T * Beta(x, N - x + 1).
    """
    rng = np.random.default_rng(seed)
    age_days = rng.integers(1, WINDOW_DAYS + 1, customers)
    age = age_days / 7.0
    rate = rng.gamma(TRUE_BGNBD["r"], 1.0 / TRUE_BGNBD["alpha"], customers)
    drop_out = rng.beta(TRUE_BGNBD["a"], TRUE_BGNBD["b"], customers)
    purchases = rng.poisson(rate * age)
    repeat_until = rng.geometric(drop_out)
    frequency = np.minimum(purchases, repeat_until)
    has_repeat = frequency > 0
    position = np.zeros(customers)
    position[has_repeat] = rng.beta(frequency[has_repeat], purchases[has_repeat] - frequency[has_repeat] + 1)
    # Whole days, as the summary of real transactions gives; never after the last observed day.
    recency = np.minimum(np.floor(position * age_days), age_days) / 7.0
    # Gamma-Gamma: nu ~ Gamma(q, v) per customer; the mean of x spends ~ Gamma(p x, nu x).
    nu = rng.gamma(TRUE_GAMMA_GAMMA["q"], 1.0 / TRUE_GAMMA_GAMMA["v"], customers)
    monetary = np.zeros(customers)
    shape = TRUE_GAMMA_GAMMA["p"] * frequency[has_repeat]
    monetary[has_repeat] = rng.gamma(shape, 1.0 / (nu[has_repeat] * frequency[has_repeat]))
    return frequency.astype(np.float64), recency, age, monetary


def peak_memory_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def timed(label: str, function, *args):  # noqa: ANN001, ANN201 - a bench helper
    start = time.perf_counter()
    result = function(*args)
    seconds = time.perf_counter() - start
    print(f"  {label:<34} {seconds:8.2f} s")
    return result, seconds


def fit_lifetimes(frequency: np.ndarray, recency: np.ndarray, age: np.ndarray, monetary: np.ndarray):  # noqa: ANN201
    # Only the fitters are imported: lifetimes.datasets needs pkg_resources, absent here.
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    bgf = BetaGeoFitter()
    _, bg_seconds = timed("lifetimes BetaGeoFitter", bgf.fit, pd.Series(frequency), pd.Series(recency), pd.Series(age))
    repeat = frequency > 0
    ggf = GammaGammaFitter()
    _, gg_seconds = timed(
        "lifetimes GammaGammaFitter", ggf.fit, pd.Series(frequency[repeat]), pd.Series(monetary[repeat])
    )
    return dict(bgf.params_), dict(ggf.params_), bg_seconds, gg_seconds


def fit_lifetimes_grouped(frequency: np.ndarray, recency: np.ndarray, age: np.ndarray) -> float:
    """lifetimes on distinct (frequency, recency, T) rows with weights, as ours groups them (for
    reference: part of our speed-up is that grouping, which lifetimes users can do by hand)."""
    import pandas as pd
    from lifetimes import BetaGeoFitter

    def grouped_fit() -> None:
        rows = (
            pd.DataFrame({"frequency": frequency, "recency": recency, "T": age})
            .groupby(["frequency", "recency", "T"])
            .size()
            .reset_index(name="weight")
        )
        BetaGeoFitter().fit(rows["frequency"], rows["recency"], rows["T"], weights=rows["weight"])

    return timed("lifetimes BetaGeoFitter, grouped", grouped_fit)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip-lifetimes", action="store_true", help="time only our fits")
    arguments = parser.parse_args()

    start = time.perf_counter()
    frequency, recency, age, monetary = simulate(arguments.customers, arguments.seed)
    print(
        f"simulated {arguments.customers:,} customers in {time.perf_counter() - start:.2f} s: "
        f"{int((frequency > 0).sum()):,} with repeat purchases, mean frequency {frequency.mean():.3f}, "
        f"{np.unique(np.stack([frequency, recency, age]), axis=1).shape[1]:,} distinct (frequency, recency, T)"
    )

    print("fits:")
    ours_bg, ours_bg_seconds = timed("ours fit_bgnbd", fit_bgnbd, frequency, recency, age)
    ours_gg, ours_gg_seconds = timed("ours fit_gamma_gamma", fit_gamma_gamma, frequency, monetary)
    ours_seconds = ours_bg_seconds + ours_gg_seconds

    theirs = None
    if not arguments.skip_lifetimes:
        # lifetimes predates numpy 2 and pandas 3; it runs, but its deprecation warnings would
        # drown the numbers.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = fit_lifetimes(frequency, recency, age, monetary)
            fit_lifetimes_grouped(frequency, recency, age)

    print("our predictions for every customer:")
    timed("p_alive", probability_alive, ours_bg, frequency, recency, age)
    timed("expected purchases, next 52 weeks", expected_purchases, ours_bg, 52.0, frequency, recency, age)
    timed(
        "CLV, 12 months at 1%/month",
        customer_lifetime_value,
        ours_bg,
        ours_gg,
        frequency,
        recency,
        age,
        monetary,
        12,
        0.01,
    )

    print("parameters:")
    rows = [("true", {**TRUE_BGNBD, **TRUE_GAMMA_GAMMA}), ("ours", {**ours_bg.as_dict(), **ours_gg.as_dict()})]
    if theirs is not None:
        rows.append(("lifetimes", {**theirs[0], **theirs[1]}))
    names = [*TRUE_BGNBD, *TRUE_GAMMA_GAMMA]
    print("  " + f"{'':<10}" + "".join(f"{name:>10}" for name in names))
    for label, values in rows:
        print("  " + f"{label:<10}" + "".join(f"{values[name]:>10.4f}" for name in names))
    print(
        f"  ours: BG/NBD log-likelihood {ours_bg.log_likelihood:,.2f}, converged {ours_bg.converged} "
        f"({ours_bg.iterations} iterations); Gamma-Gamma log-likelihood {ours_gg.log_likelihood:,.2f}, "
        f"converged {ours_gg.converged}"
    )

    print("summary:")
    print(f"  ours total           {ours_seconds:8.2f} s")
    if theirs is not None:
        theirs_seconds = theirs[2] + theirs[3]
        speed_up = theirs_seconds / ours_seconds
        print(f"  lifetimes total      {theirs_seconds:8.2f} s")
        print(
            f"  speed-up             {speed_up:8.1f}x  (BG/NBD {theirs[2] / ours_bg_seconds:.1f}x, "
            f"Gamma-Gamma {theirs[3] / ours_gg_seconds:.1f}x)"
        )
        met = "met" if speed_up >= TARGET_SPEED_UP else "NOT met"
        print(f"  ours >= {TARGET_SPEED_UP:.0f}x faster: {met}")
    print(f"  peak memory (VmHWM)  {peak_memory_mb():8.0f} MB")


if __name__ == "__main__":
    main()

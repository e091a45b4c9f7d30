"""Training versus scoring, the retrain policy, the publish verdict and the record of each run.

A night scores with the model trained earlier unless training is due (``RetrainPolicy``): by
default a model is retrained when the published one was trained on data more than a week older
than the analysis date, and the weekly training job retrains everything. A trained model that
does not beat its baseline on the backtest is recorded but not published: the previous scores
stay current, and the outcome says why. No Dagster here: the model assets call
:func:`run_model_step` and turn its :class:`ModelOutcome` into metadata.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import duckdb
import polars as pl

from dagster_project.core import model_inputs, model_store
from models_ml import training

if TYPE_CHECKING:
    from dagster_project.modelling.specs import ModelSpec

DEFAULT_MAX_MODEL_AGE_DAYS = 7


class Log(Protocol):
    def info(self, message: str) -> Any: ...
    def warning(self, message: str) -> Any: ...


@dataclass(frozen=True)
class RetrainPolicy:
    """When a model is trained anew rather than scored with the published one."""

    retrain: bool = False  # train even if the published model is recent (the weekly job sets it)
    max_model_age_days: int = DEFAULT_MAX_MODEL_AGE_DAYS  # retrain when the model saw data older than this


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def reason_to_train(
    policy: RetrainPolicy, published: dict | None, cutoff: datetime, model_family: str | None = None
) -> str | None:
    """Why this run trains a new model, or None to score with the published one."""
    if policy.retrain:
        return "retraining was requested"
    if published is None:
        return "no model has been published yet"
    if not published["artefact_path"] or not Path(published["artefact_path"]).exists():
        return f"the artefact of {published['model_version']} is missing"
    # A model of an older family may read other features than this code computes.
    if model_family is not None and f"-{model_family}-" not in published["model_version"]:
        return f"the published model {published['model_version']} is not of the current family {model_family}"
    age = cutoff - published["data_end"]
    if age > timedelta(days=policy.max_model_age_days):
        return (
            f"the published model {published['model_version']} saw data up to {published['data_end']:%Y-%m-%d}, "
            f"{age.days} days before this analysis date (max {policy.max_model_age_days})"
        )
    return None


@dataclass
class ModelOutcome:
    """What one model step did: trained (and maybe published) a model, or scored with the published one."""

    model_version: str
    trained: bool
    published: bool
    message: str
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    scores: dict[str, pl.DataFrame]
    artefact_path: str | None

    def summary(self) -> dict[str, object]:
        """The outcome as flat values (the assets' metadata, with the artefact path added as a path)."""
        summary: dict[str, object] = {
            "model_version": self.model_version,
            "trained_this_run": self.trained,
            "published": self.published,
            "outcome": self.message,
        }
        if self.scores:
            summary["dagster/row_count"] = sum(frame.height for frame in self.scores.values())
        summary.update({f"backtest_{name}": round(value, 4) for name, value in self.metrics.items()})
        summary.update({f"baseline_{name}": round(value, 4) for name, value in self.baseline_metrics.items()})
        return summary


def train_or_score(
    log: Log | logging.Logger,
    run_id: str | None,
    policy: RetrainPolicy,
    models_dir: Path,
    connection: duckdb.DuckDBPyConnection,
    model_name: str,
    cutoff: datetime,
    train: Callable[[datetime], training.TrainedModel],
    score: Callable[[object], dict[str, pl.DataFrame]],
    always_train: str | None = None,
    model_family: str | None = None,
) -> ModelOutcome:
    """Train when due (``always_train`` says why a model is trained every run; ``model_family``,
    when given, retrains over a published model of another family), then score and record."""
    now = now_utc()
    published = model_store.latest_run(connection, model_name, published_only=True)
    reason = always_train or reason_to_train(policy, published, cutoff, model_family)
    model = None
    if reason is None:
        assert published is not None
        model, reason = _load_published(published)
    if reason is None:
        assert published is not None
        return _score_with_published(log, connection, model_name, published, model, score, now)

    log.info(f"{model_name}: training, because {reason}")
    trained = _train_or_verdict(train, now, model_name, cutoff)
    run = trained.run
    run.run_id = run_id
    if trained.model is not None:
        model_store.save_artefact(models_dir, run, trained.model)
    scores = score(trained.model) if run.is_published else {}
    model_store.record_run(connection, run, scores=scores, scored_at=now, feature_importance=trained.feature_importance)
    if not run.is_published:
        log.warning(f"{model_name}: {run.verdict}")
    return ModelOutcome(
        model_version=run.model_version,
        trained=True,
        published=run.is_published,
        message=f"trained because {reason}; {run.verdict}",
        metrics=run.metrics,
        baseline_metrics=run.baseline_metrics,
        scores=scores,
        artefact_path=run.artefact_path,
    )


def _load_published(published: dict[str, Any]) -> tuple[object, str | None]:
    """(the published model, None), or (None, why it must be retrained): an artefact written by
    other code (a class moved, a file cut short) cannot be read."""
    try:
        return model_store.load_artefact(published["artefact_path"]), None
    except Exception as error:
        return None, f"the artefact of {published['model_version']} cannot be read ({type(error).__name__}: {error})"


def _score_with_published(
    log: Log | logging.Logger,
    connection: duckdb.DuckDBPyConnection,
    model_name: str,
    published: dict[str, Any],
    model: object,
    score: Callable[[object], dict[str, pl.DataFrame]],
    now: datetime,
) -> ModelOutcome:
    """Score with the published model and record the scores under its version."""
    log.info(f"{model_name}: scoring with the published model {published['model_version']}")
    scores = score(model)
    model_store.record_scores(connection, published["model_version"], scores, scored_at=now)
    return ModelOutcome(
        model_version=published["model_version"],
        trained=False,
        published=True,
        message=(
            f"scored with {published['model_version']} (trained {published['trained_at']:%Y-%m-%d %H:%M} UTC); "
            "no training due"
        ),
        metrics=published["metrics"],
        baseline_metrics=published["baseline_metrics"],
        scores=scores,
        artefact_path=published["artefact_path"],
    )


def _train_or_verdict(
    train: Callable[[datetime], training.TrainedModel], now: datetime, model_name: str, cutoff: datetime
) -> training.TrainedModel:
    """The trained model, or a run without one whose verdict says why it could not be trained.

    models_ml raises ValueError when the data cannot support the model (too little history, no
    purchases before the backtest cutoff, ...): that is a verdict, not a failed run."""
    try:
        return train(now)
    except ValueError as error:
        return training.TrainedModel(
            run=training.ModelRun(
                model_name=model_name,
                model_version=f"{model_name}-not-trained-{cutoff:%Y%m%d}",
                trained_at=now,
                data_end=cutoff,
                metrics={},
                baseline_metrics={},
                beats_baseline=False,
                verdict=f"not published: could not be trained on this data: {error}; the previous scores stay current",
            ),
            model=None,
        )


def run_model_step(
    log: Log | logging.Logger,
    run_id: str | None,
    policy: RetrainPolicy,
    models_dir: Path,
    connection: duckdb.DuckDBPyConnection,
    spec: ModelSpec,
) -> tuple[ModelOutcome, datetime]:
    """What every trained model does in a run: read its inputs and the analysis cutoff, then train
    or score.

    Training reads everything; a night that only scores reads what scoring at the cutoff needs
    (``spec.read_for_scoring``: a tenth of the events at a million customers)."""
    assert spec.read is not None and spec.train is not None and spec.score is not None
    read, train, score = spec.read, spec.train, spec.score
    cutoff = model_inputs.read_analysis_cutoff(connection)
    everything = None  # what training read, which scoring then reuses

    def training_inputs() -> Any:
        nonlocal everything
        everything = read(connection)
        return everything

    def scoring_inputs() -> Any:
        if everything is not None:
            return everything
        return spec.read_for_scoring(connection, cutoff) if spec.read_for_scoring else read(connection)

    outcome = train_or_score(
        log,
        run_id,
        policy,
        models_dir,
        connection,
        spec.model_name,
        cutoff,
        train=lambda now: train(training_inputs(), cutoff, now),
        score=lambda model: score(model, scoring_inputs(), cutoff),
        always_train=spec.always_train,
        model_family=spec.model_family,
    )
    return outcome, cutoff

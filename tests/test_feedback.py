"""Feedback analysis: sentiment and topic against the generator's labelled comment templates,
point-in-time customer features, and the link between sentiment and churn on generated data."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from dagster_project.synthetic.vocabulary import COMMENT_ENDINGS, COMMENTS
from models_ml import feedback
from models_ml.feedback import (
    FEATURE_COLUMNS,
    SCORED_COLUMNS,
    TOPICS,
    customer_feedback_features,
    score_distinct_texts,
    score_feedback,
    sentiment_label,
    support_feedback,
)
from tests.generated import export_time, generate_export_set, normalised_email, read_export_csvs

GENERATED = {"customers": 6000, "months": 24, "seed": 5, "end_date": date(2026, 6, 30)}


def template_comments() -> pl.DataFrame:
    """Every template with every ending of its sentiment, as the generator builds comments."""
    rows = [
        (topic, feeling, template + ending)
        for topic, by_feeling in COMMENTS.items()
        for feeling, templates in by_feeling.items()
        for template in templates
        for ending in COMMENT_ENDINGS[feeling]
    ]
    return pl.DataFrame(rows, schema=["true_topic", "true_sentiment", "text"], orient="row")


def feedback_frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "feedback_id": pl.String,
            "customer_id": pl.String,
            "source": pl.String,
            "text": pl.String,
            "occurred_at": pl.Datetime("us"),
            "ticket_category": pl.String,
        },
        orient="row",
    )


def test_sentiment_agrees_with_the_template_sentiment():
    comments = template_comments()
    scored = comments.join(score_distinct_texts(comments["text"]), on="text").with_columns(
        sentiment_label(pl.col("sentiment_score")).alias("label"),
        # The unadapted VADER, to show what the domain lexicon adds.
        sentiment_label(
            pl.col("text")
            .map_elements(
                SentimentIntensityAnalyzer().polarity_scores, return_dtype=pl.Struct({"compound": pl.Float64})
            )
            .struct.field("compound")
        ).alias("plain_vader_label"),
    )
    polar = scored.filter(pl.col("true_sentiment") != "neutral")
    accuracy = (polar["label"] == polar["true_sentiment"]).mean()
    plain_accuracy = (polar["plain_vader_label"] == polar["true_sentiment"]).mean()
    three_class = (scored["label"] == scored["true_sentiment"]).mean()
    print(
        f"\nsentiment on {polar.height} negative/positive template comments: {accuracy:.3f} "
        f"(plain VADER {plain_accuracy:.3f}); three classes on all {scored.height}: {three_class:.3f}"
    )
    assert accuracy >= 0.9
    # Never the opposite pole on a clearly positive comment.
    assert polar.filter((pl.col("true_sentiment") == "positive") & (pl.col("label") == "negative")).height == 0


def test_topic_agrees_with_the_template_topic():
    comments = template_comments()
    scored = comments.join(score_distinct_texts(comments["text"]), on="text")
    accuracy = (scored["topic_from_text"] == scored["true_topic"]).mean()
    print(f"\ntopic on {scored.height} template comments: {accuracy:.3f}")
    assert accuracy >= 0.9


def test_ticket_category_is_the_fallback_and_blank_text_has_no_sentiment():
    frame = feedback_frame(
        [
            ("S1", "C1", "survey", "The invoice was wrong, terrible.", datetime(2025, 1, 1), "delivery"),
            ("S2", "C1", "survey", "Great, thanks!", datetime(2025, 1, 2), "returns"),
            ("T1", "C1", "ticket", None, datetime(2025, 1, 3), "Billing"),
            ("T2", "C2", "ticket", "   ", datetime(2025, 1, 3), "warranty"),
            ("S3", "C2", "survey", "Okay I guess.", datetime(2025, 1, 4), None),
        ]
    )
    scored = score_feedback(frame)
    assert scored.columns == [*frame.columns, *SCORED_COLUMNS]
    assert scored["topic"].to_list() == ["billing", "returns", "billing", "other", "other"]
    assert scored["sentiment_label"].to_list() == ["negative", "positive", None, None, "positive"]
    assert scored["sentiment_score"].null_count() == 2
    assert set(scored["topic"]) <= set(TOPICS)
    # Works without the optional column too.
    assert score_feedback(frame.drop("ticket_category"))["topic"].to_list()[:3] == ["billing", "other", "other"]


def test_each_distinct_text_is_scored_once(monkeypatch: pytest.MonkeyPatch):
    calls: list[str] = []
    original = feedback.sentiment_score

    def counting(text: str) -> float:
        calls.append(text)
        return original(text)

    monkeypatch.setattr(feedback, "sentiment_score", counting)
    texts = ["Late again.", "Great service!", None, "Late again."] * 500
    frame = feedback_frame(
        [(f"F{i}", "C1", "survey", text, datetime(2025, 1, 1), None) for i, text in enumerate(texts)]
    )
    scored = score_feedback(frame)
    assert sorted(calls) == ["Great service!", "Late again."]
    assert scored.height == frame.height
    assert scored["feedback_id"].to_list() == frame["feedback_id"].to_list()  # row order kept


def test_worker_processes_give_the_same_scores(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(feedback, "PARALLEL_MIN_TEXTS", 10)
    texts = template_comments()["text"]
    parallel = score_distinct_texts(texts, processes=2)
    assert parallel.equals(score_distinct_texts(texts))


def test_customer_features_see_only_feedback_before_the_cutoff():
    cutoff = datetime(2025, 3, 1)
    frame = feedback_frame(
        [
            ("S1", "C1", "survey", "Parcel arrived late, terrible.", datetime(2025, 1, 1), None),
            ("S2", "C1", "survey", "Charged twice, awful.", datetime(2025, 2, 1), None),
            ("S3", "C1", "survey", "The package was damaged, never again.", datetime(2025, 2, 10), None),
            ("S4", "C1", "survey", "Great support, thanks!", datetime(2025, 2, 20), None),
            ("T1", "C1", "ticket", None, datetime(2025, 2, 25), "service"),
            # At and after the cutoff: must not count.
            ("S5", "C1", "survey", "Billing is a mess, awful.", cutoff, None),
            ("S6", "C1", "survey", "Billing is a mess, awful.", cutoff + timedelta(days=3), None),
            ("S7", "C2", "survey", "Wonderful, thanks!", datetime(2025, 1, 5), None),
            ("S8", "C3", "survey", "Terrible.", cutoff + timedelta(seconds=1), None),
        ]
    )
    scored = score_feedback(frame)
    features = customer_feedback_features(scored, cutoff)
    assert features.columns == ["customer_id", *FEATURE_COLUMNS]
    assert features["customer_id"].to_list() == ["C1", "C2"]  # C3's only feedback is after the cutoff
    c1 = features.row(0, named=True)
    assert c1["feedback_count"] == 5
    assert c1["scored_feedback_count"] == 4
    assert c1["negative_share"] == pytest.approx(0.75)
    assert c1["last_sentiment"] > 0.05  # the positive survey of Feb 20; the ticket has no text
    assert c1["days_since_last_negative"] == 19  # Feb 10 -> Mar 1
    # One negative each for delivery, billing, delivery: delivery has the most.
    assert c1["top_negative_topic"] == "delivery"
    c2 = features.row(1, named=True)
    assert c2["negative_share"] == 0.0
    assert c2["days_since_last_negative"] is None and c2["top_negative_topic"] is None

    # The point-in-time property: adding any amount of future feedback changes nothing.
    past_only = customer_feedback_features(scored.filter(pl.col("occurred_at") < cutoff), cutoff)
    assert features.equals(past_only)


# --- On generated exports ---------------------------------------------------------------------


def load_support(landing: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Tickets (customer resolved by id, or else by the requester's address when it belongs to
    exactly one customer) and surveys, typed, from the generated exports."""
    customers = read_export_csvs(landing / "sales" / "customers", "customer_id")
    by_email = (
        customers.filter(pl.col("email").is_not_null())
        .select(normalised_email("email").alias("email"), "customer_id")
        .filter(pl.len().over("email") == 1)
        .rename({"customer_id": "customer_by_email"})
    )
    tickets = (
        read_export_csvs(landing / "support" / "tickets", "ticket_id")
        .with_columns(normalised_email("requester_email").alias("email"))
        .join(by_email, on="email", how="left")
        .select(
            "ticket_id",
            pl.coalesce("customer_id", "customer_by_email").alias("customer_id"),
            export_time("created_at"),
            "category",
        )
    )
    surveys = read_export_csvs(landing / "support" / "satisfaction_surveys", "survey_id").select(
        "survey_id",
        "ticket_id",
        export_time("responded_at"),
        "comment",
    )
    return tickets, surveys


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_export_set(tmp_path_factory, "feedback_export", **GENERATED)


def test_comments_survive_the_csv_round_trip(generated: Path):
    _, surveys = load_support(generated / "landing")
    comments = surveys["comment"].drop_nulls()
    known = set(template_comments()["text"])
    assert comments.len() > 1000
    assert comments.is_in(list(known)).all()  # quotes and commas read back intact


def test_sentiment_agrees_with_the_survey_score(generated: Path):
    # The generator picks a comment's sentiment from the survey score: 1-2 negative, 3 neutral, 4-5 positive.
    surveys = read_export_csvs(generated / "landing" / "support" / "satisfaction_surveys", "survey_id").filter(
        pl.col("comment").is_not_null()
    )
    scored = surveys.join(
        score_distinct_texts(surveys["comment"]).rename({"text": "comment"}), on="comment", how="left"
    ).with_columns(
        sentiment_label(pl.col("sentiment_score")).alias("label"),
        pl.when(pl.col("score").cast(pl.Int64) <= 2)
        .then(pl.lit("negative"))
        .when(pl.col("score").cast(pl.Int64) == 3)
        .then(pl.lit("neutral"))
        .otherwise(pl.lit("positive"))
        .alias("from_score"),
    )
    polar = scored.filter(pl.col("from_score") != "neutral")
    accuracy = (polar["label"] == polar["from_score"]).mean()
    print(f"\nsentiment vs survey score on {polar.height} generated non-neutral comments: {accuracy:.3f}")
    assert accuracy >= 0.9


def test_churned_customers_leave_more_negative_feedback(generated: Path):
    tickets, surveys = load_support(generated / "landing")
    scored = score_feedback(support_feedback(tickets, surveys))
    end = datetime.combine(GENERATED["end_date"], datetime.min.time()) + timedelta(days=1)
    features = customer_feedback_features(scored, end).filter(pl.col("scored_feedback_count") > 0)
    truth = pl.read_csv(generated / "ground_truth" / "customers_truth.csv", infer_schema=False).select(
        "customer_id", (pl.col("is_churned") == "true").alias("is_churned")
    )
    compared = features.join(truth, on="customer_id", how="inner")
    by_group = {
        churned: group
        for (churned,), group in compared.group_by("is_churned")  # keys are tuples
    }
    churned, retained = by_group[True], by_group[False]
    print(
        f"\naverage sentiment: churned {churned['average_sentiment'].mean():.3f} ({churned.height} customers), "
        f"retained {retained['average_sentiment'].mean():.3f} ({retained.height}); negative share: churned "
        f"{churned['negative_share'].mean():.3f}, retained {retained['negative_share'].mean():.3f}"
    )
    assert churned.height > 100 and retained.height > 100
    assert churned["average_sentiment"].mean() < retained["average_sentiment"].mean() - 0.1
    assert churned["negative_share"].mean() > retained["negative_share"].mean()

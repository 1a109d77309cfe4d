"""Rule scorecards: hand-scored tiny histories, decay, caps, windows and config errors."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from leadq.cli import app
from leadq.data.load import load_frames
from leadq.rules.scorecard import AttributeRule, Band, Scorecard, Thresholds, attribute_points, route, score_examples

CUT = pd.Timestamp("2024-03-01", tz="UTC")


def data():
    leads = pd.DataFrame({
        "lead_id": ["a", "b", "c"],
        "created_at": ["2023-10-01"] * 3,
        "job_title": ["VP Sales", "Student", "Headhunter"],
        "company_size": [500, 200, None],
    })
    events = pd.DataFrame({
        "lead_id": ["a"] * 6 + ["b"] * 2,
        # Four distinct pricing views (identical rows would be dropped as duplicate deliveries).
        "ts": ["2024-02-29 09:00", "2024-02-29 10:00", "2024-02-29 11:00", "2024-02-29 12:00", "2024-01-01", "2024-03-01",
               "2024-01-01", "2024-02-20"],
        "event_type": ["pricing_view"] * 4 + ["webinar_attend", "demo_request",
                                              "careers_view", "unsubscribe"],
    })
    outcomes = pd.DataFrame({"lead_id": [], "stage": [], "reached_at": []})
    return load_frames(leads, events, outcomes, clock=pd.Timestamp("2025-01-01", tz="UTC"))


CARD = Scorecard.model_validate({
    "events": {"pricing_view": {"points": 10, "cap": 30}, "webinar_attend": {"points": 15},
               "demo_request": {"points": 30}, "careers_view": {"points": -15},
               "unsubscribe": {"points": -20, "window_days": 30}},
    "inactivity": {"days": 30, "points": -10},
    "attributes": [{"column": "job_title", "contains_any": ["vp", "head"], "points": 10},
                   {"column": "company_size", "above": 200, "points": 10}],
    "thresholds": {"mql": 40, "sql": 80},
})


def scored(card=CARD):
    keys = pd.DataFrame({"lead_id": ["a", "b", "c"], "cutoff": [CUT] * 3})
    return score_examples(data(), card, keys).set_index("lead_id")


def test_hand_scored_without_decay():
    keys = pd.DataFrame({"lead_id": ["a", "b", "c"], "cutoff": [CUT] * 3}, index=[7, 8, 9])
    out = score_examples(data(), CARD, keys)
    assert list(out.columns) == ["lead_id", "cutoff", "points", "rules_stage"] and list(out.index) == [0, 1, 2]
    assert out["points"].dtype.kind == "i"
    s = scored()
    # a: 4 pricing views = 40 capped at 30; webinar 15; demo at the cutoff not seen; VP +10; 500 > 200 +10
    assert s.loc["a", "points"] == 30 + 15 + 10 + 10
    assert s.loc["a", "rules_stage"] == "MQL"
    # b: careers -15; unsubscribe 10 days ago -20 (inside its 30-day window); 200 is not over 200
    assert s.loc["b", "points"] == -35
    # c: no events since creation 152 days ago: inactive -10; "Headhunter" is not the word "head"
    assert s.loc["c", "points"] == -10
    assert s.loc["c", "rules_stage"] == "nurture"


def test_decay_halves_points_per_half_life():
    card = CARD.model_copy(update={"decay_half_life_days": 60.0})
    s = scored(card)
    # pricing: 4 x 10 x 0.5**(1/60) = 39.54 -> capped 30; webinar 60 days old: 15 x 0.5 = 7.5
    assert s.loc["a", "points"] == round(30 + 7.5 + 20)
    # careers 60 days old: -7.5; unsubscribe 10 days old: -20 x 0.5**(10/60) = -17.82
    assert s.loc["b", "points"] == round(-7.5 - 20 * 0.5 ** (10 / 60))


def test_window_excludes_old_events():
    card = CARD.model_copy(update={"events": {"unsubscribe": CARD.events["unsubscribe"],
                                              "careers_view": CARD.events["careers_view"]}})
    card.events["unsubscribe"] = card.events["unsubscribe"].model_copy(update={"window_days": 5})
    assert scored(card).loc["b", "points"] == -15


@pytest.mark.parametrize("yaml_text, needle", [
    ("events: {page_view: {points: 2, capp: 5}}\nthresholds: {mql: 1, sql: 2}\n", "'events.page_view.capp'"),
    ("thresholds: {mql: 50, sql: 10}\n", "'thresholds'"),
    ("events: {}\n", "'thresholds'"),
    ("attributes: [{column: x, points: 3}]\nthresholds: {mql: 1, sql: 2}\n", "'attributes.0'"),
])
def test_malformed_scorecard_is_one_line_naming_the_key(tmp_path, yaml_text, needle):
    rules = tmp_path / "card.yaml"
    rules.write_text(yaml_text)
    result = CliRunner().invoke(app, ["rules", "score", "--rules", str(rules), "--data", str(tmp_path),
                                      "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "card.yaml" in lines[0], result.stderr


def test_rules_score_cli_matches_library(tmp_path):
    d = data()
    folder = tmp_path / "d"
    folder.mkdir()
    for table in ("leads", "events", "outcomes"):
        d.frame(table).to_parquet(folder / f"{table}.parquet")
    card = tmp_path / "card.yaml"
    import yaml

    card.write_text(yaml.safe_dump(CARD.model_dump(exclude_none=True)))
    out = tmp_path / "scores.csv"
    result = CliRunner().invoke(app, ["rules", "score", "--rules", str(card), "--data", str(folder),
                                      "--as-of", "2024-03-01", "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out).set_index("lead_id")
    assert table["points"].to_dict() == {"a": 65, "b": -35, "c": -10}
    assert table["stage"].to_dict() == {"a": "MQL", "b": "nurture", "c": "nurture"}


def test_negative_points_are_capped_at_minus_the_cap():
    leads = pd.DataFrame({"lead_id": ["n", "m"], "created_at": ["2024-01-01"] * 2})
    events = pd.DataFrame({
        "lead_id": ["n"] * 5 + ["m"],
        "ts": ["2024-02-01", "2024-02-02", "2024-02-03", "2024-02-10", "2024-02-11", "2024-02-12"],
        "event_type": ["careers_view"] * 3 + ["unsubscribe", "unsubscribe", "careers_view"],
    })
    data = load_frames(leads, events, pd.DataFrame({"lead_id": [], "stage": [], "reached_at": []}),
                       clock=pd.Timestamp("2025-01-01", tz="UTC"))
    card = Scorecard.model_validate({
        "events": {"careers_view": {"points": -10, "cap": 25}, "unsubscribe": {"points": -20, "cap": 100}},
        "thresholds": {"mql": 0, "sql": 10},
    })
    keys = pd.DataFrame({"lead_id": ["n", "m"], "cutoff": [CUT, CUT]})
    s = score_examples(data, card, keys).set_index("lead_id")
    # n: three careers views, -30, capped at -25; two unsubscribes, -40, under their cap
    assert s.loc["n", "points"] == -25 - 40 and s.loc["n", "rules_stage"] == "nurture"
    assert s.loc["m", "points"] == -10  # one careers view: under the cap


def test_attribute_points_by_hand():
    attributes = pd.DataFrame({
        "title": ["  VP of Sales", "student", None, "Head of IT"],
        "size": [500.0, 40.0, np.nan, 2000.0],
        "visits": ["12", "3", "x", "-4"],
    })
    rules = [
        AttributeRule(column="title", equals=["vp of sales", "CEO"], points=8),  # trimmed, any case
        AttributeRule(column="title", contains_any=["head", "vp"], points=5),  # whole words
        AttributeRule(column="size", below=50, points=-3),
        AttributeRule(column="size", above=1000, points=7),
        AttributeRule(column="visits", per_unit=2.5, cap=20),  # text numbers; unparseable: none
        AttributeRule(column="visits", per_unit=-1, cap=3),  # a negative rate is capped at -3
        AttributeRule(column="size", bands=[Band(max=100, points=1), Band(min=100, max=1000, points=2),
                                            Band(min=1000, points=4)]),
    ]
    points = attribute_points(attributes, rules)
    # nullable integers (a missing value earns nothing)
    nullable = pd.DataFrame({"size": pd.array([2000, None, 40], dtype="Int64")})
    np.testing.assert_array_equal(attribute_points(nullable, rules[2:4]), [7.0, 0.0, -3.0])
    # band edges: a band holds its lower edge, not its upper one; "below" is strict
    edges = attribute_points(pd.DataFrame({"size": [50.0, 100.0, 1000.0]}), rules[2:4] + rules[6:])
    np.testing.assert_array_equal(edges, [1.0, 2.0, 4.0])
    # VP: 8 + 5, size 500 band 2, visits 12: min(30, 20) and max(-12, -3)
    # student: size 40 is below 50 (-3) and in the first band (+1), visits 3: 7.5 and -3
    # None: nothing (missing values earn nothing); x is not a number
    # Head of IT: 5, size 2000 above 1000 (+7) and band 4, visits -4: -10 and +3 (capped at 3)
    np.testing.assert_allclose(points, [8 + 5 + 2 + 20 - 3, -3 + 1 + 7.5 - 3, 0.0, 5 + 7 + 4 - 10 + 3])


def test_route_at_the_thresholds():
    stages = route(np.array([9, 10, 39, 40, 80]), Thresholds(mql=10, sql=40))
    assert stages.tolist() == ["nurture", "MQL", "MQL", "SQL", "SQL"]


def test_inactivity_counts_from_creation_without_events():
    leads = pd.DataFrame({"lead_id": ["quiet", "recent"], "created_at": ["2024-01-30", "2024-01-01"]})
    events = pd.DataFrame({"lead_id": ["recent"], "ts": ["2024-02-20"], "event_type": ["page_view"]})
    data = load_frames(leads, events, pd.DataFrame({"lead_id": [], "stage": [], "reached_at": []}),
                       clock=pd.Timestamp("2025-01-01", tz="UTC"))
    card = Scorecard.model_validate({"inactivity": {"days": 30, "points": -10}, "thresholds": {"mql": 0, "sql": 1}})
    keys = pd.DataFrame({"lead_id": ["quiet", "recent", "quiet"],
                         "cutoff": [CUT, CUT, pd.Timestamp("2024-03-02", tz="UTC")]})
    s = score_examples(data, card, keys)
    # quiet: created 31 days before 2024-03-01 (inactive), exactly 32 days before 03-02; recent: 10 days
    assert s["points"].tolist() == [-10, 0, -10]
    edge = pd.DataFrame({"lead_id": ["quiet"], "cutoff": [pd.Timestamp("2024-02-29", tz="UTC")]})
    assert score_examples(data, card, edge)["points"].tolist() == [0]  # exactly 30 days: not over


def test_score_examples_takes_any_key_types_and_unknown_leads():
    leads = pd.DataFrame({"lead_id": ["42", "abc"], "created_at": ["2024-01-01"] * 2, "plan": ["pro", "free"]})
    events = pd.DataFrame({"lead_id": ["42"], "ts": ["2024-02-01"], "event_type": ["demo_request"]})
    data = load_frames(leads, events, pd.DataFrame({"lead_id": [], "stage": [], "reached_at": []}),
                       clock=pd.Timestamp("2025-01-01", tz="UTC"))
    card = Scorecard.model_validate({"events": {"demo_request": {"points": 30}},
                                     "attributes": [{"column": "plan", "equals": ["pro"], "points": 5}],
                                     "thresholds": {"mql": 10, "sql": 30}})
    # ids as numbers and cutoffs as text with mixed offsets (one instant), as a CSV of examples
    # reads; an id no lead has
    keys = pd.DataFrame({"lead_id": [42, "nobody", "abc"],
                         "cutoff": ["2024-03-01T00:00:00+00:00", "2024-03-01T01:00:00+01:00", "2024-02-29T19:00:00-05:00"]})
    out = score_examples(data, card, keys)
    assert out["points"].tolist() == [35, 0, 0] and out["rules_stage"].tolist() == ["SQL", "nurture", "nurture"]


def test_a_scorecard_column_the_leads_lack_is_one_line(tmp_path):
    from leadq.core.errors import BadInputError

    card = Scorecard.model_validate({"attributes": [{"column": "seniority", "equals": ["vp"], "points": 5}],
                                     "thresholds": {"mql": 1, "sql": 2}})
    keys = pd.DataFrame({"lead_id": ["a"], "cutoff": [CUT]})
    with pytest.raises(BadInputError) as caught:
        score_examples(data(), card, keys)
    assert caught.value.message == "<leads frame>: column 'seniority' used by the scorecard is missing (3 rows)"
    with pytest.raises(BadInputError, match=r"^scorecard: attribute rule column 'seniority' is not in the data \(3 rows\)$"):
        attribute_points(pd.DataFrame({"title": ["a", "b", "c"]}), card.attributes)


def test_score_leads_scores_the_open_leads_as_of_the_cutoff():
    from leadq.rules.scorecard import score_leads

    table = score_leads(data(), CARD, "2024-03-01")
    assert list(table.columns) == ["lead_id", "points", "stage", "as_of"]
    assert table["points"].tolist() == [65, -35, -10] and table["stage"].tolist() == ["MQL", "nurture", "nurture"]
    assert set(table["as_of"]) == {"2024-03-01T00:00:00+00:00"}


def test_a_number_attribute_that_is_not_finite_earns_no_points():
    # "inf" is no finite value: missing, as the features take it (one value in 100 leaves the
    # column a number attribute)
    leads = pd.DataFrame({"lead_id": ["a", "b", "c", *[f"x{i}" for i in range(97)]],
                          "created_at": ["2024-01-01"] * 100, "employees": ["300", "inf", " 150 ", *["50"] * 97]})
    data = load_frames(leads, pd.DataFrame({"lead_id": [], "ts": [], "event_type": []}),
                       pd.DataFrame({"lead_id": [], "stage": [], "reached_at": []}),
                       clock=pd.Timestamp("2025-01-01", tz="UTC"))
    assert data.numeric_attributes == ["employees"]
    card = Scorecard.model_validate({"attributes": [{"column": "employees", "above": 200, "points": 10}],
                                     "thresholds": {"mql": 10, "sql": 30}})
    keys = pd.DataFrame({"lead_id": ["a", "b", "c"], "cutoff": [CUT] * 3})
    assert score_examples(data, card, keys)["points"].tolist() == [10, 0, 0]

"""Learned scorecard: integer points fitted from data, in the hand-made scorecard's own format.

For teams who must keep points, `leadq rules learn` fits a sparse (L1) logistic regression on
the TRAINING window's snapshot examples, using only inputs a `leadq.rules.scorecard.Scorecard` can
express, so the fitted model *is* a scorecard:

- per event type, the decayed count of its events before the cutoff (half-life of the
  reference scorecard, default 60 days), capped at the 95th percentile of the training
  window's non-zero counts (rounded up to whole events): an `EventPoints` with `points` per
  event and `cap` = points x capped count;
- inactivity (no event for the reference scorecard's `inactivity.days`, default 30): an
  `Inactivity` rule;
- attributes: per categorical column with few levels, one `equals` rule per frequent level;
  with many levels (job titles), one `contains_any` rule per frequent word; per numeric column,
  `bands` cut at rounded quantiles of the training leads.

Monotone where the sign is obvious: engagement event types must not lower the score, and
`unsubscribe`, `careers_view` and inactivity must not raise it. Inputs fitted with the wrong
sign are dropped and the model refitted until none is left. The L1 strength is chosen on the
validation window: the sparsest fit whose validation log loss is within 0.5 % of the best.
Weights (per event, per indicator) are scaled so the largest is `max_points` points (30) and
rounded to whole points; inputs rounding to 0 points are left out. The MQL and SQL thresholds
are then chosen on the validation window's scorecard points by the config's
`candidates.threshold_rule` (max F1, or max expected value), the same rule the model's own
thresholds use. Test labels are never read.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score

from leadq.config import PipelineConfig
from leadq.core.errors import BadInputError
from leadq.features.examples import label_examples, snapshot_cutoffs
from leadq.features.sql import US_PER_DAY
from leadq.data.load import LoadedData
from leadq.rules.scorecard import (
    AttributeRule,
    Band,
    EventPoints,
    Inactivity,
    Scorecard,
    Thresholds,
    attribute_points,
    score_examples,
)
from leadq.features.split import CutoffSplit, split_examples
from leadq.models.train import choose_threshold

NEGATIVE_EVENT_TYPES = ("unsubscribe", "careers_view")
DEFAULT_HALF_LIFE_DAYS = 60.0
DEFAULT_INACTIVITY_DAYS = 30.0
C_GRID = (0.0005, 0.001, 0.003, 0.01, 0.03, 0.1, 1.0)
LOG_LOSS_TOLERANCE = 0.005
CAP_QUANTILE = 0.95
MAX_LEVELS_FOR_EQUALS = 15
MAX_RULES_PER_COLUMN = 12
NUMERIC_BAND_QUANTILES = (0.25, 0.5, 0.75, 0.9)
STOP_WORDS = frozenset({"of", "and", "the", "for", "in", "to", "at", "on", "a", "an", "de"})


@dataclass(frozen=True)
class RuleInput:
    """One input column of the fit and the scorecard rule it becomes.

    `kind` is 'event' (decayed count of `key`, capped at `cap_count`), 'inactivity', 'equals',
    'contains' or 'band'; `sign` is +1 / -1 when the coefficient is constrained, else 0.
    """

    name: str
    kind: str
    key: str
    sign: int = 0
    cap_count: float | None = None
    value: str | None = None
    low: float | None = None
    high: float | None = None


@dataclass
class LearnedScorecard:
    """The fitted scorecard with how it was made and how well it ranks on validation."""

    scorecard: Scorecard
    target: str
    weights: pd.DataFrame
    C: float
    dropped_wrong_sign: list[str]
    validation: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)

    def to_yaml(self) -> str:
        """The scorecard as YAML in the `leadq.rules.scorecard.Scorecard` format, with a short header."""
        import yaml

        doc = _whole_numbers(self.scorecard.model_dump(mode="json", exclude_none=True))
        header = (
            f"# Learned scorecard: L1 logistic regression (C={self.C:g}) for '{self.target}' on the\n"
            f"# training window ({self.rows.get('train', 0)} snapshot examples), rounded to whole points;\n"
            f"# thresholds chosen on the validation window. Written by `leadq rules learn`.\n"
        )
        return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def _whole_numbers(value):
    """Floats that are whole numbers written as ints (points read as 10, not 10.0)."""
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def label_windows(data: LoadedData, config: PipelineConfig) -> tuple[pd.DataFrame, CutoffSplit]:
    """The training run's labelled snapshot examples with a `window` column, and the split.

    Rebuilds exactly what `leadq.models.train.run_training` used: the same cutoffs
    (`snapshot_cutoffs`), the same seeded `leads_per_cutoff` sample and the same time split of
    the examples' cutoffs. Rows dropped in a gap between windows are left out.
    """
    snapshots = config.snapshots
    cutoffs = snapshot_cutoffs(
        data, snapshots.cadence_days, config.horizon_days, start=snapshots.start, end=snapshots.end
    )
    labelled = label_examples(
        data, cutoffs, config.targets, config.horizon_days, snapshots.leads_per_cutoff, config.seed
    )
    if labelled.empty:
        raise BadInputError("no snapshot examples: the history has no leads at the cutoffs")
    labelled, window, split = split_examples(
        labelled, (config.split.train, config.split.validation, config.split.test),
        gap_days=config.gap_days(), horizon_days=config.horizon_days,
    )
    labelled["window"] = window.to_numpy()
    labelled = labelled[labelled["window"].notna()].reset_index(drop=True)
    return labelled, split


def _event_counts(data: LoadedData, examples: pd.DataFrame, event_types: list[str],
                  half_life_days: float | None) -> pd.DataFrame:
    """Decayed event counts per type before each example's cutoff (the scorecard's definition)."""
    keys = examples[["lead_id", "cutoff"]].reset_index(drop=True).copy()
    keys["lead_id"] = keys["lead_id"].astype(str)
    keys["cutoff"] = pd.to_datetime(keys["cutoff"], utc=True)
    keys.insert(0, "ex_id", np.arange(len(keys)))
    half_life_us = (half_life_days or 0) * US_PER_DAY
    decay = f"pow(0.5, (x.cut_us - epoch_us(e.ts)) / {half_life_us})" if half_life_us else "1.0"
    con = data.con
    con.register("learn_keys", keys)
    con.register("learn_types", pd.DataFrame({"event_type": list(event_types)}))
    frame = con.execute(
        f"""
        WITH x AS (SELECT k.ex_id, l.lead_key, epoch_us(k.cutoff) AS cut_us
                   FROM learn_keys k JOIN leads l ON l.lead_id = k.lead_id)
        SELECT x.ex_id, e.event_type, sum({decay}) AS n
        FROM x JOIN events e ON e.lead_key = x.lead_key AND epoch_us(e.ts) < x.cut_us
        JOIN learn_types t ON t.event_type = e.event_type
        GROUP BY x.ex_id, e.event_type
        """
    ).df()
    con.unregister("learn_keys")
    con.unregister("learn_types")
    wide = frame.pivot(index="ex_id", columns="event_type", values="n")
    return wide.reindex(index=np.arange(len(keys)), columns=list(event_types)).fillna(0.0)


def _idle_flags(data: LoadedData, examples: pd.DataFrame, days: float) -> np.ndarray:
    """1.0 where the scorecard's inactivity rule fires (exactly `leadq.rules.scorecard`' definition)."""
    from leadq.rules.scorecard import inactivity_points  # the same definition the scorecard scores with

    card = Scorecard(inactivity=Inactivity(days=days, points=1.0), thresholds=Thresholds(mql=0, sql=0))
    keys = examples[["lead_id", "cutoff"]].reset_index(drop=True).copy()
    keys["lead_id"] = keys["lead_id"].astype(str)
    keys["cutoff"] = pd.to_datetime(keys["cutoff"], utc=True)
    keys.insert(0, "ex_id", np.arange(len(keys)))
    return inactivity_points(data, card, keys)


def _nice(value: float) -> float:
    """A band edge rounded to two significant digits (readable in YAML)."""
    if value == 0 or not math.isfinite(value):
        return float(value)
    digits = 1 - int(math.floor(math.log10(abs(value))))
    return float(round(value, digits))


def _normalise(values: pd.Series) -> pd.Series:
    return values.astype("string").str.strip().str.lower()


def _attribute_inputs(attributes: pd.DataFrame, numeric: list[str], categorical: list[str],
                      min_frequency: int) -> list[RuleInput]:
    """Candidate attribute rules from the training examples' lead attributes."""
    inputs: list[RuleInput] = []
    for column in categorical:
        text = _normalise(attributes[column]).dropna()
        text = text[text != ""]
        counts = text.value_counts()
        if len(counts) <= MAX_LEVELS_FOR_EQUALS:
            for level, n in counts.head(MAX_RULES_PER_COLUMN).items():
                if n >= min_frequency and n < len(attributes):
                    original = attributes[column][_normalise(attributes[column]) == level].iloc[0]
                    inputs.append(RuleInput(f"{column} = {original}", "equals", column,
                                            value=str(original).strip()))
        else:
            words = text.str.findall(r"[a-z][a-z0-9]+").explode().dropna()
            words = words[~words.isin(STOP_WORDS)]
            word_leads = words.groupby(level=0).unique().explode().value_counts()
            for word, n in word_leads.head(MAX_RULES_PER_COLUMN).items():
                if n >= min_frequency and n < len(attributes):
                    inputs.append(RuleInput(f"{column} has '{word}'", "contains", column, value=word))
    for column in numeric:
        number = pd.to_numeric(attributes[column], errors="coerce").dropna()
        if number.nunique() < 2:
            continue
        edges = sorted({_nice(q) for q in number.quantile(NUMERIC_BAND_QUANTILES)})
        bounds = [None, *edges, None]
        for low, high in zip(bounds[:-1], bounds[1:]):
            lo = -np.inf if low is None else low
            hi = np.inf if high is None else high
            n = int(((number >= lo) & (number < hi)).sum())
            if n >= min_frequency and n < len(attributes):
                inputs.append(RuleInput(f"{column} in [{low}, {high})", "band", column,
                                        low=low, high=high))
    return inputs


def _attribute_rule(item: RuleInput, points: float) -> AttributeRule:
    if item.kind == "equals":
        return AttributeRule(column=item.key, equals=[item.value], points=points)
    if item.kind == "contains":
        return AttributeRule(column=item.key, contains_any=[item.value], points=points)
    return AttributeRule(column=item.key, bands=[Band(min=item.low, max=item.high, points=points)])


def design_matrix(data: LoadedData, examples: pd.DataFrame, inputs: list[RuleInput],
                  half_life_days: float | None) -> np.ndarray:
    """The fit's input matrix (rows: `examples`, columns: `inputs`), computed with the
    scorecard's own definitions, so points x columns is what `score_examples` adds up."""
    columns = np.zeros((len(examples), len(inputs)))
    event_types = [i.key for i in inputs if i.kind == "event"]
    counts = _event_counts(data, examples, event_types, half_life_days) if event_types else None
    needed = sorted({i.key for i in inputs if i.kind in ("equals", "contains", "band")})
    attrs = None
    if needed:
        leads = data.frame("leads")[["lead_id", *needed]]
        attrs = examples[["lead_id"]].astype({"lead_id": str}).merge(leads, on="lead_id", how="left")
    for j, item in enumerate(inputs):
        if item.kind == "event":
            columns[:, j] = np.minimum(counts[item.key].to_numpy(dtype=float), item.cap_count)
        elif item.kind == "inactivity":
            columns[:, j] = _idle_flags(data, examples, float(item.key))
        else:
            columns[:, j] = attribute_points(attrs, [_attribute_rule(item, 1.0)])
    return columns


def candidate_inputs(data: LoadedData, train_examples: pd.DataFrame, config: PipelineConfig,
                     reference: Scorecard | None = None) -> tuple[list[RuleInput], float | None]:
    """The inputs the scorecard format can express, and the decay half-life used for events.

    Event types: those with at least `candidates.min_category_frequency` events in the data.
    Attribute columns: the data's attribute columns minus `features.exclude_features` (or the
    config's explicit attribute lists when given).
    """
    min_frequency = config.candidates.min_category_frequency
    half_life = (reference.decay_half_life_days if reference is not None
                 and reference.decay_half_life_days else DEFAULT_HALF_LIFE_DAYS)
    idle_days = (reference.inactivity.days if reference is not None and reference.inactivity
                 else DEFAULT_INACTIVITY_DAYS)
    types = data.con.execute(
        "SELECT event_type, count(*) AS n FROM events GROUP BY event_type ORDER BY n DESC, event_type"
    ).df()
    event_types = [t for t, n in zip(types["event_type"], types["n"]) if n >= min_frequency]
    inputs: list[RuleInput] = []
    if event_types:
        counts = _event_counts(data, train_examples, event_types, half_life)
        for name in event_types:
            positive = counts[name][counts[name] > 0]
            if len(positive) < min_frequency:
                continue
            cap = float(max(1.0, math.ceil(positive.quantile(CAP_QUANTILE))))
            sign = -1 if name in NEGATIVE_EVENT_TYPES else 1
            inputs.append(RuleInput(f"{name} events", "event", name, sign=sign, cap_count=cap))
        inputs.append(RuleInput(f"no activity for {idle_days:g} days", "inactivity",
                                str(idle_days), sign=-1))
    spec = config.features
    excluded = set(spec.exclude_features)
    if spec.numeric_attributes or spec.categorical_attributes:
        numeric, categorical = list(spec.numeric_attributes), list(spec.categorical_attributes)
    else:
        numeric = [c for c in data.numeric_attributes if c not in excluded]
        categorical = [c for c in data.categorical_attributes if c not in excluded]
    if numeric or categorical:
        leads = data.frame("leads")[["lead_id", *numeric, *categorical]]
        attrs = train_examples[["lead_id"]].astype({"lead_id": str}).merge(leads, on="lead_id", how="left")
        inputs += _attribute_inputs(attrs, numeric, categorical, min_frequency)
    return inputs, half_life


def _fit_l1(X: np.ndarray, y: np.ndarray, signs: np.ndarray, C: float, seed: int
            ) -> tuple[np.ndarray, float, list[int]]:
    """L1 logistic fit on standardised columns, dropping wrongly signed constrained columns
    and refitting until none is left. Returns (coefficients per raw unit, intercept, dropped)."""
    scale = X.std(axis=0)
    active = np.flatnonzero(scale > 0)
    dropped: list[int] = []
    coef = np.zeros(X.shape[1])
    intercept = float(np.log(max(y.mean(), 1e-9) / max(1 - y.mean(), 1e-9)))
    while len(active):
        Z = (X[:, active] - X[:, active].mean(axis=0)) / scale[active]
        model = LogisticRegression(l1_ratio=1.0, solver="liblinear", C=C, random_state=seed,
                                   max_iter=1000)
        model.fit(Z, y)
        beta = model.coef_[0] / scale[active]
        wrong = active[(signs[active] * beta) < 0]
        if len(wrong) == 0:
            coef[:] = 0.0
            coef[active] = beta
            intercept = float(model.intercept_[0] - (X[:, active].mean(axis=0) * beta).sum())
            break
        dropped += [int(j) for j in wrong]
        active = np.setdiff1d(active, wrong)
    return coef, intercept, dropped


def _predict(X: np.ndarray, coef: np.ndarray, intercept: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(X @ coef + intercept)))


def build_scorecard(inputs: list[RuleInput], points: np.ndarray, half_life_days: float | None,
                    thresholds: Thresholds, name: str) -> Scorecard:
    """A Scorecard from integer points per input (inputs with 0 points are left out)."""
    events: dict[str, EventPoints] = {}
    attributes: list[AttributeRule] = []
    inactivity = None
    band_rules: dict[str, list[Band]] = {}
    for item, value in zip(inputs, points):
        value = float(value)
        if value == 0:
            continue
        if item.kind == "event":
            events[item.key] = EventPoints(points=value, cap=abs(value) * item.cap_count)
        elif item.kind == "inactivity":
            inactivity = Inactivity(days=float(item.key), points=value)
        elif item.kind == "band":
            band_rules.setdefault(item.key, []).append(Band(min=item.low, max=item.high, points=value))
        else:
            attributes.append(_attribute_rule(item, value))
    attributes += [AttributeRule(column=c, bands=b) for c, b in band_rules.items()]
    return Scorecard(
        name=name, decay_half_life_days=half_life_days if events else None, events=events,
        attributes=attributes, inactivity=inactivity, thresholds=thresholds,
    )


def integer_points(coef: np.ndarray, max_points: int) -> np.ndarray:
    """Weights scaled so the largest magnitude is `max_points`, rounded to whole points."""
    largest = np.abs(coef).max() if len(coef) else 0.0
    if largest == 0:
        return np.zeros_like(coef)
    return np.round(coef * (max_points / largest)) + 0.0  # + 0.0 turns -0.0 into 0.0


def fit_learned_scorecard(
    data: LoadedData,
    labelled: pd.DataFrame,
    config: PipelineConfig,
    target: str | None = None,
    reference: Scorecard | None = None,
    max_points: int = 30,
    name: str = "learned-scorecard",
) -> LearnedScorecard:
    """Fit integer points on the `train` rows of `labelled` and thresholds on its `validation` rows.

    `labelled` is `label_windows`' output (`lead_id`, `cutoff`, `label_<target>`, `window`);
    rows of the `test` window are ignored. `target` (default: the last of `config.targets`,
    normally `sql`) is the label the points are fitted for; each of the MQL and SQL thresholds
    is then chosen on its own label (`label_mql`, `label_sql`; the fitted target's label when
    one is missing).
    """
    targets = list(config.targets)
    target = target or targets[-1]
    if f"label_{target}" not in labelled.columns:
        raise BadInputError(f"--target: '{target}' is not one of the config's targets ({', '.join(targets)})")
    label = f"label_{target}"
    train = labelled[(labelled["window"] == "train") & labelled[label].notna()].reset_index(drop=True)
    validation = labelled[labelled["window"] == "validation"].reset_index(drop=True)
    val_rows = validation[validation[label].notna()].reset_index(drop=True)
    y_train = train[label].to_numpy(dtype=float)
    y_val = val_rows[label].to_numpy(dtype=float)
    minimum = config.candidates.min_positives
    for window, y in (("train", y_train), ("validation", y_val)):
        if y.sum() < minimum or len(y) - y.sum() < minimum:
            raise BadInputError(
                f"too few positives or negatives for target '{target}' in the {window} window "
                f"({int(y.sum())} of {len(y)}; need {minimum}) to learn a scorecard"
            )

    inputs, half_life = candidate_inputs(data, train, config, reference)
    if not inputs:
        raise BadInputError("no events or attributes frequent enough to learn a scorecard from")
    X_train = design_matrix(data, train, inputs, half_life)
    X_val = design_matrix(data, val_rows, inputs, half_life)
    signs = np.array([i.sign for i in inputs], dtype=float)

    fits = []
    for C in C_GRID:
        coef, intercept, dropped = _fit_l1(X_train, y_train, signs, C, config.seed)
        if not np.any(coef):
            continue
        loss = float(log_loss(y_val, _predict(X_val, coef, intercept), labels=[0, 1]))
        fits.append((C, coef, intercept, dropped, loss))
    if not fits:
        raise BadInputError(f"no input predicts '{target}' on the training window: nothing to learn")
    best_loss = min(f[4] for f in fits)
    C, coef, intercept, dropped, loss = next(
        f for f in fits if f[4] <= best_loss * (1 + LOG_LOSS_TOLERANCE)
    )
    points = integer_points(coef, max_points)

    placeholder = Thresholds(mql=0, sql=0)
    card = build_scorecard(inputs, points, half_life, placeholder, name)
    scored = score_examples(data, card, validation)["points"].to_numpy(dtype=float)
    chosen = {}
    for stage in ("mql", "sql"):
        stage_label = f"label_{stage}" if f"label_{stage}" in validation.columns else label
        rows = validation[stage_label].notna().to_numpy()
        chosen[stage] = choose_threshold(
            validation.loc[rows, stage_label].to_numpy(dtype=float), scored[rows],
            config.candidates.threshold_rule, config.value_per_conversion, config.cost_per_contact,
        )
    thresholds = Thresholds(mql=min(chosen["mql"], chosen["sql"]), sql=chosen["sql"])
    card = card.model_copy(update={"thresholds": thresholds})

    target_rows = validation[label].notna().to_numpy()
    weights = pd.DataFrame({
        "input": [i.name for i in inputs],
        "kind": [i.kind for i in inputs],
        "coefficient": coef,
        "points": points,
    })
    quality = {
        "val_log_loss_fit": loss,
        "val_roc_auc_fit": float(roc_auc_score(y_val, X_val @ coef)),
        "val_roc_auc_points": float(roc_auc_score(y_val, scored[target_rows])),
    }
    return LearnedScorecard(
        scorecard=card, target=target, weights=weights, C=C,
        dropped_wrong_sign=sorted({inputs[j].name for j in dropped}),
        validation=quality,
        rows={"train": int(len(train)), "validation": int(len(val_rows))},
    )


def learn_scorecard(
    data: LoadedData,
    config: PipelineConfig,
    target: str | None = None,
    reference: Scorecard | None = None,
    max_points: int = 30,
) -> LearnedScorecard:
    """Rebuild the config's snapshot windows from `data` and fit a learned scorecard on them."""
    labelled, _ = label_windows(data, config)
    return fit_learned_scorecard(data, labelled, config, target, reference, max_points)


def describe_learned(learned: LearnedScorecard) -> list[str]:
    """A short terminal summary of a learned scorecard."""
    card = learned.scorecard
    n_rules = len(card.events) + len(card.attributes) + (card.inactivity is not None)
    quality = learned.validation
    lines = [
        f"learned scorecard for '{learned.target}': {n_rules} rules from {learned.rows.get('train', 0):,} "
        f"training examples (L1 C={learned.C:g}); thresholds MQL {card.thresholds.mql:g}, "
        f"SQL {card.thresholds.sql:g}",
        f"validation ROC AUC {quality.get('val_roc_auc_points', float('nan')):.3f} with whole points "
        f"({quality.get('val_roc_auc_fit', float('nan')):.3f} before rounding)",
    ]
    if learned.dropped_wrong_sign:
        lines.append("dropped for a sign against common sense: " + ", ".join(learned.dropped_wrong_sign))
    return lines

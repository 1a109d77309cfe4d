"""The declarative feature spec: which engagement aggregates and attributes make a lead's vector.

The spec is data. Engines compile it (numpy in `features`, Spark SQL in `features_sql`), it is
logged with each model, and scoring rebuilds exactly the features a model was trained on.
"""

from pydantic import BaseModel, ConfigDict, Field, model_validator

from leadq.data.contract import CANONICAL_EVENT_TYPES, OTHER_EVENT_GROUP

ALL_TIME = "all"


class FeatureSpec(BaseModel):
    """Windows, event types and attribute columns that define the feature vector."""

    model_config = ConfigDict(extra="forbid")

    event_types: list[str] = Field(default_factory=lambda: list(CANONICAL_EVENT_TYPES))
    windows_days: list[int] = Field(default_factory=lambda: [7, 30, 90])
    recency_types: list[str] = Field(
        default_factory=lambda: [
            "pricing_view", "content_download", "webinar_attend", "form_submit",
            "email_click", "demo_request",
        ]
    )
    duration_types: list[str] = Field(default_factory=lambda: ["pricing_view"])
    session_gap_minutes: float = Field(default=30.0, gt=0)
    return_event_type: str = "pricing_view"
    return_min_hours: float = Field(default=12.0, ge=0)
    return_max_days: float = Field(default=7.0, gt=0)
    journey_types: list[str] = Field(
        default_factory=lambda: ["content_download", "webinar_attend", "pricing_view"],
        description="The tell-tale sequence; journey_stage counts how far a lead got in order, "
        "plus one for a return after the last step.",
    )
    trend_recent_days: int = Field(default=7, gt=0)
    trend_base_days: int = Field(default=30, gt=0)
    categorical_attributes: list[str] = Field(default_factory=list)
    numeric_attributes: list[str] = Field(default_factory=list)
    include_engagement: bool = True
    exclude_features: list[str] = Field(
        default_factory=list, description="Feature names dropped from the vector (ablations)."
    )

    @model_validator(mode="after")
    def _types_are_counted(self) -> "FeatureSpec":
        used = [*self.recency_types, *self.duration_types, *self.journey_types, self.return_event_type]
        missing = sorted(set(used) - set(self.event_types))
        if missing:
            raise ValueError(f"event types {missing} are used by features but not listed in event_types")
        if not self.journey_types:
            raise ValueError("journey_types needs at least one event type")
        if any(d <= 0 for d in self.windows_days):
            raise ValueError("windows_days must be positive")
        if self.return_min_hours > self.return_max_days * 24:
            raise ValueError("return_min_hours must not exceed return_max_days")
        return self

    def count_groups(self) -> list[str]:
        """Event-type groups with their own count columns: the spec's types plus `other`."""
        return [*self.event_types, OTHER_EVENT_GROUP]

    def window_labels(self) -> list[str]:
        """Window suffixes, e.g. ['7d', '30d', '90d', 'all']."""
        return [f"{d}d" for d in self.windows_days] + [ALL_TIME]

    def engagement_columns(self) -> list[str]:
        """Names of the engagement features, in output order."""
        if not self.include_engagement:
            return []
        windows = self.window_labels()
        names = [f"{group}_{w}" for group in self.count_groups() for w in windows]
        names += [f"events_{w}" for w in windows]
        names += ["time_on_site_s_sum", "time_on_site_s_mean"]
        names += [f"time_on_{t}_s_sum" for t in self.duration_types]
        names += ["days_since_last_event"]
        for t in self.recency_types:
            names += [f"days_since_last_{t}", f"no_{t}"]
        names += ["active_days_all", "active_days_30d", "sessions_all", "sessions_30d"]
        names += [f"{self.return_event_type}_returns_all", f"{self.return_event_type}_returns_30d"]
        names += ["distinct_content_all", "distinct_pages_all", self.trend_column()]
        names += ["journey_stage"]
        return names

    def trend_column(self) -> str:
        """Name of the trend feature (daily event rate, recent window minus the base before it)."""
        return f"trend_events_{self.trend_recent_days}d_vs_prev{self.trend_base_days}d"

    def feature_columns(self) -> list[str]:
        """All model input columns in order: engagement, lead age, then attributes."""
        names = self.engagement_columns() + ["lead_age_days"]
        names += self.numeric_attributes + self.categorical_attributes
        return [n for n in names if n not in set(self.exclude_features)]

    def numeric_columns(self) -> list[str]:
        """Feature columns that hold numbers."""
        categorical = set(self.categorical_attributes)
        return [c for c in self.feature_columns() if c not in categorical]

    def categorical_columns(self) -> list[str]:
        """Feature columns that hold category labels (strings)."""
        return [c for c in self.categorical_attributes if c not in set(self.exclude_features)]

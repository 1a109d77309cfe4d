"""The data contract: table names, required columns and the canonical event vocabulary."""

TABLES = ("leads", "events", "outcomes")

REQUIRED_COLUMNS = {
    "leads": ("lead_id", "created_at"),
    "events": ("lead_id", "ts", "event_type"),
    "outcomes": ("lead_id", "stage", "reached_at"),
}
OPTIONAL_EVENT_COLUMNS = ("duration_s", "page", "content_id", "channel")
TIMESTAMP_COLUMNS = {"leads": ("created_at",), "events": ("ts",), "outcomes": ("reached_at",)}

CANONICAL_EVENT_TYPES = (
    "page_view",
    "pricing_view",
    "content_download",
    "form_submit",
    "webinar_register",
    "webinar_attend",
    "email_open",
    "email_click",
    "demo_request",
    "feedback",
    "unsubscribe",
    "careers_view",
)
OTHER_EVENT_GROUP = "other"

# Funnel order: a later stage implies the earlier ones.
STAGE_ORDER = ("mql", "sql", "customer")

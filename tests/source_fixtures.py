"""Small synthetic exports in the shapes of common CRM and marketing-automation tools.

Each writer turns a generated funnel (`leadq.data.synth`) into files shaped like one tool's
export (file names, column names, value spellings, timestamp formats, CSV dialect) and returns
the contract tables a correct reading of that export gives: what a careful hand conversion in
pandas would produce, written here independently of leadq's mapping code. The tests read the
files through `pipelines/sources/<shape>.yaml` and compare with these tables.

No real customer data: every value comes from the generator.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from leadq.data import synth

SITE = "https://www.example.com"
STAGES = ("mql", "sql", "customer")


@dataclass
class Export:
    """The export's folder and the contract tables its correct reading gives."""

    folder: Path
    leads: pd.DataFrame
    events: pd.DataFrame
    outcomes: pd.DataFrame


def funnel(n_leads: int = 600, seed: int = 3) -> dict[str, pd.DataFrame]:
    """The generated funnel every export is made from (timestamps floored to the second; an
    empty job title missing, as an empty CSV cell reads)."""
    tables = synth.generate(n_leads=n_leads, seed=seed)
    tables["leads"]["job_title"] = _text(tables["leads"]["job_title"].replace("", None))
    for name, column in (("leads", "created_at"), ("events", "ts"), ("outcomes", "reached_at")):
        tables[name][column] = tables[name][column].dt.floor("s")
    return tables


def _stage_dates(leads: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """One column per stage with the date the lead reached it (NaT: never)."""
    wide = outcomes.pivot_table(index="lead_id", columns="stage", values="reached_at", aggfunc="min")
    return wide.reindex(index=leads["lead_id"], columns=list(STAGES))


def _text(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), None)


def _outcome_rows(lead_id: pd.Series, stage: pd.Series, reached_at: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"lead_id": lead_id.to_numpy(), "stage": stage.to_numpy(),
                         "reached_at": reached_at.to_numpy()}).reset_index(drop=True)


def _events_frame(lead_id, ts, event_type, page=None, content_id=None, duration_s=None) -> pd.DataFrame:
    """Contract events; columns not given are missing (`channel` always is)."""
    n = len(ts)

    def text(values):
        return np.full(n, None, dtype=object) if values is None else _text(pd.Series(values)).to_numpy()

    return pd.DataFrame({
        "lead_id": np.asarray(lead_id, dtype=object), "ts": pd.Series(ts).to_numpy(),
        "event_type": np.asarray(event_type, dtype=object),
        "duration_s": np.full(n, np.nan) if duration_s is None else np.asarray(duration_s, dtype=float),
        "page": text(page), "content_id": text(content_id), "channel": np.full(n, None, dtype=object),
    })


# --------------------------------------------------------------------------- HubSpot


HUBSPOT_SOURCES = {"organic": "ORGANIC_SEARCH", "paid_search": "PAID_SEARCH", "social": "SOCIAL_MEDIA",
                   "referral": "REFERRALS", "event": "OFFLINE", "partner": "OTHER_CAMPAIGNS"}
HUBSPOT_TYPES = {"page_view": "Page View", "pricing_view": "Page View", "careers_view": "Page View",
                 "content_download": "CTA Click", "form_submit": "Form Submission", "email_open": "Marketing Email Open",
                 "email_click": "Marketing Email Click", "demo_request": "Meeting Booked", "unsubscribe": "Unsubscribed"}


def write_hubspot(folder: Path, tables: dict[str, pd.DataFrame]) -> Export:
    """A HubSpot-style contacts export (UTF-8 with a byte-order mark, lifecycle dates as columns,
    no outcomes table) and an activity export (epoch milliseconds, URLs, no durations, no
    webinars or feedback)."""
    folder.mkdir(parents=True, exist_ok=True)
    leads, events = tables["leads"], tables["events"]
    record_id = leads["lead_id"].str.lstrip("L0").astype(str)
    id_of = dict(zip(leads["lead_id"], record_id))
    dates = _stage_dates(leads, tables["outcomes"]).apply(lambda s: s.dt.floor("min"))
    last = dates.notna().to_numpy()
    current = np.where(last[:, 2], "customer", np.where(last[:, 1], "salesqualifiedlead",
                                                        np.where(last[:, 0], "marketingqualifiedlead", "lead")))
    contacts = pd.DataFrame({
        "Record ID": record_id,
        "Create Date": leads["created_at"].dt.strftime("%Y-%m-%d %H:%M:%S"),
        "Original Source": leads["source"].map(HUBSPOT_SOURCES),
        "Country/Region": leads["country"],
        "Industry": leads["industry"],
        "Number of Employees": leads["company_size"].astype(str),
        "Job Title": leads["job_title"],
        "Lead Status": "",
        "Lifecycle Stage": current,
        "Became a Marketing Qualified Lead Date": dates["mql"].dt.strftime("%m/%d/%Y %H:%M").to_numpy(),
        "Became a Sales Qualified Lead Date": dates["sql"].dt.strftime("%m/%d/%Y %H:%M").to_numpy(),
        "Became a Customer Date": dates["customer"].dt.strftime("%m/%d/%Y %H:%M").to_numpy(),
    })
    contacts.to_csv(folder / "contacts.csv", index=False, encoding="utf-8-sig")

    kept = events[events["event_type"].isin(HUBSPOT_TYPES)].reset_index(drop=True)
    url = (SITE + kept["page"]).where(kept["page"].notna(), None)
    download = kept["event_type"] == "content_download"
    url = url.where(~download, SITE + "/assets/" + kept["content_id"] + ".pdf")
    is_visit = kept["event_type"].isin(["page_view", "pricing_view", "careers_view"]) | download
    url = url.where(is_visit, None)
    ms = kept["ts"].astype("datetime64[ms, UTC]").astype("int64")
    activities = pd.DataFrame({
        "Associated Contact ID": kept["lead_id"].map(id_of),
        "Activity Date": ms.astype(str),
        "Activity Type": kept["event_type"].map(HUBSPOT_TYPES),
        "Page URL": url,
    })
    activities.to_csv(folder / "activities.csv", index=False)

    expected_events = _events_frame(kept["lead_id"].map(id_of), kept["ts"].dt.floor("ms"), kept["event_type"],
                                    page=url)
    stages = dates.reset_index().melt(id_vars="lead_id", var_name="stage", value_name="reached_at").dropna()
    expected_outcomes = _outcome_rows(stages["lead_id"].map(id_of), stages["stage"], stages["reached_at"])
    expected_leads = pd.DataFrame({
        "lead_id": record_id, "created_at": leads["created_at"],
        "Original Source": contacts["Original Source"], "Country/Region": leads["country"],
        "Industry": leads["industry"], "Number of Employees": leads["company_size"].astype(float),
        "Job Title": leads["job_title"], "Lead Status": pd.Series([None] * len(leads), dtype=object),
    })
    return Export(folder, expected_leads, expected_events, expected_outcomes)


# --------------------------------------------------------------------------- Salesforce


SALESFORCE_SOURCES = {"organic": "Web", "paid_search": "Advertisement", "social": "Social Media",
                      "referral": "Partner Referral", "event": "Trade Show", "partner": "Partner"}
SALESFORCE_STATUS = {"mql": "Marketing Qualified", "sql": "Sales Accepted", "customer": "Closed - Converted"}
TASKS = {"email_open": ("Email", "Email: Opened {}"), "email_click": ("Email", "Email: Clicked {}"),
         "unsubscribe": ("Email", "Email: Unsubscribe request"), "demo_request": ("Task", "Demo request from web"),
         "form_submit": ("Task", "Web form: contact us"), "feedback": ("Call", "Call: feedback")}
CAMPAIGNS = {"webinar_register": ("Webinar", "Registered"), "webinar_attend": ("Webinar", "Attended"),
             "content_download": ("Content Syndication", "Responded")}


def _salesforce_time(ts: pd.Series) -> pd.Series:
    return ts.dt.strftime("%Y-%m-%dT%H:%M:%S.") + (ts.dt.microsecond // 1000).map("{:03d}".format) + "+0000"


def write_salesforce(folder: Path, tables: dict[str, pd.DataFrame]) -> Export:
    """A Salesforce-style Lead export, a LeadHistory export of status changes (the stages,
    spelled as statuses, among other changes), and activity from two objects with their own
    column names, Task and CampaignMember (no web visits: no page views, pricing or careers)."""
    folder.mkdir(parents=True, exist_ok=True)
    leads, events, outcomes = tables["leads"], tables["events"], tables["outcomes"]
    sf_id = "00Q5g00000" + leads["lead_id"].str[1:].str.zfill(8)
    id_of = dict(zip(leads["lead_id"], sf_id))
    converted = leads["lead_id"].isin(outcomes.loc[outcomes["stage"] == "customer", "lead_id"])
    pd.DataFrame({
        "Id": sf_id,
        "CreatedDate": _salesforce_time(leads["created_at"]),
        "LeadSource": leads["source"].map(SALESFORCE_SOURCES),
        "Industry": leads["industry"],
        "NumberOfEmployees": leads["company_size"],
        "Country": leads["country"],
        "Title": leads["job_title"],
        "Status": np.where(converted, "Closed - Converted", "Open - Not Contacted"),
        "IsConverted": np.where(converted, "true", "false"),
    }).to_csv(folder / "Lead.csv", index=False)

    history = outcomes.assign(NewValue=outcomes["stage"].map(SALESFORCE_STATUS))
    noise = leads.sample(frac=0.3, random_state=1)
    history = pd.concat([
        pd.DataFrame({"LeadId": history["lead_id"].map(id_of), "Field": "Status", "NewValue": history["NewValue"],
                      "CreatedDate": _salesforce_time(history["reached_at"].dt.floor("ms"))}),
        pd.DataFrame({"LeadId": noise["lead_id"].map(id_of), "Field": "Status", "NewValue": "Working - Contacted",
                      "CreatedDate": _salesforce_time(noise["created_at"] + pd.Timedelta(hours=3))}),
    ], ignore_index=True)
    history.to_csv(folder / "LeadHistory.csv", index=False)

    tasks = events[events["event_type"].isin(TASKS)].reset_index(drop=True)
    subject = [TASKS[t][1].format(p or "") for t, p in zip(tasks["event_type"], tasks["page"])]
    pd.DataFrame({
        "WhoId": tasks["lead_id"].map(id_of), "CreatedDate": _salesforce_time(tasks["ts"]),
        "TaskSubtype": tasks["event_type"].map(lambda t: TASKS[t][0]), "Subject": subject,
    }).to_csv(folder / "Task.csv", index=False)
    members = events[events["event_type"].isin(CAMPAIGNS)].reset_index(drop=True)
    pd.DataFrame({
        "LeadId": members["lead_id"].map(id_of), "CreatedDate": _salesforce_time(members["ts"]),
        "CampaignType": members["event_type"].map(lambda t: CAMPAIGNS[t][0]),
        "MemberStatus": members["event_type"].map(lambda t: CAMPAIGNS[t][1]),
        "CampaignName": members["content_id"],
    }).to_csv(folder / "CampaignMember.csv", index=False)

    expected_events = pd.concat([
        _events_frame(tasks["lead_id"].map(id_of), tasks["ts"].dt.floor("ms"), tasks["event_type"]),
        _events_frame(members["lead_id"].map(id_of), members["ts"].dt.floor("ms"), members["event_type"],
                      content_id=members["content_id"]),
    ], ignore_index=True)
    expected_outcomes = _outcome_rows(outcomes["lead_id"].map(id_of), outcomes["stage"],
                                      outcomes["reached_at"].dt.floor("ms"))
    noise_rows = _outcome_rows(noise["lead_id"].map(id_of), pd.Series(["working - contacted"] * len(noise)),
                               (noise["created_at"] + pd.Timedelta(hours=3)))
    expected_leads = pd.DataFrame({
        "lead_id": sf_id, "created_at": leads["created_at"],
        "LeadSource": leads["source"].map(SALESFORCE_SOURCES), "Industry": leads["industry"],
        "NumberOfEmployees": leads["company_size"].astype(float), "Country": leads["country"],
        "Title": leads["job_title"],
    })
    return Export(folder, expected_leads, expected_events,
                  pd.concat([expected_outcomes, noise_rows], ignore_index=True))


# --------------------------------------------------------------------------- Marketo


MARKETO_COUNTRIES = {"DE": "Deutschland", "FR": "France", "ES": "España", "SE": "Sverige", "BR": "Brasil",
                     "NL": "Nederland"}
MARKETO_STAGES = {"mql": "Marketing Qualified", "sql": "Sales Qualified", "customer": "Won"}


def _comma_decimal(values: pd.Series, digits: int) -> pd.Series:
    """Numbers written the continental way: '.' between thousands, ',' before decimals."""
    text = values.map(lambda v: "" if pd.isna(v) else f"{v:,.{digits}f}")
    return text.str.replace(",", "_").str.replace(".", ",").str.replace("_", ".")


def write_marketo(folder: Path, tables: dict[str, pd.DataFrame]) -> Export:
    """A Marketo-style export written by a European team: `;`-separated Latin-1 files with
    decimal commas and day-first dates; an activity log with activity-type names (the page,
    form or link in "Primary Attribute Value", program status changes for webinars); a revenue
    stage history with its own stage names."""
    folder.mkdir(parents=True, exist_ok=True)
    leads, events, outcomes = tables["leads"], tables["events"], tables["outcomes"]
    marketo_id = (leads["lead_id"].str[1:].astype(int) + 1000).astype(str)
    id_of = dict(zip(leads["lead_id"], marketo_id))
    revenue = leads["company_size"] * 1234.5678
    country = leads["country"].map(lambda c: MARKETO_COUNTRIES.get(c, c))
    pd.DataFrame({
        "Id": marketo_id,
        "Created At": leads["created_at"].dt.strftime("%d.%m.%Y %H:%M:%S"),
        "Lead Source": leads["source"].str.replace("_", " ").str.title(),
        "Industry": leads["industry"],
        "Annual Revenue": _comma_decimal(revenue, 2),
        "Country": country,
        "Job Title": leads["job_title"],
    }).to_csv(folder / "leads.csv", index=False, sep=";", encoding="latin-1")

    kept = events[~events["event_type"].isin(["feedback"])].reset_index(drop=True)
    kind = kept["event_type"]
    activity = kind.map({
        "page_view": "Visit Webpage", "pricing_view": "Visit Webpage", "careers_view": "Visit Webpage",
        "form_submit": "Fill Out Form", "demo_request": "Fill Out Form", "email_open": "Open Email",
        "email_click": "Click Email", "unsubscribe": "Unsubscribe Email", "content_download": "Click Link",
        "webinar_register": "Change Status in Progression", "webinar_attend": "Change Status in Progression",
    })
    primary = kept["page"].where(kind.isin(["page_view", "pricing_view", "careers_view"]), None)
    primary = primary.where(kind != "form_submit", "Contact Us")
    primary = primary.where(kind != "demo_request", "Demo Request")
    primary = primary.where(kind != "content_download", "/assets/" + kept["content_id"].fillna("") + ".pdf")
    primary = primary.where(~kind.str.startswith("webinar"), kept["content_id"])
    primary = primary.where(~kind.isin(["email_open", "email_click", "unsubscribe"]), "Newsletter")
    status = np.where(kind == "webinar_register", "Registered", np.where(kind == "webinar_attend", "Attended", ""))
    pd.DataFrame({
        "Lead ID": kept["lead_id"].map(id_of),
        "Activity Date": kept["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "Activity Type": activity,
        "Primary Attribute Value": primary,
        "New Status": status,
        "Time on Page (s)": _comma_decimal(kept["duration_s"], 1),
    }).to_csv(folder / "activities.csv", index=False, sep=";", encoding="latin-1")
    pd.DataFrame({
        "Lead ID": outcomes["lead_id"].map(id_of),
        "New Stage": outcomes["stage"].map(MARKETO_STAGES),
        "Changed At": outcomes["reached_at"].dt.strftime("%d.%m.%Y %H:%M:%S"),
    }).to_csv(folder / "revenue_stages.csv", index=False, sep=";", encoding="latin-1")

    expected_events = _events_frame(kept["lead_id"].map(id_of), kept["ts"], kind, page=primary,
                                    duration_s=kept["duration_s"].round(1))
    expected_leads = pd.DataFrame({
        "lead_id": marketo_id, "created_at": leads["created_at"],
        "Lead Source": leads["source"].str.replace("_", " ").str.title(), "Industry": leads["industry"],
        "Annual Revenue": revenue.round(2), "Country": country, "Job Title": leads["job_title"],
    })
    return Export(folder, expected_leads, expected_events,
                  _outcome_rows(outcomes["lead_id"].map(id_of), outcomes["stage"], outcomes["reached_at"]))


# --------------------------------------------------------------------------- GA4


GA4_EVENTS = {"page_view": "page_view", "pricing_view": "page_view", "careers_view": "page_view",
              "content_download": "click", "form_submit": "generate_lead", "demo_request": "request_demo"}
GA4_STAGES = {"mql": "Marketing Qualified Lead", "sql": "Sales Qualified Lead", "customer": "Closed Won"}


def write_ga4(folder: Path, tables: dict[str, pd.DataFrame]) -> Export:
    """A GA4 BigQuery event export flattened to CSV (`event_name`, `event_timestamp` in
    microseconds, `user_pseudo_id`, `page_location`, `link_url`), beside a CRM's lead list keyed
    by the GA client id (creation in epoch seconds) and its stage changes (day-first dates).
    GA4 sees no e-mail or webinar events and no durations; it adds its own `scroll` and
    `session_start` events."""
    folder.mkdir(parents=True, exist_ok=True)
    leads, events, outcomes = tables["leads"], tables["events"], tables["outcomes"]
    client = leads["lead_id"].str[1:].astype(int).map(lambda i: f"{1_000_000_000 + i * 7919}.{1_700_000_000 + i}")
    id_of = dict(zip(leads["lead_id"], client))
    kept = events[events["event_type"].isin(GA4_EVENTS)].reset_index(drop=True)
    rng = np.random.default_rng(11)
    visits = kept[kept["event_type"] == "page_view"]
    scrolls = visits[rng.random(len(visits)) < 0.3].assign(event_type="scroll")
    scrolls = scrolls.assign(ts=scrolls["ts"] + pd.Timedelta(seconds=5))
    rows = pd.concat([kept, scrolls], ignore_index=True).sort_values(["ts", "lead_id"], kind="stable")
    rows = rows.reset_index(drop=True)
    kind = rows["event_type"]
    name = kind.map({**GA4_EVENTS, "scroll": "scroll"})
    page = (SITE + rows["page"].fillna("/") + "?utm_source=" + rows["channel"].fillna("direct"))
    page = page.where(name.isin(["page_view", "scroll"]), SITE + "/resources")
    link = ("https://cdn.example.com/files/" + rows["content_id"].fillna("") + ".pdf").where(name == "click", None)
    micros = rows["ts"].astype("datetime64[us, UTC]").astype("int64")
    exported = pd.DataFrame({
        "event_date": rows["ts"].dt.strftime("%Y%m%d"),
        "event_timestamp": micros,
        "event_name": name,
        "user_pseudo_id": rows["lead_id"].map(id_of),
        "page_location": page,
        "link_url": link,
    })
    (folder / "events").mkdir(exist_ok=True)
    half = len(exported) // 2
    exported.iloc[:half].to_csv(folder / "events" / "events_2025.csv", index=False)
    exported.iloc[half:].to_csv(folder / "events" / "events_2026.csv", index=False)
    pd.DataFrame({
        "ga_client_id": client,
        "created": leads["created_at"].astype("datetime64[s, UTC]").astype("int64"),
        "utm_source": leads["source"],
        "country": leads["country"],
        "industry": leads["industry"],
        "employees": leads["company_size"],
    }).to_csv(folder / "crm_leads.csv", index=False)
    pd.DataFrame({
        "ga_client_id": outcomes["lead_id"].map(id_of),
        "stage": outcomes["stage"].map(GA4_STAGES),
        "changed": outcomes["reached_at"].dt.strftime("%d/%m/%Y %H:%M"),
    }).to_csv(folder / "crm_stage_changes.csv", index=False)

    expected_events = _events_frame(rows["lead_id"].map(id_of), rows["ts"], kind, page=page)
    expected_leads = pd.DataFrame({
        "lead_id": client, "created_at": leads["created_at"], "utm_source": leads["source"],
        "country": leads["country"], "industry": leads["industry"],
        "employees": leads["company_size"].astype(float),
    })
    return Export(folder, expected_leads, expected_events,
                  _outcome_rows(outcomes["lead_id"].map(id_of), outcomes["stage"],
                                outcomes["reached_at"].dt.floor("min")))


WRITERS = {"hubspot": write_hubspot, "salesforce": write_salesforce, "marketo": write_marketo, "ga4": write_ga4}

"""The event process: every engagement event of every lead, as code arrays.

Baseline events reveal a lead's type (sign-up touch, browsing, content, webinars, careers pages,
bot bursts, marketing e-mail); buying windows add their sequences (`buying_window`). Events
never drive conversion.
"""

from __future__ import annotations

import numpy as np

from leadq.data.shift import FunnelShift, relabel_events
from leadq.data.synth.browsing import baseline_browsing, browse_sessions
from leadq.data.synth.buying_window import prospect_window_events, tire_kicker_window_events
from leadq.data.synth.clock import NAT, days_to_us
from leadq.data.synth.parameters import (
    ATTEND_PROB, BOT_BURST_RATE, CAREERS_RATE, CONTENT_RATE, DECOY_RATE, EMAIL_CLICK_PROB,
    EMAIL_OPEN_RATE, SESSION_GROUPS, SIGNUP_P, SIGNUP_P_HOT, SIGNUP_TYPES, UNSUB_PROB, WEBINAR_RATE,
)
from leadq.data.synth.population import LatentLeads
from leadq.data.synth.random_draws import draw_categories, durations, poisson_times
from leadq.data.synth.vocabulary import (
    CHANNELS, CORE_PAGES, EVENT_CODE, FIRST_BLOG_PAGE, FIRST_JOB_PAGE, FIRST_WEBINAR, N_BLOG,
    N_DOWNLOADABLE, N_JOBS, N_WEBINAR, PAGE_CODE, SOURCE_CHANNEL,
)


class EventBlocks:
    """Accumulates event blocks as column arrays (lead index, time in days, codes)."""

    def __init__(self) -> None:
        self.blocks: list[tuple[np.ndarray, ...]] = []

    def add(self, lead, t, etype, dur=None, page=None, content=None) -> None:
        """Add a block of events (codes broadcast to the block; None: missing)."""
        n = len(lead)
        if n == 0:
            return
        etype = np.broadcast_to(np.asarray(etype, dtype=np.int8), (n,))
        dur = np.full(n, np.nan, np.float32) if dur is None else np.asarray(dur, np.float32)
        page = np.broadcast_to(np.asarray(-1 if page is None else page, dtype=np.int16), (n,))
        content = np.broadcast_to(np.asarray(-1 if content is None else content, np.int16), (n,))
        self.blocks.append((np.asarray(lead, np.int32), np.asarray(t, np.float64),
                            np.array(etype), dur, np.array(page), np.array(content)))

    def columns(self) -> tuple[np.ndarray, ...]:
        """All blocks as six concatenated columns; the accumulator is emptied."""
        cols = tuple(np.concatenate(c) for c in zip(*self.blocks))
        self.blocks = []
        return cols


def draw_events(rng: np.random.Generator, leads: LatentLeads, source: np.ndarray, span: float,
                start_us: int, end_us: int, shift: FunnelShift | None,
                seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Draw every lead's events over the history.

    Returns the events as code arrays sorted by time (``lead`` index, ``ts_us``, ``event_type``,
    ``duration_s``, ``page``, ``content``, ``channel``; only events strictly after the lead's
    creation and before ``end_us``) and each lead's unsubscribe time in days (inf: never). An
    ``events`` shift relabels pricing views from its date on, with its own generator seeded by
    `seed`.
    """
    n, ltype, created = leads.created.size, leads.lead_type, leads.created
    activity, intent, strength = leads.activity, leads.intent, leads.strength
    hot, window = leads.hot, leads.window_open
    ev = EventBlocks()
    life_end = np.full(n, span)
    idx = np.arange(n, dtype=np.int32)

    # sign-up touch, seconds to minutes after creation
    sp = np.where(hot[:, None], SIGNUP_P_HOT[None, :], SIGNUP_P[ltype])
    kind = SIGNUP_TYPES[draw_categories(rng, sp)]
    t_sign = created + (5 + 175 * rng.random(n)) / 86_400
    content = np.where(kind == EVENT_CODE["content_download"], rng.integers(0, N_DOWNLOADABLE, n),
                       np.where(kind == EVENT_CODE["webinar_register"],
                                FIRST_WEBINAR + rng.integers(0, N_WEBINAR, n), -1))
    page = np.select([kind == EVENT_CODE["content_download"], kind == EVENT_CODE["form_submit"],
                      kind == EVENT_CODE["webinar_register"]],
                     [PAGE_CODE["/resources"], PAGE_CODE["/contact"], PAGE_CODE["/webinars"]], PAGE_CODE["/demo"])
    ev.add(idx, t_sign, kind, None, page, content)

    baseline_browsing(rng, ev, ltype, activity, created, life_end)

    # content downloads and webinars (researchers live here)
    lead, t = poisson_times(rng, CONTENT_RATE[ltype] * activity, created, life_end)
    ev.add(lead, t, EVENT_CODE["content_download"], None, PAGE_CODE["/resources"],
           rng.integers(0, N_DOWNLOADABLE, lead.size))
    lead, t = poisson_times(rng, WEBINAR_RATE[ltype] * activity, created, life_end)
    web = FIRST_WEBINAR + rng.integers(0, N_WEBINAR, lead.size)
    ev.add(lead, t, EVENT_CODE["webinar_register"], None, PAGE_CODE["/webinars"], web)
    att = rng.random(lead.size) < ATTEND_PROB[ltype[lead]]
    ev.add(lead[att], t[att] + 1 + 6 * rng.random(att.sum()), EVENT_CODE["webinar_attend"], None,
           PAGE_CODE["/webinars"], web[att])

    # job seekers: careers pages
    lead, t = poisson_times(rng, CAREERS_RATE[ltype], created, life_end)
    u = rng.random(lead.size)
    ev.add(lead, t, EVENT_CODE["careers_view"], durations(rng, np.log(80.0), 0.8, lead.size),
           np.where(u < 0.3, PAGE_CODE["/careers"], FIRST_JOB_PAGE + (u * N_JOBS).astype(np.int16)))

    # bots: bursts of second-apart hits on random pages
    lead, t = poisson_times(rng, np.where(ltype == 4, BOT_BURST_RATE, 0.0), created, life_end)
    browse_sessions(rng, ev, lead, t, SESSION_GROUPS[4], ltype, bot=True)

    # buying window: the tell-tale sequence (prospects) or its decoy (tire-kickers)
    wl = np.flatnonzero(window < span).astype(np.int32)
    base = np.maximum(window[wl], created[wl] + 0.002)
    pros = ltype[wl] == 0
    prospect_window_events(rng, ev, wl[pros], base[pros], strength[wl[pros]], hot[wl[pros]], span)
    tire_kicker_window_events(rng, ev, wl[~pros], base[~pros], span)
    # non-buyers also comparison-shop now and then: decoys of a window, out of order
    lead, t = poisson_times(rng, DECOY_RATE[ltype] * activity, created, life_end)
    tire_kicker_window_events(rng, ev, lead, t, span, demo_p=0.0)

    # marketing e-mail: opens (some clicked), unsubscribes stop further e-mail events
    unsub = np.where(rng.random(n) < UNSUB_PROB[ltype] / np.sqrt(intent),
                     created + rng.exponential(60.0, n), np.inf)
    lead, t = poisson_times(rng, EMAIL_OPEN_RATE[ltype] * activity, created, life_end)
    ev.add(lead, t, EVENT_CODE["email_open"])
    clk = rng.random(lead.size) < EMAIL_CLICK_PROB[ltype[lead]]
    k = clk.sum()
    ev.add(lead[clk], t[clk] + rng.exponential(0.01, k), EVENT_CODE["email_click"], None,
           np.where(rng.random(k) < 0.5, FIRST_BLOG_PAGE + rng.integers(0, N_BLOG, k),
                    rng.integers(0, len(CORE_PAGES), k)))
    us_l = np.flatnonzero(unsub < span).astype(np.int32)
    ev.add(us_l, unsub[us_l], EVENT_CODE["unsubscribe"], None, PAGE_CODE["/unsubscribe"])

    e_lead, e_t, e_type, e_dur, e_page, e_content = ev.columns()
    email = (e_type == EVENT_CODE["email_open"]) | (e_type == EVENT_CODE["email_click"])
    keep = ~(email & (e_t > unsub[e_lead]))
    e_us = days_to_us(start_us, e_t)
    c_us = days_to_us(start_us, created)
    keep &= (e_us > c_us[e_lead]) & (e_us < end_us) & (e_us != NAT)
    e_lead, e_us, e_type, e_dur, e_page, e_content = (
        a[keep] for a in (e_lead, e_us, e_type, e_dur, e_page, e_content))
    order = np.argsort(e_us, kind="stable")
    e_lead, e_us, e_type, e_dur, e_page, e_content = (
        a[order] for a in (e_lead, e_us, e_type, e_dur, e_page, e_content))
    del keep, order, email, e_t
    if shift is not None and shift.kind == "events":  # a tracking change: pricing views as page views
        e_type = relabel_events(e_type, e_us, shift.after.value // 1000, shift.factor,
                                EVENT_CODE["pricing_view"], EVENT_CODE["page_view"], seed)

    # channel: e-mail events by e-mail; others by the lead's source channel or at random
    ch = np.empty(e_lead.size, dtype=np.int8)
    u = rng.random(e_lead.size)
    rnd = rng.choice(len(CHANNELS), size=e_lead.size, p=[0.35, 0.15, 0.15, 0.1, 0.25])
    ch[:] = np.where(u < 0.5, SOURCE_CHANNEL[source[e_lead]], rnd)
    via_mail = np.isin(e_type, [EVENT_CODE["email_open"], EVENT_CODE["email_click"], EVENT_CODE["unsubscribe"]])
    ch[via_mail] = CHANNELS.index("email")
    content_mail = np.isin(e_type, [EVENT_CODE["content_download"], EVENT_CODE["webinar_register"]]) & (u > 0.7)
    ch[content_mail] = CHANNELS.index("email")
    events = {"lead": e_lead, "ts_us": e_us, "event_type": e_type, "duration_s": e_dur, "page": e_page,
              "content": e_content, "channel": ch}
    return events, unsub

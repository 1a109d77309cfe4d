"""Synthetic B2B funnel with a known mechanism and an exact oracle.

`generate` draws leads, their engagement events and their funnel outcomes (MQL, SQL, customer)
from a latent process, and returns the latent variables as a fourth table, `truth`, so that
`oracle_probability` can compute the true probability that a lead reaches a stage within a
horizon after a cutoff. The oracle is the ceiling any model that sees only the history can
approach; the data are built so that a history-only model can get close to it while a naive rule
scorecard (points per event) cannot.

The mechanism (all times in days; nothing in it is written in terms of features)
-------------------------------------------------------------------------------

Leads. A lead is created at a uniform time over the history and gets a hidden *type*:

- ``prospect``: a genuine buyer, with a hidden *intent* ``exp(0.7 z)``, ``z ~ N(0, 1)``;
- ``tire_kicker``: looks like a buyer (same titles, pricing pages) but its buying window is
  weak and rarely converts;
- ``researcher``: student / analyst who downloads e-books, attends webinars and reads the blog
  continuously, and never buys;
- ``job_seeker``: reads careers pages, never buys;
- ``bot``: form spam followed by bursts of page views (including ``/pricing``), never buys.

Attributes (source, country, industry, company size, job title) depend on the type and, for
prospects, on the intent (seniority, company size and warm sources rise with intent), so they are
informative but noisy. The lead's baseline *activity* (``exp(0.8 z + 0.25 noise)``) scales its
baseline event rates, so intent also shows, noisily, in how much a lead engages.

Buying window. Prospects and tire-kickers have one buying window. A small share of them arrive
with the window already open ("hot" inbound leads: it opened up to 1.5 days before creation);
for the others it opens at ``created_at + W`` with ``W ~ Exponential(rate)``,
``rate = window_rate`` per day (``sqrt(intent) / 170`` for prospects, ``sqrt(intent) / 200``
for tire-kickers). The exponential wait is memoryless, which is what lets the oracle integrate
over a window that has not opened by the cutoff. Each window has a *strength* ``s`` (log-normal,
correlated with intent).

Engagement. Every lead emits baseline events that reveal its type: a sign-up touch just after
creation, browsing sessions (more right after sign-up, decaying), content downloads and webinars
(very frequent for researchers), marketing e-mail opens and clicks, unsubscribes (after which no
more e-mail events), careers views (job seekers), bursts of second-apart page views (bots).
Prospects and tire-kickers read about as many pages a day, hardly ever /pricing before their
window opens, but not in the same way: a prospect comes back often for a page or two, a
tire-kicker binges in rare long sessions (about 4.5 pages).

Once a prospect's window opens it adds, in order and with probabilities that grow with its
strength, the tell-tale sequence: an e-book or guide download within hours, a webinar
registration about a day later and its attendance a day or so after, then a pricing-page visit,
returns to /pricing a day or two apart and sometimes a demo request, plus a form fill or
feedback, and a burst of browsing sessions and e-mail clicks decaying within a few days. The
window's strength shows mostly in that sequence: a stronger window returns to /pricing more
often (``Poisson(1.2 s)`` returns, at most four), requests a demo more often and its first
pricing visit lasts a little longer (``s ** 0.3``); its burst of sessions and clicks does not
depend on it. A tire-kicker's window has about the same events but out of order and crammed
into a few days: first as many pricing views as a prospect's window has on average, but
minutes apart (no return on another day), sometimes a demo request straight away, then the
download and the webinar, browsing in a couple of long sessions and e-mail clicks decaying
within days. Researchers and job seekers now and then produce the same out-of-order burst
without any window (a decoy that converts nothing). So plain counts of events hardly tell a
converting window from a decoy, or a strong window from a weak one; their order, their spacing
over days (sessions, returns) and how recent they are can.

Conversion. Stages are driven by hazards that depend only on the latent state, never on the
events. For stage ``j`` in (``sql``, own ``mql``):

``h_j(t) = b_j + A_j * g_j(t - T - d_j)`` for ``t > created_at``,

where ``T`` is the window opening time, ``d_j`` a fixed delay (``*_delay_days``: 6 days for
sql, after the window's pricing visit and return; 2 days for mql, after its download and webinar
sign-up), so that a window converts only once the history shows it, ``b_j`` a small per-type
baseline hazard per day
(columns ``*_base_hazard``), ``A_j`` the window's total hazard mass (``*_window_mass``,
proportional to strength; the probability of converting through the window is
``1 - exp(-A_j)``) and ``g_j`` a Weibull density with shape ``hazard_shape`` (2) and scale
``*_scale_days`` (20 days for sql, 7 for mql): zero until the delay has passed, peaking about
two weeks (sql) or five days (mql) later and dying out after about six weeks (sql) or three
(mql). The recorded MQL time is ``min(own mql time, sql
time)`` so every SQL is an MQL first; a customer follows an SQL with probability
``customer_prob`` after 20 + Exponential(40) days. Only stages reached before ``end`` are
recorded in ``outcomes``.

Oracle. Given the latent state at a cutoff ``c`` (type, rates, masses, whether the window is
already open and when it opened, but *not* a future opening time) and that the lead has not
reached the stage by ``c``, the probability of reaching it in ``(c, c + H]`` is
``1 - exp(-Lambda)`` with the cumulative hazard ``Lambda`` summed over the stage's hazards when
the window is open, and
``1 - exp(-b H) [exp(-rate H) + integral_0^H rate exp(-rate w) exp(-sum_j A_j G_j(H - w - d_j))
dw]`` when it is not, the integral computed by Gauss-Legendre quadrature, piecewise between the
points ``w = H - d_j`` where a hazard's start leaves the horizon (accurate to ~1e-12).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from leadq.data.contract import CANONICAL_EVENT_TYPES
from leadq.data.shift import (
    HAZARD_KINDS, FunnelShift, hazard_factors, relabel_events, warp_base_times, warp_window_targets,
)

DEFAULT_END = pd.Timestamp("2026-06-30", tz="UTC")
"""Default end of the generated history (exclusive); every timestamp is before it."""

DEFAULT_HORIZON_DAYS = 30
"""Default prediction horizon in days."""

LEAD_TYPES = ("prospect", "tire_kicker", "researcher", "job_seeker", "bot")
ORACLE_STAGES = ("mql", "sql")

_US_PER_DAY = 86_400_000_000
_NAT = np.iinfo(np.int64).min
_MAX_DAYS = 36_500.0  # latent times further than this after the start are stored as NaT

# --- per-type parameters (index = LEAD_TYPES position) ------------------------------------
_TYPE_PROBS = np.array([0.38, 0.28, 0.14, 0.12, 0.08])
_WINDOW_RATE = np.array([1 / 170, 1 / 200, 0.0, 0.0, 0.0])  # per day, times intent
_HOT_PROB = np.array([0.08, 0.03, 0.0, 0.0, 0.0])
_SQL_MASS = np.array([0.6, 0.2, 0.0, 0.0, 0.0])  # times strength
_MQL_MASS = np.array([1.6, 0.5, 0.0, 0.0, 0.0])
_SQL_BASE = np.array([1 / 1600, 1 / 3000, 1 / 30000, 1 / 60000, 0.0])  # per day
_MQL_BASE = np.array([1 / 1500, 1 / 1200, 1 / 500, 1 / 4000, 0.0])
_CUSTOMER_PROB = np.array([0.35, 0.10, 0.0, 0.0, 0.0])
_SQL_SCALE_DAYS = 20.0
_MQL_SCALE_DAYS = 7.0
_HAZARD_SHAPE = 2.0
_SQL_DELAY_DAYS = 6.0  # the sql hazard starts after the pricing visit and return
_MQL_DELAY_DAYS = 2.0  # the mql hazard starts after the download / webinar sign-up
_RATE_INTENT_POWER = 0.5  # window rate = _WINDOW_RATE * intent ** power
_ACTIVITY_Z = 0.8  # activity = exp(_ACTIVITY_Z z + 0.25 noise)
_SIZE_NOISE = 0.9  # sd of the noise on log company size
_WIN_SESSION_POW = 0.0  # window sessions: mass 2.5 * strength ** pow (prospects)
_WIN_CLICK_POW = 0.0  # window e-mail clicks: mass 1.5 * strength ** pow (prospects)
_WIN_PRICING_DUR_POW = 0.3  # window pricing visit: median 150 s * strength ** pow
_BINGE_PAGES = 4.5  # mean pages of a tire-kicker's browsing session ("binge")
_WIN_BURST_DAYS = 2.0  # decay time of the browsing and e-mail clicks burst of a window
_WIN_RETURNS = 1.2  # a prospect's window returns to /pricing Poisson(_WIN_RETURNS * strength)
_MAX_RETURNS = 4  # times (at most), each a day or two after the previous view

# --- vocabularies --------------------------------------------------------------------------
_ET = {name: i for i, name in enumerate(CANONICAL_EVENT_TYPES)}
_CHANNELS = ("organic", "email", "paid", "social", "direct")
_SOURCES = ("organic", "paid_search", "social", "referral", "event", "partner")
_SOURCE_CHANNEL = np.array([0, 2, 3, 4, 4, 4])  # the channel a source usually brings
_COUNTRIES = ("US", "GB", "DE", "FR", "IN", "CA", "AU", "NL", "BR", "ES", "SE", "SG", "NG", "RU")
_COUNTRY_P = np.array([0.34, 0.12, 0.09, 0.06, 0.09, 0.05, 0.04, 0.03, 0.04, 0.03, 0.02, 0.02,
                       0.03, 0.04])
_COUNTRY_P_BOT = np.array([0.15, 0.04, 0.03, 0.03, 0.18, 0.02, 0.02, 0.02, 0.08, 0.02, 0.01,
                           0.05, 0.15, 0.20])
_INDUSTRIES = ("Software", "Financial Services", "Healthcare", "Manufacturing", "Retail",
               "Education", "Media", "Logistics", "Government", "Telecommunications", "Energy")
_TITLE_POOLS = {
    "senior": ("VP Sales", "Head of Operations", "Chief Technology Officer", "Director of Marketing",
               "CEO", "VP Engineering", "Head of Procurement", "Chief Marketing Officer",
               "Director of IT", "Head of Revenue Operations"),
    "mid": ("Marketing Manager", "Operations Manager", "IT Manager", "Sales Manager",
            "Product Manager", "Procurement Specialist", "Business Analyst", "Project Manager"),
    "junior": ("Software Engineer", "Data Analyst", "Marketing Coordinator",
               "Sales Representative", "Consultant", "Marketing Specialist"),
    "academic": ("Student", "PhD Candidate", "Research Assistant", "Professor", "Lecturer",
                 "Intern", "Graduate Student"),
    "seeker": ("Software Engineer", "Recent Graduate", "Intern", "Data Analyst", "Student",
               "Job Seeker", "Junior Developer"),
    "bot": ("", "test", "asdf", "N/A", "xxx", "a", "Manager", "CEO"),
}
_POOL_NAMES = tuple(_TITLE_POOLS)
_TITLES = tuple(t for pool in _POOL_NAMES for t in _TITLE_POOLS[pool])
_POOL_OFFSET = np.cumsum([0] + [len(_TITLE_POOLS[p]) for p in _POOL_NAMES])

_N_BLOG, _N_DOCS, _N_JOBS = 240, 60, 25
_CORE_PAGES = ("/", "/product", "/features", "/integrations", "/customers", "/about")
_SPECIAL_PAGES = ("/pricing", "/careers", "/resources", "/webinars", "/contact", "/demo",
                  "/feedback", "/unsubscribe")
_PAGES = (_CORE_PAGES + _SPECIAL_PAGES + tuple(f"/blog/{i}" for i in range(1, _N_BLOG + 1))
          + tuple(f"/docs/{i}" for i in range(1, _N_DOCS + 1))
          + tuple(f"/careers/{i}" for i in range(1, _N_JOBS + 1)))
_PG = {p: i for i, p in enumerate(_PAGES)}
_BLOG0 = _PG["/blog/1"]
_DOCS0 = _PG["/docs/1"]
_JOBS0 = _PG["/careers/1"]

_N_EBOOK, _N_GUIDE, _N_PAPER, _N_WEBINAR = 30, 20, 10, 24
_CONTENT = (tuple(f"ebook-{i}" for i in range(1, _N_EBOOK + 1))
            + tuple(f"guide-{i}" for i in range(1, _N_GUIDE + 1))
            + tuple(f"whitepaper-{i}" for i in range(1, _N_PAPER + 1))
            + tuple(f"webinar-{i}" for i in range(1, _N_WEBINAR + 1)))
_N_DOWNLOADABLE = _N_EBOOK + _N_GUIDE + _N_PAPER
_WEBINAR0 = _N_DOWNLOADABLE

# browsing page groups: core, blog, docs, pricing, careers (rows = lead type); prospects and
# tire-kickers (hardly) look at /pricing outside their window
_SESSION_GROUPS = np.array([
    [0.50, 0.33, 0.15, 0.00, 0.02],
    [0.52, 0.35, 0.08, 0.03, 0.02],
    [0.15, 0.55, 0.28, 0.01, 0.01],
    [0.35, 0.15, 0.05, 0.01, 0.44],
    [0.30, 0.40, 0.10, 0.10, 0.10],
])
_WINDOW_GROUPS = np.array([0.50, 0.12, 0.18, 0.18, 0.02])
# baseline sessions per day (times activity) and mean pages per session: prospects come back
# often for a page or two, tire-kickers binge in rare long sessions, so both read about as
# many pages per day but not in as many sessions or on as many days
_SESSION_RATE = np.array([1 / 50, 1 / 175, 1 / 90, 1 / 120, 0.0])
_SESSION_PAGES = np.array([1.3, _BINGE_PAGES, 1.4, 1.4, 1.4])
_SESSION_BOOST = 2.6  # expected extra pages in sessions over the weeks after sign-up
_SESSION_BOOST_DAYS = 20.0
_CONTENT_RATE = np.array([1 / 200, 1 / 180, 1 / 50, 1 / 400, 0.0])  # downloads per day
_WEBINAR_RATE = np.array([1 / 400, 1 / 400, 1 / 120, 0.0, 0.0])  # registrations per day
_ATTEND_PROB = np.array([0.5, 0.4, 0.85, 0.3, 0.0])
_EMAIL_OPEN_RATE = np.array([1 / 240, 1 / 260, 1 / 200, 1 / 400, 1 / 600])
_EMAIL_CLICK_PROB = np.array([0.2, 0.2, 0.20, 0.05, 0.3])
_UNSUB_PROB = np.array([0.12, 0.12, 0.08, 0.30, 0.03])
_DECOY_RATE = np.array([0.0, 0.0, 1 / 300, 1 / 600, 0.0])  # out-of-order bursts per day
_CAREERS_RATE = np.array([0.0, 0.0, 0.0, 1 / 60, 0.0])
_BOT_BURST_RATE = 1 / 55
_BOT_BURST_MEAN = 12.0

# sign-up touch: content_download, form_submit, webinar_register, demo_request
_SIGNUP_TYPES = np.array([_ET["content_download"], _ET["form_submit"], _ET["webinar_register"],
                          _ET["demo_request"]])
_SIGNUP_P = np.array([
    [0.50, 0.27, 0.18, 0.05],
    [0.50, 0.30, 0.20, 0.00],
    [0.75, 0.05, 0.20, 0.00],
    [0.30, 0.65, 0.05, 0.00],
    [0.20, 0.80, 0.00, 0.00],
])
_SIGNUP_P_HOT = np.array([0.15, 0.40, 0.0, 0.45])


def _weibull_cdf(x: np.ndarray, scale: np.ndarray | float, shape: np.ndarray | float) -> np.ndarray:
    """Weibull CDF, zero for x <= 0."""
    x = np.maximum(x, 0.0)
    return -np.expm1(-((x / scale) ** shape))


def _choose(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of `probs` (rows need not be normalised)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0]) * cum[:, -1]
    return np.minimum((u[:, None] >= cum).sum(axis=1), probs.shape[1] - 1)


def _to_utc(ts: pd.Timestamp | str | None) -> pd.Timestamp:
    ts = DEFAULT_END if ts is None else pd.Timestamp(ts)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.as_unit("us")


def _ts_column(us: np.ndarray) -> pd.Series:
    return pd.Series(us.astype("datetime64[us]")).dt.tz_localize("UTC")


def _str_column(codes: np.ndarray, vocab: tuple[str, ...]) -> pd.Series:
    codes = np.asarray(codes, dtype=np.int32)
    arr = pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0),
                                         pa.array(list(vocab), pa.string())).dictionary_decode()
    return pd.Series(arr, dtype=pd.StringDtype("pyarrow", na_value=np.nan))


def _lead_ids(n: int) -> np.ndarray:
    width = max(7, len(str(n)))
    ids = np.arange(1, n + 1, dtype=np.int64)
    digits = np.empty((n, width + 1), dtype=np.uint8)
    digits[:, 0] = ord("L")
    for k in range(width):
        digits[:, width - k] = ord("0") + (ids // 10**k) % 10
    return digits.view(f"S{width + 1}").ravel().astype(str).astype(object)


def _days_to_us(start_us: int, days: np.ndarray) -> np.ndarray:
    """Float days after the start to int64 microseconds (NaT where not finite or too far)."""
    out = np.full(days.shape, _NAT, dtype=np.int64)
    ok = np.isfinite(days) & (days < _MAX_DAYS)
    out[ok] = start_us + np.round(days[ok] * _US_PER_DAY).astype(np.int64)
    return out


class _Events:
    """Accumulates event blocks as column arrays (lead index, time in days, codes)."""

    def __init__(self) -> None:
        self.blocks: list[tuple[np.ndarray, ...]] = []

    def add(self, lead, t, etype, dur=None, page=None, content=None) -> None:
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
        cols = tuple(np.concatenate(c) for c in zip(*self.blocks))
        self.blocks = []
        return cols


def _poisson_times(rng, rate, t0, t1):
    """Homogeneous Poisson process per lead on (t0, t1): returns (lead index, times)."""
    length = np.maximum(t1 - t0, 0.0)
    counts = rng.poisson(rate * length)
    lead = np.repeat(np.arange(len(rate), dtype=np.int32), counts)
    return lead, t0[lead] + rng.random(lead.size) * length[lead]


def _decaying_times(rng, mass, tau, t0, t1):
    """Poisson process with intensity mass/tau*exp(-(t-t0)/tau) on (t0, t1) per lead."""
    length = np.maximum(t1 - t0, 0.0)
    frac = -np.expm1(-length / tau)
    counts = rng.poisson(mass * frac)
    lead = np.repeat(np.arange(len(mass), dtype=np.int32), counts)
    u = rng.random(lead.size) * frac[lead]
    return lead, t0[lead] - tau * np.log1p(-u)


def _group_cumsum(counts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running sums of ``values`` within consecutive groups of sizes ``counts``."""
    total = np.cumsum(values)
    start = np.repeat(np.cumsum(counts) - counts, counts)
    return total - np.concatenate([[0.0], total])[start]


def _durations(rng, mean_log: np.ndarray | float, sd: float, n: int) -> np.ndarray:
    return np.exp(mean_log + sd * rng.standard_normal(n)).astype(np.float32) + np.float32(0.5)


def _browse(rng, ev, lead, t, group_p, ltype, bot=False, pages=1.4):
    """Expand session starts into page views (and pricing/careers views) minutes apart.

    ``pages`` is the mean number of pages per session (geometric), a scalar or one per session;
    bot sessions have `_BOT_BURST_MEAN` pages seconds apart. ``ltype`` (per lead, or None)
    makes researchers linger a little longer.
    """
    n_pages = rng.geometric(1 / (_BOT_BURST_MEAN if bot else np.asarray(pages)), size=lead.size)
    sess = np.repeat(np.arange(lead.size), n_pages)
    first = np.zeros(sess.size, dtype=bool)
    first[np.cumsum(n_pages) - n_pages] = True
    gap = rng.exponential(2.0 / 86_400 if bot else 2.5 / 1_440, size=sess.size)
    gap[first] = 0.0
    # cumulative gap within a session
    csum = np.cumsum(gap)
    start_of = np.cumsum(n_pages) - n_pages
    offs = csum - csum[start_of][np.repeat(np.arange(lead.size), n_pages)]
    pl = lead[sess]
    pt = t[sess] + offs
    grp = _choose(rng, group_p[sess] if group_p.ndim == 2 else
                  np.broadcast_to(group_p, (sess.size, group_p.size)))
    u = rng.random(sess.size)
    page = np.where(grp == 0, (u * len(_CORE_PAGES)).astype(np.int16), 0)
    page = np.where(grp == 1, _BLOG0 + (u**2 * _N_BLOG).astype(np.int16), page)
    page = np.where(grp == 2, _DOCS0 + (u * _N_DOCS).astype(np.int16), page)
    page = np.where(grp == 3, _PG["/pricing"], page)
    page = np.where(grp == 4, np.where(u < 0.4, _PG["/careers"],
                                       _JOBS0 + (u * _N_JOBS).astype(np.int16)), page)
    etype = np.where(grp == 3, _ET["pricing_view"],
                     np.where(grp == 4, _ET["careers_view"], _ET["page_view"]))
    if bot:
        dur = _durations(rng, np.log(1.5), 0.6, sess.size)
    else:
        base = np.where(grp == 3, np.log(35.0), np.where(grp == 4, np.log(90.0), np.log(45.0)))
        researcher = 0.0 if ltype is None else 0.1 * (ltype[pl] == 2)
        dur = _durations(rng, base + researcher, 0.9, sess.size)
    ev.add(pl, pt, etype, dur, page)


def _baseline_browsing(rng, ev, ltype, activity, created, life_end):
    """Browsing over a lead's life: sessions at a constant rate plus a burst decaying after
    sign-up, both scaled by activity, with the type's pages per session (`_SESSION_PAGES`);
    the burst holds `_SESSION_BOOST` pages on average whatever the session length."""
    pages = _SESSION_PAGES[ltype]
    r = _SESSION_RATE[ltype] * activity
    lead, t = _poisson_times(rng, r, created, life_end)
    lead2, t2 = _decaying_times(rng, np.where(r > 0, _SESSION_BOOST * activity / pages, 0.0),
                                _SESSION_BOOST_DAYS, created, life_end)
    lead, t = np.concatenate([lead, lead2]), np.concatenate([t, t2])
    _browse(rng, ev, lead, t, _SESSION_GROUPS[ltype[lead]], ltype, pages=pages[lead])


def _prospect_window(rng, ev, wl, base, s, hot, span):
    """A prospect's buying window, in order: an e-book or guide download within hours, a
    webinar registration about a day later and its attendance a day or so after, then a
    pricing visit (longer for stronger windows), returns to /pricing a day or two apart (more
    for stronger windows) and sometimes a demo request; plus a form fill or feedback, and browsing sessions and e-mail
    clicks decaying within days (`_WIN_BURST_DAYS`; masses times ``s ** _WIN_SESSION_POW`` and
    ``s ** _WIN_CLICK_POW``)."""
    m = wl.size
    dl = rng.random(m) < np.minimum(0.97, 0.75 + 0.1 * s)
    dl &= ~hot | (rng.random(m) < 0.3)
    ev.add(wl[dl], base[dl] + rng.exponential(0.3, m)[dl], _ET["content_download"], None,
           _PG["/resources"], rng.integers(0, _N_EBOOK + _N_GUIDE, m)[dl])
    reg = rng.random(m) < np.minimum(0.9, 0.5 + 0.15 * s)
    t_reg = base + 0.5 + rng.exponential(0.5, m)
    web = _WEBINAR0 + rng.integers(0, _N_WEBINAR, m)
    ev.add(wl[reg], t_reg[reg], _ET["webinar_register"], None, _PG["/webinars"], web[reg])
    att = reg & (rng.random(m) < 0.8)
    t_att = t_reg + 0.5 + rng.random(m)
    ev.add(wl[att], t_att[att], _ET["webinar_attend"], None, _PG["/webinars"], web[att])
    fb = att & (rng.random(m) < 0.15)
    ev.add(wl[fb], t_att[fb] + rng.exponential(0.5, m)[fb], _ET["feedback"], None,
           _PG["/feedback"])
    pr = rng.random(m) < 0.92
    t_pr = np.where(att, t_att, base + 2.0) + 0.3 + rng.exponential(0.7, m)
    dur_pr = _durations(rng, np.log(150.0) + _WIN_PRICING_DUR_POW * np.log(s), 0.6, m)
    ev.add(wl[pr], t_pr[pr], _ET["pricing_view"], dur_pr[pr], _PG["/pricing"])
    n_ret = np.where(pr, np.minimum(rng.poisson(_WIN_RETURNS * s), _MAX_RETURNS), 0)
    k = np.repeat(np.arange(m), n_ret)
    t_ret = t_pr[k] + _group_cumsum(n_ret, 0.6 + rng.gamma(4.0, 0.2, k.size))
    ev.add(wl[k], t_ret, _ET["pricing_view"], _durations(rng, np.log(120.0), 0.6, k.size),
           _PG["/pricing"])
    last = t_pr.copy()
    last[k] = t_ret  # times are increasing within a lead, so the last write is the last return
    demo = (n_ret > 0) & (rng.random(m) < np.minimum(0.8, 0.35 * s))
    ev.add(wl[demo], last[demo] + rng.exponential(1.0, m)[demo], _ET["demo_request"], None,
           _PG["/demo"])
    frm = rng.random(m) < 0.3
    ev.add(wl[frm], base[frm] + 10 * rng.random(m)[frm], _ET["form_submit"], None,
           _PG["/contact"])
    until = np.full(m, span)
    i, t = _decaying_times(rng, 2.5 * s**_WIN_SESSION_POW, _WIN_BURST_DAYS, base, until)
    _browse(rng, ev, wl[i], t, _WINDOW_GROUPS, None)
    i, t = _decaying_times(rng, 1.5 * s**_WIN_CLICK_POW, _WIN_BURST_DAYS, base, until)
    ev.add(wl[i], t, _ET["email_click"], None, _BLOG0 + rng.integers(0, 20, i.size))


def _out_of_order_burst(rng, ev, lead, t0, demo_p=0.0):
    """The decoy of a buying window: about the events of a prospect's window, out of order and
    within a day or two. About as many pricing views as a prospect's window has, but minutes
    apart (no return on another day), sometimes a demo request straight away (``demo_p``), then a download and a webinar
    registration and attendance."""
    m = lead.size
    pr = rng.random(m) < 0.92
    n_pr = np.where(pr, 1 + np.minimum(rng.poisson(_WIN_RETURNS * 1.2, m), _MAX_RETURNS), 0)
    k = np.repeat(np.arange(m), n_pr)
    ev.add(lead[k], t0[k] + _group_cumsum(n_pr, rng.exponential(3.0, k.size)) / 1_440,
           _ET["pricing_view"], _durations(rng, np.log(100.0), 0.7, k.size), _PG["/pricing"])
    demo = pr & (rng.random(m) < demo_p)
    ev.add(lead[demo], t0[demo] + rng.exponential(0.2, m)[demo], _ET["demo_request"], None,
           _PG["/demo"])
    dl = rng.random(m) < 0.8
    ev.add(lead[dl], t0[dl] + 0.5 + rng.exponential(0.7, m)[dl], _ET["content_download"], None,
           _PG["/resources"], rng.integers(0, _N_EBOOK + _N_GUIDE, m)[dl])
    reg = rng.random(m) < 0.65
    t_reg = t0 + 0.2 + rng.exponential(0.5, m)
    web = _WEBINAR0 + rng.integers(0, _N_WEBINAR, m)
    ev.add(lead[reg], t_reg[reg], _ET["webinar_register"], None, _PG["/webinars"], web[reg])
    att = reg & (rng.random(m) < 0.8)
    ev.add(lead[att], t_reg[att] + 0.5 + rng.random(m)[att], _ET["webinar_attend"], None,
           _PG["/webinars"], web[att])


def _tire_kicker_window(rng, ev, wl, base, span, demo_p=0.15):
    """A tire-kicker's buying window (or a non-buyer's decoy of one, with ``demo_p`` 0): an
    `_out_of_order_burst`, a form fill, browsing in a couple of long sessions and e-mail
    clicks decaying within days, about as many events as a prospect's window has."""
    m = wl.size
    t0 = base + rng.exponential(0.3, m)
    _out_of_order_burst(rng, ev, wl, t0, demo_p=demo_p)
    frm = rng.random(m) < 0.3
    ev.add(wl[frm], t0[frm] + 3 * rng.random(m)[frm], _ET["form_submit"], None, _PG["/contact"])
    i, t = _decaying_times(rng, np.full(m, 2.5 * 1.4 / _BINGE_PAGES), _WIN_BURST_DAYS, t0,
                           np.full(m, span))
    _browse(rng, ev, wl[i], t, _WINDOW_GROUPS, None, pages=_BINGE_PAGES)
    i, t = _decaying_times(rng, np.full(m, 1.5), _WIN_BURST_DAYS, t0, np.full(m, span))
    ev.add(wl[i], t, _ET["email_click"], None, _BLOG0 + rng.integers(0, 20, i.size))


def generate(n_leads: int, seed: int, end: pd.Timestamp | str | None = None,
             history_days: int = 365, shift: FunnelShift | None = None) -> dict[str, pd.DataFrame]:
    """Generate a synthetic lead funnel: leads, events, outcomes and the latent truth.

    Leads are created uniformly over ``[end - history_days, end)``; all events and outcomes
    fall strictly after the lead's creation and strictly before ``end``. The mechanism is
    described in the module docstring. The result depends only on the arguments (same seed,
    same frames).

    Args:
        n_leads: Number of leads (about 10 events per lead are generated).
        seed: Seed of the random generator.
        end: End of the history (exclusive), a timestamp or a string; naive times are taken as
            UTC. Defaults to `DEFAULT_END` (2026-06-30 00:00 UTC).
        history_days: Length of the history in days.
        shift: A change of the funnel from a date on (`leadq.data.shift`); everything before
            that date is what the same seed gives without it.

    Returns:
        A dict with four DataFrames (timestamps are ``datetime64[us, UTC]``):
        ``leads`` (lead_id, created_at, source, country, industry, company_size, job_title),
        ``events`` (lead_id, ts, event_type, duration_s, page, content_id, channel; not sorted
        by lead), ``outcomes`` (lead_id, stage, reached_at; one row per stage reached before
        ``end``) and ``truth`` (lead_id, created_at and the latent variables read by
        `oracle_probability`, plus the realised mql_at/sql_at/customer_at).

    Raises:
        ValueError: If ``n_leads`` or ``history_days`` is not positive.
    """
    if n_leads <= 0 or history_days <= 0:
        raise ValueError("n_leads and history_days must be positive")
    rng = np.random.default_rng(seed)
    end_ts = _to_utc(end)
    end_us = int(end_ts._value)
    span = float(history_days)
    start_us = end_us - int(round(span * _US_PER_DAY))
    n = int(n_leads)

    # --- leads and latent state ----------------------------------------------------------
    created = np.sort(np.floor(rng.random(n) * span * 86_400) / 86_400)
    ltype = rng.choice(len(LEAD_TYPES), size=n, p=_TYPE_PROBS).astype(np.int8)
    z = rng.standard_normal(n)
    intent = np.exp(0.7 * z)
    strength = np.exp(0.5 * z + 0.35 * rng.standard_normal(n))
    activity = np.exp(_ACTIVITY_Z * z + 0.25 * rng.standard_normal(n))
    rate = _WINDOW_RATE[ltype] * intent ** _RATE_INTENT_POWER
    has_window = rate > 0
    hot = has_window & (rng.random(n) < _HOT_PROB[ltype])
    with np.errstate(divide="ignore"):
        wait = rng.exponential(size=n) / rate
    window = np.where(hot, created - 1.5 * rng.random(n), created + wait)
    window[~has_window] = np.inf
    sql_mass = _SQL_MASS[ltype] * strength
    mql_mass = _MQL_MASS[ltype] * strength
    sql_base = _SQL_BASE[ltype]
    mql_base = _MQL_BASE[ltype]
    conversion = shift if shift is not None and shift.kind in HAZARD_KINDS else None
    shift_day = ((conversion.after.value // 1000 - start_us) / _US_PER_DAY if conversion else np.inf)
    factor = hazard_factors(conversion, ltype, LEAD_TYPES) if conversion else np.ones(n)

    def _stage_time(mass, scale, delay, base):
        with np.errstate(divide="ignore", invalid="ignore"):
            t_base = created + rng.exponential(size=n) / base
            start = window + delay  # the window's hazard starts `delay` days after it opens
            u0 = np.where(np.isfinite(start), np.maximum(created - start, 0.0), 0.0)
            target = _weibull_cdf(u0, scale, _HAZARD_SHAPE) + rng.exponential(size=n) / mass
            if conversion is not None:  # hazards times the factor from the shift on
                t_base = warp_base_times(t_base, created, shift_day, factor)
                at_shift = _weibull_cdf(np.maximum(shift_day - start, u0), scale, _HAZARD_SHAPE)
                target = warp_window_targets(target, at_shift, factor)
            ok = np.isfinite(start) & (target < 1.0)
            t_win = np.full(n, np.inf)
            t_win[ok] = start[ok] + scale * (-np.log1p(-target[ok])) ** (1 / _HAZARD_SHAPE)
        return np.minimum(t_base, t_win)

    sql_t = _stage_time(sql_mass, _SQL_SCALE_DAYS, _SQL_DELAY_DAYS, sql_base)
    mql_t = np.minimum(_stage_time(mql_mass, _MQL_SCALE_DAYS, _MQL_DELAY_DAYS, mql_base), sql_t)
    cust_t = np.where(rng.random(n) < _CUSTOMER_PROB[ltype],
                      sql_t + 20.0 + rng.exponential(40.0, size=n), np.inf)

    # attributes
    p_warm = 1 / (1 + np.exp(-(1.2 * z - 0.3)))
    src_p = np.tile([0.30, 0.30, 0.15, 0.10, 0.08, 0.07], (n, 1))
    warm = (ltype == 0) & (rng.random(n) < p_warm)
    src_p[warm] = [0.20, 0.05, 0.05, 0.35, 0.20, 0.15]
    src_p[(ltype == 0) & ~warm] = [0.30, 0.40, 0.20, 0.04, 0.03, 0.03]
    src_p[ltype == 1] = [0.25, 0.45, 0.20, 0.04, 0.03, 0.03]
    src_p[ltype == 2] = [0.65, 0.10, 0.15, 0.05, 0.05, 0.00]
    src_p[ltype == 3] = [0.45, 0.10, 0.40, 0.05, 0.00, 0.00]
    src_p[ltype == 4] = [0.15, 0.50, 0.35, 0.00, 0.00, 0.00]
    source = _choose(rng, src_p)
    country = np.where(ltype == 4, rng.choice(len(_COUNTRIES), size=n, p=_COUNTRY_P_BOT),
                       rng.choice(len(_COUNTRIES), size=n, p=_COUNTRY_P))
    industry = rng.integers(0, len(_INDUSTRIES), size=n)
    edu = ((ltype == 2) & (rng.random(n) < 0.65)) | ((ltype == 3) & (rng.random(n) < 0.15))
    industry[edu] = _INDUSTRIES.index("Education")
    log_size = np.select(
        [ltype == 0, ltype == 1, ltype == 2, ltype == 3],
        [4.2 + 0.6 * z, 3.6 + 0.3 * z, np.where(rng.random(n) < 0.5, 8.0, 0.5), 4.5],
        default=rng.random(n) * 11,
    ) + _SIZE_NOISE * rng.standard_normal(n)
    company_size = np.minimum(np.floor(np.exp(log_size)) + 1, 500_000).astype(np.int64)
    p_senior = 1 / (1 + np.exp(-(1.3 * z - 0.8)))
    pool_p = np.zeros((n, len(_POOL_NAMES)))
    pool_p[:, 0] = np.where(ltype == 0, p_senior, 0.15)
    pool_p[:, 1] = np.where(ltype == 0, (1 - p_senior) * 0.7, 0.5)
    pool_p[:, 2] = np.where(ltype == 0, (1 - p_senior) * 0.3, 0.3)
    pool_p[:, 3] = np.where(ltype == 0, 0.0, 0.05)
    pool_p[ltype == 2] = [0.0, 0.1, 0.2, 0.7, 0.0, 0.0]
    pool_p[ltype == 3] = [0.0, 0.05, 0.2, 0.0, 0.75, 0.0]
    pool_p[ltype == 4] = [0.1, 0.1, 0.1, 0.0, 0.0, 0.7]
    pool = _choose(rng, pool_p)
    sizes = np.diff(_POOL_OFFSET)
    title = _POOL_OFFSET[pool] + (rng.random(n) * sizes[pool]).astype(np.int64)

    # --- events ------------------------------------------------------------------------
    ev = _Events()
    life_end = np.full(n, span)
    idx = np.arange(n, dtype=np.int32)

    # sign-up touch, seconds to minutes after creation
    sp = np.where(hot[:, None], _SIGNUP_P_HOT[None, :], _SIGNUP_P[ltype])
    kind = _SIGNUP_TYPES[_choose(rng, sp)]
    t_sign = created + (5 + 175 * rng.random(n)) / 86_400
    content = np.where(kind == _ET["content_download"], rng.integers(0, _N_DOWNLOADABLE, n),
                       np.where(kind == _ET["webinar_register"],
                                _WEBINAR0 + rng.integers(0, _N_WEBINAR, n), -1))
    page = np.select([kind == _ET["content_download"], kind == _ET["form_submit"],
                      kind == _ET["webinar_register"]],
                     [_PG["/resources"], _PG["/contact"], _PG["/webinars"]], _PG["/demo"])
    ev.add(idx, t_sign, kind, None, page, content)

    _baseline_browsing(rng, ev, ltype, activity, created, life_end)

    # content downloads and webinars (researchers live here)
    lead, t = _poisson_times(rng, _CONTENT_RATE[ltype] * activity, created, life_end)
    ev.add(lead, t, _ET["content_download"], None, _PG["/resources"],
           rng.integers(0, _N_DOWNLOADABLE, lead.size))
    lead, t = _poisson_times(rng, _WEBINAR_RATE[ltype] * activity, created, life_end)
    web = _WEBINAR0 + rng.integers(0, _N_WEBINAR, lead.size)
    ev.add(lead, t, _ET["webinar_register"], None, _PG["/webinars"], web)
    att = rng.random(lead.size) < _ATTEND_PROB[ltype[lead]]
    ev.add(lead[att], t[att] + 1 + 6 * rng.random(att.sum()), _ET["webinar_attend"], None,
           _PG["/webinars"], web[att])

    # job seekers: careers pages
    lead, t = _poisson_times(rng, _CAREERS_RATE[ltype], created, life_end)
    u = rng.random(lead.size)
    ev.add(lead, t, _ET["careers_view"], _durations(rng, np.log(80.0), 0.8, lead.size),
           np.where(u < 0.3, _PG["/careers"], _JOBS0 + (u * _N_JOBS).astype(np.int16)))

    # bots: bursts of second-apart hits on random pages
    lead, t = _poisson_times(rng, np.where(ltype == 4, _BOT_BURST_RATE, 0.0), created, life_end)
    _browse(rng, ev, lead, t, _SESSION_GROUPS[4], ltype, bot=True)

    # buying window: the tell-tale sequence (prospects) or its decoy (tire-kickers)
    wl = np.flatnonzero(window < span).astype(np.int32)
    base = np.maximum(window[wl], created[wl] + 0.002)
    pros = ltype[wl] == 0
    _prospect_window(rng, ev, wl[pros], base[pros], strength[wl[pros]], hot[wl[pros]], span)
    _tire_kicker_window(rng, ev, wl[~pros], base[~pros], span)
    # non-buyers also comparison-shop now and then: decoys of a window, out of order
    lead, t = _poisson_times(rng, _DECOY_RATE[ltype] * activity, created, life_end)
    _tire_kicker_window(rng, ev, lead, t, span, demo_p=0.0)

    # marketing e-mail: opens (some clicked), unsubscribes stop further e-mail events
    unsub = np.where(rng.random(n) < _UNSUB_PROB[ltype] / np.sqrt(intent),
                     created + rng.exponential(60.0, n), np.inf)
    lead, t = _poisson_times(rng, _EMAIL_OPEN_RATE[ltype] * activity, created, life_end)
    ev.add(lead, t, _ET["email_open"])
    clk = rng.random(lead.size) < _EMAIL_CLICK_PROB[ltype[lead]]
    k = clk.sum()
    ev.add(lead[clk], t[clk] + rng.exponential(0.01, k), _ET["email_click"], None,
           np.where(rng.random(k) < 0.5, _BLOG0 + rng.integers(0, _N_BLOG, k),
                    rng.integers(0, len(_CORE_PAGES), k)))
    us_l = np.flatnonzero(unsub < span).astype(np.int32)
    ev.add(us_l, unsub[us_l], _ET["unsubscribe"], None, _PG["/unsubscribe"])

    e_lead, e_t, e_type, e_dur, e_page, e_content = ev.columns()
    email = (e_type == _ET["email_open"]) | (e_type == _ET["email_click"])
    keep = ~(email & (e_t > unsub[e_lead]))
    e_us = _days_to_us(start_us, e_t)
    c_us = _days_to_us(start_us, created)
    keep &= (e_us > c_us[e_lead]) & (e_us < end_us) & (e_us != _NAT)
    e_lead, e_us, e_type, e_dur, e_page, e_content = (
        a[keep] for a in (e_lead, e_us, e_type, e_dur, e_page, e_content))
    order = np.argsort(e_us, kind="stable")
    e_lead, e_us, e_type, e_dur, e_page, e_content = (
        a[order] for a in (e_lead, e_us, e_type, e_dur, e_page, e_content))
    del keep, order, email, e_t
    if shift is not None and shift.kind == "events":  # a tracking change: pricing views as page views
        e_type = relabel_events(e_type, e_us, shift.after.value // 1000, shift.factor,
                                _ET["pricing_view"], _ET["page_view"], seed)

    # channel: e-mail events by e-mail; others by the lead's source channel or at random
    ch = np.empty(e_lead.size, dtype=np.int8)
    u = rng.random(e_lead.size)
    rnd = rng.choice(len(_CHANNELS), size=e_lead.size, p=[0.35, 0.15, 0.15, 0.1, 0.25])
    ch[:] = np.where(u < 0.5, _SOURCE_CHANNEL[source[e_lead]], rnd)
    via_mail = np.isin(e_type, [_ET["email_open"], _ET["email_click"], _ET["unsubscribe"]])
    ch[via_mail] = _CHANNELS.index("email")
    content_mail = np.isin(e_type, [_ET["content_download"], _ET["webinar_register"]]) & (u > 0.7)
    ch[content_mail] = _CHANNELS.index("email")

    ids = _lead_ids(n)
    id_col = _str_column(np.arange(n), tuple(ids))
    events = pd.DataFrame({
        "lead_id": _str_column(e_lead, tuple(ids)),
        "ts": _ts_column(e_us),
        "event_type": _str_column(e_type, CANONICAL_EVENT_TYPES),
        "duration_s": e_dur.astype(np.float64),
        "page": _str_column(e_page, _PAGES),
        "content_id": _str_column(e_content, _CONTENT),
        "channel": _str_column(ch, _CHANNELS),
    })
    del e_lead, e_us, e_type, e_dur, e_page, e_content, ch, u, rnd

    leads = pd.DataFrame({
        "lead_id": id_col,
        "created_at": _ts_column(c_us),
        "source": _str_column(source, _SOURCES),
        "country": _str_column(country, _COUNTRIES),
        "industry": _str_column(industry, _INDUSTRIES),
        "company_size": company_size,
        "job_title": _str_column(title, _TITLES),
    })

    # --- outcomes ----------------------------------------------------------------------
    stage_us = {name: _days_to_us(start_us, t) for name, t in
                (("mql", mql_t), ("sql", sql_t), ("customer", cust_t))}
    for name in stage_us:
        stage_us[name][stage_us[name] >= end_us] = _NAT
    parts = []
    for k, name in enumerate(("mql", "sql", "customer")):
        hit = np.flatnonzero(stage_us[name] != _NAT)
        parts.append((hit, np.full(hit.size, k), stage_us[name][hit]))
    o_lead, o_stage, o_us = (np.concatenate(c) for c in zip(*parts))
    order = np.lexsort((o_stage, o_lead))
    outcomes = pd.DataFrame({
        "lead_id": _str_column(o_lead[order], tuple(ids)),
        "stage": _str_column(o_stage[order], ("mql", "sql", "customer")),
        "reached_at": _ts_column(o_us[order]),
    })

    truth = pd.DataFrame({
        "lead_id": id_col.copy(),
        "created_at": leads["created_at"].copy(),
        "lead_type": _str_column(ltype, LEAD_TYPES),
        "intent": intent,
        "activity": activity,
        "hot": hot,
        "window_rate": rate,
        "window_open_at": _ts_column(_days_to_us(start_us, window)),
        "window_strength": np.where(has_window, strength, 0.0),
        "sql_window_mass": sql_mass,
        "mql_window_mass": mql_mass,
        "sql_base_hazard": sql_base,
        "mql_base_hazard": mql_base,
        "sql_scale_days": _SQL_SCALE_DAYS,
        "mql_scale_days": _MQL_SCALE_DAYS,
        "sql_delay_days": _SQL_DELAY_DAYS,
        "mql_delay_days": _MQL_DELAY_DAYS,
        "hazard_shape": _HAZARD_SHAPE,
        "hazard_shift_at": _ts_column(np.full(n, conversion.after.value // 1000 if conversion else _NAT)),
        "hazard_factor_after": factor,
        "customer_prob": _CUSTOMER_PROB[ltype],
        "unsubscribe_at": _ts_column(np.where(unsub < span, _days_to_us(start_us, unsub), _NAT)),
        "mql_at": _ts_column(stage_us["mql"]),
        "sql_at": _ts_column(stage_us["sql"]),
        "customer_at": _ts_column(stage_us["customer"]),
    })
    return {"leads": leads, "events": events, "outcomes": outcomes, "truth": truth}


def write_generated(tables: dict[str, pd.DataFrame], out_dir: Path) -> dict[str, Path]:
    """Write each generated table to ``out_dir/NAME.parquet``.

    Each file is written under a temporary name and renamed, so no half-written file is left
    behind.

    Args:
        tables: The dict returned by `generate` (any name -> DataFrame mapping works).
        out_dir: Target folder, created if missing.

    Returns:
        The path of each written file, by table name.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in tables.items():
        path = out_dir / f"{name}.parquet"
        tmp = out_dir / f".{name}.parquet.tmp"
        frame.to_parquet(tmp, index=False)
        tmp.replace(path)
        paths[name] = path
    return paths


_GL_X, _GL_W = np.polynomial.legendre.leggauss(48)
_GL_X = (_GL_X + 1.0) / 2.0  # nodes on [0, 1]
_GL_W = _GL_W / 2.0


def _days(ts: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Timestamps to float days since the epoch (NaT -> +inf)."""
    s = pd.Series(ts)
    if s.dt.tz is None:
        s = s.dt.tz_localize("UTC")
    us = s.dt.tz_convert("UTC").astype("datetime64[us, UTC]").array.asi8.astype(np.float64)
    us[s.isna().to_numpy()] = np.inf
    return us / _US_PER_DAY


def oracle_probability(truth: pd.DataFrame, examples: pd.DataFrame,
                       stage: str = "sql") -> np.ndarray:
    """True probability that each example's lead reaches ``stage`` within its horizon.

    For each row (lead, cutoff ``c``, horizon ``H``) this is
    P(reach ``stage`` in ``(c, c + H]`` | latent state at ``c``, not reached by ``c``), exact
    under the generating mechanism (see the module docstring). It uses only what the mechanism
    knew at the cutoff: a buying window that opens after ``c`` enters through its exponential
    waiting-time distribution, never through its realised opening time.

    Args:
        truth: The ``truth`` table from `generate`.
        examples: Columns ``lead_id``, ``cutoff`` (timestamp; naive means UTC) and
            ``horizon_days`` (number).
        stage: ``"sql"`` or ``"mql"``.

    Returns:
        A float array aligned with ``examples``; NaN where the lead did not exist at the cutoff
        or had already reached the stage by then.

    Raises:
        ValueError: If the stage has no oracle or a lead_id is not in ``truth``.
    """
    if stage not in ORACLE_STAGES:
        raise ValueError(f"no oracle for stage {stage!r}; choose one of {ORACLE_STAGES}")
    pos = pd.Index(truth["lead_id"]).get_indexer(examples["lead_id"])
    if (pos < 0).any():
        raise ValueError(f"{int((pos < 0).sum())} example lead_id(s) are not in truth")
    hazards = ("sql",) if stage == "sql" else ("mql", "sql")
    c = _days(examples["cutoff"])
    h = examples["horizon_days"].to_numpy(dtype=np.float64)
    created = _days(truth["created_at"])[pos]
    opened_at = _days(truth["window_open_at"])[pos]
    reached = _days(truth[f"{stage}_at"])[pos]
    rate = truth["window_rate"].to_numpy(np.float64)[pos]
    shape = truth["hazard_shape"].to_numpy(np.float64)[pos]
    base = sum(truth[f"{j}_base_hazard"].to_numpy(np.float64)[pos] for j in hazards)
    mass = [truth[f"{j}_window_mass"].to_numpy(np.float64)[pos] for j in hazards]
    scale = [truth[f"{j}_scale_days"].to_numpy(np.float64)[pos] for j in hazards]
    # truth tables written before the hazard delay existed have no delay column: delay 0
    delay = [truth[f"{j}_delay_days"].to_numpy(np.float64)[pos] if f"{j}_delay_days" in truth
             else np.zeros(pos.size) for j in hazards]

    # A conversion shift (`leadq.data.shift`) multiplies every hazard by `factor` from
    # `shift_at` on: each cumulative hazard over (c, c + H] is its part before the shift plus
    # `factor` times its part after (`mid` splits the horizon; no shift: mid = c + H).
    shift_at = (_days(truth["hazard_shift_at"])[pos] if "hazard_shift_at" in truth
                else np.full(pos.size, np.inf))
    factor = (truth["hazard_factor_after"].to_numpy(np.float64)[pos] if "hazard_factor_after" in truth
              else np.ones(pos.size))
    mid = np.clip(shift_at - c, 0.0, h)  # days after the cutoff where the factor starts

    def warped(before_mid, at_mid, at_end, k):
        return (at_mid - before_mid) + k * (at_end - at_mid)

    surv = np.exp(-base * warped(0.0, mid, h, factor))
    is_open = opened_at <= c
    o = np.flatnonzero(is_open)
    if o.size:
        since = c[o] - opened_at[o]  # days the window has been open at the cutoff
        cum = sum(a[o] * warped(_weibull_cdf(since - d[o], sc[o], shape[o]),
                                _weibull_cdf(since + mid[o] - d[o], sc[o], shape[o]),
                                _weibull_cdf(since + h[o] - d[o], sc[o], shape[o]), factor[o])
                  for a, sc, d in zip(mass, scale, delay))
        surv[o] *= np.exp(-cum)
    closed = np.flatnonzero(~is_open & (rate > 0))
    for chunk in np.array_split(closed, max(1, closed.size // 200_000)):
        if chunk.size == 0:
            continue
        lam, hh, mm, kk = rate[chunk, None], h[chunk, None], mid[chunk, None], factor[chunk, None]
        # The integrand has a kink where each hazard's start (opening + delay) reaches the
        # horizon end, w = H - delay_j, or the shift, w = mid - delay_j: integrate piecewise
        # between those points.
        points = np.sort(np.concatenate(
            [np.zeros_like(hh), hh] + [np.clip(end - d[chunk, None], 0.0, hh)
                                       for d in delay for end in (hh, mm)],
            axis=1), axis=1)
        integral = np.zeros(chunk.size)
        for k in range(points.shape[1] - 1):
            lo, width = points[:, k:k + 1], points[:, k + 1:k + 2] - points[:, k:k + 1]
            w = lo + width * _GL_X[None, :]  # opening delay after the cutoff
            cum = sum(a[chunk, None] * warped(0.0,
                                              _weibull_cdf(mm - w - d[chunk, None], sc[chunk, None],
                                                           shape[chunk, None]),
                                              _weibull_cdf(hh - w - d[chunk, None], sc[chunk, None],
                                                           shape[chunk, None]), kk)
                      for a, sc, d in zip(mass, scale, delay))
            integral += width[:, 0] * (_GL_W[None, :] * lam * np.exp(-lam * w - cum)).sum(axis=1)
        surv[chunk] *= np.exp(-lam[:, 0] * hh[:, 0]) + integral
    p = 1.0 - surv
    p[(created > c) | (reached <= c)] = np.nan
    return np.clip(p, 0.0, 1.0, where=~np.isnan(p), out=p)

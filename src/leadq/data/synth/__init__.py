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

The code, one job a module: `parameters` (the mechanism's numbers) and `vocabulary` (the
codes behind every text column); `population` (lead types, latent state, attributes);
`funnel` (the conversion hazards and stage times); `browsing`, `buying_window` and
`engagement` (the event process); `tables` (arrays to the four tables, and writing them);
`generator` (`generate`, the order of the draws); `oracle` (`oracle_probability`).
"""

from leadq.data.synth.generator import generate
from leadq.data.synth.oracle import oracle_probability
from leadq.data.synth.parameters import DEFAULT_END, DEFAULT_HORIZON_DAYS, LEAD_TYPES, ORACLE_STAGES
from leadq.data.synth.tables import write_generated

__all__ = [
    "DEFAULT_END", "DEFAULT_HORIZON_DAYS", "LEAD_TYPES", "ORACLE_STAGES", "generate", "oracle_probability",
    "write_generated",
]

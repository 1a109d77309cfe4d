"""Browsing sessions: session starts expanded into page views minutes (bots: seconds) apart."""

import numpy as np

from leadq.data.synth.parameters import (
    BOT_BURST_MEAN, SESSION_BOOST, SESSION_BOOST_DAYS, SESSION_GROUPS, SESSION_PAGES, SESSION_RATE,
)
from leadq.data.synth.random_draws import decaying_times, draw_categories, durations, poisson_times
from leadq.data.synth.vocabulary import (
    CORE_PAGES, EVENT_CODE, FIRST_BLOG_PAGE, FIRST_DOCS_PAGE, FIRST_JOB_PAGE, N_BLOG, N_DOCS, N_JOBS,
    PAGE_CODE,
)


def browse_sessions(rng, ev, lead, t, group_p, ltype, bot=False, pages=1.4):
    """Expand session starts into page views (and pricing/careers views) minutes apart.

    ``pages`` is the mean number of pages per session (geometric), a scalar or one per session;
    bot sessions have `BOT_BURST_MEAN` pages seconds apart. ``ltype`` (per lead, or None)
    makes researchers linger a little longer.
    """
    n_pages = rng.geometric(1 / (BOT_BURST_MEAN if bot else np.asarray(pages)), size=lead.size)
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
    grp = draw_categories(rng, group_p[sess] if group_p.ndim == 2 else
                  np.broadcast_to(group_p, (sess.size, group_p.size)))
    u = rng.random(sess.size)
    page = np.where(grp == 0, (u * len(CORE_PAGES)).astype(np.int16), 0)
    page = np.where(grp == 1, FIRST_BLOG_PAGE + (u**2 * N_BLOG).astype(np.int16), page)
    page = np.where(grp == 2, FIRST_DOCS_PAGE + (u * N_DOCS).astype(np.int16), page)
    page = np.where(grp == 3, PAGE_CODE["/pricing"], page)
    page = np.where(grp == 4, np.where(u < 0.4, PAGE_CODE["/careers"],
                                       FIRST_JOB_PAGE + (u * N_JOBS).astype(np.int16)), page)
    etype = np.where(grp == 3, EVENT_CODE["pricing_view"],
                     np.where(grp == 4, EVENT_CODE["careers_view"], EVENT_CODE["page_view"]))
    if bot:
        dur = durations(rng, np.log(1.5), 0.6, sess.size)
    else:
        base = np.where(grp == 3, np.log(35.0), np.where(grp == 4, np.log(90.0), np.log(45.0)))
        researcher = 0.0 if ltype is None else 0.1 * (ltype[pl] == 2)
        dur = durations(rng, base + researcher, 0.9, sess.size)
    ev.add(pl, pt, etype, dur, page)


def baseline_browsing(rng, ev, ltype, activity, created, life_end):
    """Browsing over a lead's life: sessions at a constant rate plus a burst decaying after
    sign-up, both scaled by activity, with the type's pages per session (`SESSION_PAGES`);
    the burst holds `SESSION_BOOST` pages on average whatever the session length."""
    pages = SESSION_PAGES[ltype]
    r = SESSION_RATE[ltype] * activity
    lead, t = poisson_times(rng, r, created, life_end)
    lead2, t2 = decaying_times(rng, np.where(r > 0, SESSION_BOOST * activity / pages, 0.0),
                                SESSION_BOOST_DAYS, created, life_end)
    lead, t = np.concatenate([lead, lead2]), np.concatenate([t, t2])
    browse_sessions(rng, ev, lead, t, SESSION_GROUPS[ltype[lead]], ltype, pages=pages[lead])


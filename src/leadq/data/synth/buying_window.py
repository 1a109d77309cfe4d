"""The events of a buying window: a prospect's tell-tale sequence, a tire-kicker's out-of-order
version of it, and the decoy bursts of non-buyers."""

import numpy as np

from leadq.data.synth.browsing import browse_sessions
from leadq.data.synth.parameters import (
    BINGE_PAGES, MAX_RETURNS, WIN_BURST_DAYS, WIN_CLICK_POW, WIN_PRICING_DUR_POW, WIN_RETURNS,
    WIN_SESSION_POW, WINDOW_GROUPS,
)
from leadq.data.synth.random_draws import decaying_times, durations, group_cumsum
from leadq.data.synth.vocabulary import (
    EVENT_CODE, FIRST_BLOG_PAGE, FIRST_WEBINAR, N_EBOOK, N_GUIDE, N_WEBINAR, PAGE_CODE,
)


def prospect_window_events(rng, ev, wl, base, s, hot, span):
    """A prospect's buying window, in order: an e-book or guide download within hours, a
    webinar registration about a day later and its attendance a day or so after, then a
    pricing visit (longer for stronger windows), returns to /pricing a day or two apart (more
    for stronger windows) and sometimes a demo request; plus a form fill or feedback, and browsing sessions and e-mail
    clicks decaying within days (`WIN_BURST_DAYS`; masses times ``s ** WIN_SESSION_POW`` and
    ``s ** WIN_CLICK_POW``)."""
    m = wl.size
    dl = rng.random(m) < np.minimum(0.97, 0.75 + 0.1 * s)
    dl &= ~hot | (rng.random(m) < 0.3)
    ev.add(wl[dl], base[dl] + rng.exponential(0.3, m)[dl], EVENT_CODE["content_download"], None,
           PAGE_CODE["/resources"], rng.integers(0, N_EBOOK + N_GUIDE, m)[dl])
    reg = rng.random(m) < np.minimum(0.9, 0.5 + 0.15 * s)
    t_reg = base + 0.5 + rng.exponential(0.5, m)
    web = FIRST_WEBINAR + rng.integers(0, N_WEBINAR, m)
    ev.add(wl[reg], t_reg[reg], EVENT_CODE["webinar_register"], None, PAGE_CODE["/webinars"], web[reg])
    att = reg & (rng.random(m) < 0.8)
    t_att = t_reg + 0.5 + rng.random(m)
    ev.add(wl[att], t_att[att], EVENT_CODE["webinar_attend"], None, PAGE_CODE["/webinars"], web[att])
    fb = att & (rng.random(m) < 0.15)
    ev.add(wl[fb], t_att[fb] + rng.exponential(0.5, m)[fb], EVENT_CODE["feedback"], None,
           PAGE_CODE["/feedback"])
    pr = rng.random(m) < 0.92
    t_pr = np.where(att, t_att, base + 2.0) + 0.3 + rng.exponential(0.7, m)
    dur_pr = durations(rng, np.log(150.0) + WIN_PRICING_DUR_POW * np.log(s), 0.6, m)
    ev.add(wl[pr], t_pr[pr], EVENT_CODE["pricing_view"], dur_pr[pr], PAGE_CODE["/pricing"])
    n_ret = np.where(pr, np.minimum(rng.poisson(WIN_RETURNS * s), MAX_RETURNS), 0)
    k = np.repeat(np.arange(m), n_ret)
    t_ret = t_pr[k] + group_cumsum(n_ret, 0.6 + rng.gamma(4.0, 0.2, k.size))
    ev.add(wl[k], t_ret, EVENT_CODE["pricing_view"], durations(rng, np.log(120.0), 0.6, k.size),
           PAGE_CODE["/pricing"])
    last = t_pr.copy()
    last[k] = t_ret  # times are increasing within a lead, so the last write is the last return
    demo = (n_ret > 0) & (rng.random(m) < np.minimum(0.8, 0.35 * s))
    ev.add(wl[demo], last[demo] + rng.exponential(1.0, m)[demo], EVENT_CODE["demo_request"], None,
           PAGE_CODE["/demo"])
    frm = rng.random(m) < 0.3
    ev.add(wl[frm], base[frm] + 10 * rng.random(m)[frm], EVENT_CODE["form_submit"], None,
           PAGE_CODE["/contact"])
    until = np.full(m, span)
    i, t = decaying_times(rng, 2.5 * s**WIN_SESSION_POW, WIN_BURST_DAYS, base, until)
    browse_sessions(rng, ev, wl[i], t, WINDOW_GROUPS, None)
    i, t = decaying_times(rng, 1.5 * s**WIN_CLICK_POW, WIN_BURST_DAYS, base, until)
    ev.add(wl[i], t, EVENT_CODE["email_click"], None, FIRST_BLOG_PAGE + rng.integers(0, 20, i.size))


def out_of_order_burst(rng, ev, lead, t0, demo_p=0.0):
    """The decoy of a buying window: about the events of a prospect's window, out of order and
    within a day or two. About as many pricing views as a prospect's window has, but minutes
    apart (no return on another day), sometimes a demo request straight away (``demo_p``), then a download and a webinar
    registration and attendance."""
    m = lead.size
    pr = rng.random(m) < 0.92
    n_pr = np.where(pr, 1 + np.minimum(rng.poisson(WIN_RETURNS * 1.2, m), MAX_RETURNS), 0)
    k = np.repeat(np.arange(m), n_pr)
    ev.add(lead[k], t0[k] + group_cumsum(n_pr, rng.exponential(3.0, k.size)) / 1_440,
           EVENT_CODE["pricing_view"], durations(rng, np.log(100.0), 0.7, k.size), PAGE_CODE["/pricing"])
    demo = pr & (rng.random(m) < demo_p)
    ev.add(lead[demo], t0[demo] + rng.exponential(0.2, m)[demo], EVENT_CODE["demo_request"], None,
           PAGE_CODE["/demo"])
    dl = rng.random(m) < 0.8
    ev.add(lead[dl], t0[dl] + 0.5 + rng.exponential(0.7, m)[dl], EVENT_CODE["content_download"], None,
           PAGE_CODE["/resources"], rng.integers(0, N_EBOOK + N_GUIDE, m)[dl])
    reg = rng.random(m) < 0.65
    t_reg = t0 + 0.2 + rng.exponential(0.5, m)
    web = FIRST_WEBINAR + rng.integers(0, N_WEBINAR, m)
    ev.add(lead[reg], t_reg[reg], EVENT_CODE["webinar_register"], None, PAGE_CODE["/webinars"], web[reg])
    att = reg & (rng.random(m) < 0.8)
    ev.add(lead[att], t_reg[att] + 0.5 + rng.random(m)[att], EVENT_CODE["webinar_attend"], None,
           PAGE_CODE["/webinars"], web[att])


def tire_kicker_window_events(rng, ev, wl, base, span, demo_p=0.15):
    """A tire-kicker's buying window (or a non-buyer's decoy of one, with ``demo_p`` 0): an
    `out_of_order_burst`, a form fill, browsing in a couple of long sessions and e-mail
    clicks decaying within days, about as many events as a prospect's window has."""
    m = wl.size
    t0 = base + rng.exponential(0.3, m)
    out_of_order_burst(rng, ev, wl, t0, demo_p=demo_p)
    frm = rng.random(m) < 0.3
    ev.add(wl[frm], t0[frm] + 3 * rng.random(m)[frm], EVENT_CODE["form_submit"], None, PAGE_CODE["/contact"])
    i, t = decaying_times(rng, np.full(m, 2.5 * 1.4 / BINGE_PAGES), WIN_BURST_DAYS, t0,
                           np.full(m, span))
    browse_sessions(rng, ev, wl[i], t, WINDOW_GROUPS, None, pages=BINGE_PAGES)
    i, t = decaying_times(rng, np.full(m, 1.5), WIN_BURST_DAYS, t0, np.full(m, span))
    ev.add(wl[i], t, EVENT_CODE["email_click"], None, FIRST_BLOG_PAGE + rng.integers(0, 20, i.size))


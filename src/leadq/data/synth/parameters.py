"""The synthetic funnel's numbers: lead types, latent state, conversion and engagement rates.

Arrays indexed by lead type follow `LEAD_TYPES`; rates are per day. The mechanism they drive is
described in `leadq.data.synth`.
"""

import numpy as np
import pandas as pd

from leadq.data.synth.vocabulary import EVENT_CODE

DEFAULT_END = pd.Timestamp("2026-06-30", tz="UTC")
"""Default end of the generated history (exclusive); every timestamp is before it."""

DEFAULT_HORIZON_DAYS = 30
"""Default prediction horizon in days."""

LEAD_TYPES = ("prospect", "tire_kicker", "researcher", "job_seeker", "bot")
ORACLE_STAGES = ("mql", "sql")

# --- per-type parameters (index = LEAD_TYPES position) ------------------------------------
TYPE_PROBS = np.array([0.38, 0.28, 0.14, 0.12, 0.08])
WINDOW_RATE = np.array([1 / 170, 1 / 200, 0.0, 0.0, 0.0])  # per day, times intent
HOT_PROB = np.array([0.08, 0.03, 0.0, 0.0, 0.0])
SQL_MASS = np.array([0.6, 0.2, 0.0, 0.0, 0.0])  # times strength
MQL_MASS = np.array([1.6, 0.5, 0.0, 0.0, 0.0])
SQL_BASE = np.array([1 / 1600, 1 / 3000, 1 / 30000, 1 / 60000, 0.0])  # per day
MQL_BASE = np.array([1 / 1500, 1 / 1200, 1 / 500, 1 / 4000, 0.0])
CUSTOMER_PROB = np.array([0.35, 0.10, 0.0, 0.0, 0.0])
SQL_SCALE_DAYS = 20.0
MQL_SCALE_DAYS = 7.0
HAZARD_SHAPE = 2.0
SQL_DELAY_DAYS = 6.0  # the sql hazard starts after the pricing visit and return
MQL_DELAY_DAYS = 2.0  # the mql hazard starts after the download / webinar sign-up
RATE_INTENT_POWER = 0.5  # window rate = WINDOW_RATE * intent ** power
ACTIVITY_Z = 0.8  # activity = exp(ACTIVITY_Z z + 0.25 noise)
SIZE_NOISE = 0.9  # sd of the noise on log company size
WIN_SESSION_POW = 0.0  # window sessions: mass 2.5 * strength ** pow (prospects)
WIN_CLICK_POW = 0.0  # window e-mail clicks: mass 1.5 * strength ** pow (prospects)
WIN_PRICING_DUR_POW = 0.3  # window pricing visit: median 150 s * strength ** pow
BINGE_PAGES = 4.5  # mean pages of a tire-kicker's browsing session ("binge")
WIN_BURST_DAYS = 2.0  # decay time of the browsing and e-mail clicks burst of a window
WIN_RETURNS = 1.2  # a prospect's window returns to /pricing Poisson(WIN_RETURNS * strength)
MAX_RETURNS = 4  # times (at most), each a day or two after the previous view

# --- engagement ------------------------------------------------------------------------------
# browsing page groups: core, blog, docs, pricing, careers (rows = lead type); prospects and
# tire-kickers (hardly) look at /pricing outside their window
SESSION_GROUPS = np.array([
    [0.50, 0.33, 0.15, 0.00, 0.02],
    [0.52, 0.35, 0.08, 0.03, 0.02],
    [0.15, 0.55, 0.28, 0.01, 0.01],
    [0.35, 0.15, 0.05, 0.01, 0.44],
    [0.30, 0.40, 0.10, 0.10, 0.10],
])
WINDOW_GROUPS = np.array([0.50, 0.12, 0.18, 0.18, 0.02])
# baseline sessions per day (times activity) and mean pages per session: prospects come back
# often for a page or two, tire-kickers binge in rare long sessions, so both read about as
# many pages per day but not in as many sessions or on as many days
SESSION_RATE = np.array([1 / 50, 1 / 175, 1 / 90, 1 / 120, 0.0])
SESSION_PAGES = np.array([1.3, BINGE_PAGES, 1.4, 1.4, 1.4])
SESSION_BOOST = 2.6  # expected extra pages in sessions over the weeks after sign-up
SESSION_BOOST_DAYS = 20.0
CONTENT_RATE = np.array([1 / 200, 1 / 180, 1 / 50, 1 / 400, 0.0])  # downloads per day
WEBINAR_RATE = np.array([1 / 400, 1 / 400, 1 / 120, 0.0, 0.0])  # registrations per day
ATTEND_PROB = np.array([0.5, 0.4, 0.85, 0.3, 0.0])
EMAIL_OPEN_RATE = np.array([1 / 240, 1 / 260, 1 / 200, 1 / 400, 1 / 600])
EMAIL_CLICK_PROB = np.array([0.2, 0.2, 0.20, 0.05, 0.3])
UNSUB_PROB = np.array([0.12, 0.12, 0.08, 0.30, 0.03])
DECOY_RATE = np.array([0.0, 0.0, 1 / 300, 1 / 600, 0.0])  # out-of-order bursts per day
CAREERS_RATE = np.array([0.0, 0.0, 0.0, 1 / 60, 0.0])
BOT_BURST_RATE = 1 / 55
BOT_BURST_MEAN = 12.0

# sign-up touch: content_download, form_submit, webinar_register, demo_request
SIGNUP_TYPES = np.array([EVENT_CODE["content_download"], EVENT_CODE["form_submit"],
                         EVENT_CODE["webinar_register"], EVENT_CODE["demo_request"]])
SIGNUP_P = np.array([
    [0.50, 0.27, 0.18, 0.05],
    [0.50, 0.30, 0.20, 0.00],
    [0.75, 0.05, 0.20, 0.00],
    [0.30, 0.65, 0.05, 0.00],
    [0.20, 0.80, 0.00, 0.00],
])
SIGNUP_P_HOT = np.array([0.15, 0.40, 0.0, 0.45])

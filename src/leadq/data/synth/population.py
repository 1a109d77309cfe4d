"""The synthetic leads: creation times, hidden types and latent state, and their attributes.

A lead's type and its standard normal ``z`` drive its intent, window strength and activity;
prospects and tire-kickers also get a buying window (its rate, whether it is already open at
creation, its opening time). Attributes depend on the type and, for prospects, on ``z``.
"""

from dataclasses import dataclass

import numpy as np

from leadq.data.synth.parameters import (
    ACTIVITY_Z, HOT_PROB, LEAD_TYPES, RATE_INTENT_POWER, SIZE_NOISE, TYPE_PROBS, WINDOW_RATE,
)
from leadq.data.synth.random_draws import draw_categories
from leadq.data.synth.vocabulary import (
    COUNTRIES, COUNTRY_P, COUNTRY_P_BOT, INDUSTRIES, TITLE_POOL_NAMES, TITLE_POOL_OFFSET,
)


@dataclass(frozen=True)
class LatentLeads:
    """Each lead's latent state, one entry per lead in creation order (times in float days after
    the start of the history)."""

    created: np.ndarray
    lead_type: np.ndarray  # int8 codes into LEAD_TYPES
    z: np.ndarray  # the standard normal behind intent, strength and activity
    intent: np.ndarray
    strength: np.ndarray  # the buying window's strength
    activity: np.ndarray  # scales the baseline event rates
    window_rate: np.ndarray  # per day; 0 for types without a buying window
    has_window: np.ndarray
    hot: np.ndarray  # the window was already open at creation
    window_open: np.ndarray  # when the window opens (inf: never)


@dataclass(frozen=True)
class LeadAttributes:
    """Each lead's attributes as codes (`vocabulary`) and its company size."""

    source: np.ndarray
    country: np.ndarray
    industry: np.ndarray
    company_size: np.ndarray
    title: np.ndarray


def draw_latent_leads(rng: np.random.Generator, n: int, span: float) -> LatentLeads:
    """Draw `n` leads created uniformly (to the second) over `span` days, with their latent state."""
    created = np.sort(np.floor(rng.random(n) * span * 86_400) / 86_400)
    lead_type = rng.choice(len(LEAD_TYPES), size=n, p=TYPE_PROBS).astype(np.int8)
    z = rng.standard_normal(n)
    intent = np.exp(0.7 * z)
    strength = np.exp(0.5 * z + 0.35 * rng.standard_normal(n))
    activity = np.exp(ACTIVITY_Z * z + 0.25 * rng.standard_normal(n))
    rate = WINDOW_RATE[lead_type] * intent ** RATE_INTENT_POWER
    has_window = rate > 0
    hot = has_window & (rng.random(n) < HOT_PROB[lead_type])
    with np.errstate(divide="ignore"):
        wait = rng.exponential(size=n) / rate
    window = np.where(hot, created - 1.5 * rng.random(n), created + wait)
    window[~has_window] = np.inf
    return LatentLeads(created=created, lead_type=lead_type, z=z, intent=intent, strength=strength,
                       activity=activity, window_rate=rate, has_window=has_window, hot=hot,
                       window_open=window)


def draw_attributes(rng: np.random.Generator, leads: LatentLeads) -> LeadAttributes:
    """Draw each lead's source, country, industry, company size and job title."""
    n, ltype, z = leads.created.size, leads.lead_type, leads.z
    p_warm = 1 / (1 + np.exp(-(1.2 * z - 0.3)))
    src_p = np.tile([0.30, 0.30, 0.15, 0.10, 0.08, 0.07], (n, 1))
    warm = (ltype == 0) & (rng.random(n) < p_warm)
    src_p[warm] = [0.20, 0.05, 0.05, 0.35, 0.20, 0.15]
    src_p[(ltype == 0) & ~warm] = [0.30, 0.40, 0.20, 0.04, 0.03, 0.03]
    src_p[ltype == 1] = [0.25, 0.45, 0.20, 0.04, 0.03, 0.03]
    src_p[ltype == 2] = [0.65, 0.10, 0.15, 0.05, 0.05, 0.00]
    src_p[ltype == 3] = [0.45, 0.10, 0.40, 0.05, 0.00, 0.00]
    src_p[ltype == 4] = [0.15, 0.50, 0.35, 0.00, 0.00, 0.00]
    source = draw_categories(rng, src_p)
    country = np.where(ltype == 4, rng.choice(len(COUNTRIES), size=n, p=COUNTRY_P_BOT),
                       rng.choice(len(COUNTRIES), size=n, p=COUNTRY_P))
    industry = rng.integers(0, len(INDUSTRIES), size=n)
    edu = ((ltype == 2) & (rng.random(n) < 0.65)) | ((ltype == 3) & (rng.random(n) < 0.15))
    industry[edu] = INDUSTRIES.index("Education")
    log_size = np.select(
        [ltype == 0, ltype == 1, ltype == 2, ltype == 3],
        [4.2 + 0.6 * z, 3.6 + 0.3 * z, np.where(rng.random(n) < 0.5, 8.0, 0.5), 4.5],
        default=rng.random(n) * 11,
    ) + SIZE_NOISE * rng.standard_normal(n)
    company_size = np.minimum(np.floor(np.exp(log_size)) + 1, 500_000).astype(np.int64)
    p_senior = 1 / (1 + np.exp(-(1.3 * z - 0.8)))
    pool_p = np.zeros((n, len(TITLE_POOL_NAMES)))
    pool_p[:, 0] = np.where(ltype == 0, p_senior, 0.15)
    pool_p[:, 1] = np.where(ltype == 0, (1 - p_senior) * 0.7, 0.5)
    pool_p[:, 2] = np.where(ltype == 0, (1 - p_senior) * 0.3, 0.3)
    pool_p[:, 3] = np.where(ltype == 0, 0.0, 0.05)
    pool_p[ltype == 2] = [0.0, 0.1, 0.2, 0.7, 0.0, 0.0]
    pool_p[ltype == 3] = [0.0, 0.05, 0.2, 0.0, 0.75, 0.0]
    pool_p[ltype == 4] = [0.1, 0.1, 0.1, 0.0, 0.0, 0.7]
    pool = draw_categories(rng, pool_p)
    sizes = np.diff(TITLE_POOL_OFFSET)
    title = TITLE_POOL_OFFSET[pool] + (rng.random(n) * sizes[pool]).astype(np.int64)
    return LeadAttributes(source=source, country=country, industry=industry,
                          company_size=company_size, title=title)

"""The codes behind the synthetic tables' text columns: event types, channels, sources,
countries, industries, job titles, pages and content ids (an array of codes indexes these)."""

import numpy as np

from leadq.data.contract import CANONICAL_EVENT_TYPES

EVENT_CODE = {name: i for i, name in enumerate(CANONICAL_EVENT_TYPES)}
CHANNELS = ("organic", "email", "paid", "social", "direct")
SOURCES = ("organic", "paid_search", "social", "referral", "event", "partner")
SOURCE_CHANNEL = np.array([0, 2, 3, 4, 4, 4])  # the channel a source usually brings
COUNTRIES = ("US", "GB", "DE", "FR", "IN", "CA", "AU", "NL", "BR", "ES", "SE", "SG", "NG", "RU")
COUNTRY_P = np.array([0.34, 0.12, 0.09, 0.06, 0.09, 0.05, 0.04, 0.03, 0.04, 0.03, 0.02, 0.02,
                      0.03, 0.04])
COUNTRY_P_BOT = np.array([0.15, 0.04, 0.03, 0.03, 0.18, 0.02, 0.02, 0.02, 0.08, 0.02, 0.01,
                          0.05, 0.15, 0.20])
INDUSTRIES = ("Software", "Financial Services", "Healthcare", "Manufacturing", "Retail",
              "Education", "Media", "Logistics", "Government", "Telecommunications", "Energy")
TITLE_POOLS = {
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
TITLE_POOL_NAMES = tuple(TITLE_POOLS)
TITLES = tuple(t for pool in TITLE_POOL_NAMES for t in TITLE_POOLS[pool])
TITLE_POOL_OFFSET = np.cumsum([0] + [len(TITLE_POOLS[p]) for p in TITLE_POOL_NAMES])

N_BLOG, N_DOCS, N_JOBS = 240, 60, 25
CORE_PAGES = ("/", "/product", "/features", "/integrations", "/customers", "/about")
SPECIAL_PAGES = ("/pricing", "/careers", "/resources", "/webinars", "/contact", "/demo",
                 "/feedback", "/unsubscribe")
PAGES = (CORE_PAGES + SPECIAL_PAGES + tuple(f"/blog/{i}" for i in range(1, N_BLOG + 1))
         + tuple(f"/docs/{i}" for i in range(1, N_DOCS + 1))
         + tuple(f"/careers/{i}" for i in range(1, N_JOBS + 1)))
PAGE_CODE = {p: i for i, p in enumerate(PAGES)}
FIRST_BLOG_PAGE = PAGE_CODE["/blog/1"]
FIRST_DOCS_PAGE = PAGE_CODE["/docs/1"]
FIRST_JOB_PAGE = PAGE_CODE["/careers/1"]

N_EBOOK, N_GUIDE, N_PAPER, N_WEBINAR = 30, 20, 10, 24
CONTENT_IDS = (tuple(f"ebook-{i}" for i in range(1, N_EBOOK + 1))
               + tuple(f"guide-{i}" for i in range(1, N_GUIDE + 1))
               + tuple(f"whitepaper-{i}" for i in range(1, N_PAPER + 1))
               + tuple(f"webinar-{i}" for i in range(1, N_WEBINAR + 1)))
N_DOWNLOADABLE = N_EBOOK + N_GUIDE + N_PAPER
FIRST_WEBINAR = N_DOWNLOADABLE

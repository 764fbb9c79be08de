"""The typed client over lib/resources.py, pointed at TINYBIRD_URL with TINYBIRD_TOKEN."""

import os

from tinybird_sdk import Tinybird

from .resources import page_views, top_pages

tinybird = Tinybird(
    {
        "datasources": {"page_views": page_views},
        "pipes": {"top_pages": top_pages},
        "base_url": os.environ["TINYBIRD_URL"],
        "token": os.environ["TINYBIRD_TOKEN"],
    }
)

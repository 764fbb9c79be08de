"""The app side of the typed project: stdin is a JSON list of page views; each goes through the typed
client's ingest, then top_pages is queried. stdout: {"ingested": [...answers], "top": query answer}."""

import json
import sys

from lib.client import tinybird

plan = json.load(sys.stdin)
ingested = [tinybird.page_views.ingest(row) for row in plan["rows"]]
top = tinybird.top_pages.query({"start_date": plan["start_date"], "limit": plan["limit"]})
json.dump({"ingested": ingested, "top": top}, sys.stdout, default=str)

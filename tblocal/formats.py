"""Output formats: the ClickHouse format and the content type of each /v0/pipes extension."""

from .errors import BadRequest
from .settings import truthy

# extension -> (ClickHouse format, content type)
FORMATS = {
    "json": ("JSON", "application/json"),
    "csv": ("CSVWithNames", "text/csv; charset=utf-8"),
    "ndjson": ("JSONEachRow", "application/x-ndjson; charset=utf-8"),
    "parquet": ("Parquet", "application/octet-stream"),
}
# FORMAT clauses the Query API accepts, by ClickHouse name.
SQL_FORMATS = {
    "JSON": "application/json",
    "JSONEachRow": "application/x-ndjson; charset=utf-8",
    "NDJSON": "application/x-ndjson; charset=utf-8",
    "JSONCompact": "application/json",
    "CSV": "text/csv; charset=utf-8",
    "CSVWithNames": "text/csv; charset=utf-8",
    "TSV": "text/tab-separated-values; charset=utf-8",
    "TabSeparated": "text/tab-separated-values; charset=utf-8",
    "TSVWithNames": "text/tab-separated-values; charset=utf-8",
    "TabSeparatedWithNames": "text/tab-separated-values; charset=utf-8",
    "Parquet": "application/octet-stream",
}


def by_extension(ext: str) -> tuple[str, str]:
    """(ClickHouse format, content type) for a pipe URL extension, or 400."""
    if ext not in FORMATS:
        raise BadRequest(f"Unsupported format '{ext[:20]}': use one of {', '.join(sorted(FORMATS))}")
    return FORMATS[ext]


def by_name(name: str | None) -> tuple[str, str]:
    """(ClickHouse format, content type) for a FORMAT clause; JSON when there is none."""
    if name is None:
        return "JSON", "application/json"
    for known, content_type in SQL_FORMATS.items():
        if known.lower() == name.lower():
            return ("JSONEachRow" if known == "NDJSON" else known), content_type
    raise BadRequest(f"Unsupported format '{name[:20]}': use one of {', '.join(SQL_FORMATS)}")


def output_settings(params: dict) -> dict:
    """Per-request output settings: 64-bit integers unquoted unless the client asks, as on Tinybird."""
    quote = truthy(params.get("output_format_json_quote_64bit_integers", "0"))
    return {
        "output_format_json_quote_64bit_integers": int(quote),
        "output_format_json_quote_denormals": 1,
        "output_format_parquet_string_as_string": 1,
    }

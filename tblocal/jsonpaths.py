"""A column's JSONPath -> where the write path reads its value: a top-level key, or a ClickHouse
expression over the raw JSON of the path's first key.

Tinybird's datafiles read `$.key`, nested keys `$.a.b.c`, bracketed keys `$['a b']`, whole arrays
`$.a[:]`, a field of each element of an array `$.a[:].b`, and the whole row `$` (into a String or JSON
column, beside columns that read inside it). A top-level key (or a whole top-level array) is parsed by
ClickHouse's JSONEachRow straight into its column; anything deeper is parsed as the raw JSON text of its
first key and taken apart with JSONExtract.
"""

import re
from dataclasses import dataclass

from .engine import quote_string

ALL = "[:]"  # every element of an array
_STEP = re.compile(r"""\.([A-Za-z_@$][\w@$-]*)|\[\s*'((?:[^'\\]|\\.)*)'\s*\]|\[\s*"((?:[^"\\]|\\.)*)"\s*\]|(\[\s*:\s*\])""")


class JsonPathError(ValueError):
    """A JSONPath tblocal cannot read, with the reason."""


@dataclass(frozen=True)
class JsonPath:
    root: str  # the top-level key; "" for the whole row ($)
    steps: tuple[str, ...]  # the keys (and ALL) after it

    @property
    def whole_row(self) -> bool:
        """Whether it is `$`: the row itself."""
        return not self.root

    @property
    def top_level(self) -> bool:
        """Whether ClickHouse reads it straight from the row: $.key or $.key[:]."""
        return self.steps in ((), (ALL,))

    def lookup(self, obj):
        """The value at this path in a decoded JSON object, or None."""
        values = [obj if self.whole_row else obj.get(self.root) if isinstance(obj, dict) else None]
        spread = False
        for step in self.steps:
            if step == ALL:
                spread = True
                values = [v for value in values if isinstance(value, list) for v in value]
            else:
                values = [v.get(step) if isinstance(v, dict) else None for v in values]
        return values if spread else values[0]


def parse(jsonpath: str) -> JsonPath:
    """$.a.b[:].c -> JsonPath("a", ("b", ALL, "c")); JsonPathError for what tblocal cannot read."""
    text = (jsonpath or "").strip()
    if not text.startswith("$"):
        raise JsonPathError(f"JSONPath {jsonpath!r} must start with $")
    steps, pos = [], 1
    while pos < len(text):
        m = _STEP.match(text, pos)
        if m is None:
            raise JsonPathError(f"JSONPath {jsonpath!r}: cannot read {text[pos:]!r} (tblocal reads $.key, $['key'], [:])")
        key = next((g for g in m.group(1, 2, 3) if g is not None), None)
        if key is not None:
            key = re.sub(r"\\(.)", r"\1", key)  # $['a\'b'] names the key a'b
            if not key:
                raise JsonPathError(f"JSONPath {jsonpath!r}: a key cannot be empty")
        steps.append(ALL if m.group(4) else key)
        pos = m.end()
    if not steps:
        return WHOLE_ROW
    if steps[0] == ALL:
        raise JsonPathError(f"JSONPath {jsonpath!r} must name a key first ($.key)")
    if steps.count(ALL) > 1:
        raise JsonPathError(f"JSONPath {jsonpath!r}: arrays of arrays ([:] twice) are not read by tblocal")
    return JsonPath(steps[0], tuple(steps[1:]))


WHOLE_ROW = JsonPath("", ())


def column_path(column: dict) -> JsonPath:
    """The column's JSONPath, or $.<name> when it has none."""
    return parse(column["jsonpath"]) if column.get("jsonpath") else JsonPath(column["name"], ())


def extract_sql(path: JsonPath, raw: str, stage_type: str) -> str:
    """ClickHouse SQL reading path's value as stage_type from raw, the SQL of the root key's JSON text."""
    keys = [quote_string(s) for s in path.steps]
    if ALL not in path.steps or path.steps[-1] == ALL:  # a value, or a whole array
        keys = [k for k, s in zip(keys, path.steps) if s != ALL]
        return f"JSONExtract({', '.join([raw, *keys, quote_string(stage_type)])})"
    cut = path.steps.index(ALL)
    m = re.fullmatch(r"Array\((.*)\)", stage_type)
    if m is None:
        raise JsonPathError(f"a JSONPath with [:] needs an Array column, not {stage_type}")
    outer = ", ".join([raw, *keys[:cut]])
    inner = ", ".join(["x", *keys[cut + 1:], quote_string(m.group(1))])
    return f"arrayMap(x -> JSONExtract({inner}), JSONExtractArrayRaw({outer}))"


def check(columns: list[dict]) -> None:
    """JsonPathError unless every column's JSONPath can be read, and what is read whole while other
    columns read inside it (a key, or the row: `$`) goes to a String column (its JSON text) or a JSON one."""
    types = {c["name"]: c["type"] for c in columns}
    paths = {c["name"]: column_path(c) for c in columns}
    whole = {p.root: name for name, p in paths.items() if p.top_level}
    for name, p in paths.items():
        holder = name if p.whole_row else whole.get(p.root) if not p.top_level else None
        if holder and _base_type(types[holder]) != "String" and not is_json_type(types[holder]):
            what = "reads the whole row ($)" if p.whole_row else f"reads inside $.{p.root}, which column {holder} reads whole"
            raise JsonPathError(f"column {name} {what}: that column must be a String (it gets the JSON text) or JSON")


def is_json_type(kind: str) -> bool:
    """Whether kind is ClickHouse's JSON type (with or without its arguments)."""
    return re.fullmatch(r"JSON(\(.*\))?", _base_type(kind).strip(), re.S) is not None


def _base_type(kind: str) -> str:
    while (m := re.fullmatch(r"(?:Nullable|LowCardinality)\((.*)\)", kind)):
        kind = m.group(1)
    return kind

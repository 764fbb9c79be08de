"""Targets, verdicts, the printed tables, the Markdown of docs/performance.md and the chart."""

import json
import os
import platform
import re
import sys
from pathlib import Path

# The targets (ratios are tblocal / plain chDB from the same run).
TARGETS = {
    "batch_ingest_ratio_min": 1.0,
    "single_rps_min": 2000,
    "single_p99_ms_max": 50,
    "user_ratio_max": 1.5,  # a user-scoped call's p50 against the naive SQL on the table keyed (user_id, timestamp)
    "endpoint_p50_ms_max": 100,
    "p99_over_p50_max": 2.0,
    "rss_mb_max": 1536,
    "usage_ingest_ratio_min": 0.95,
    "usage_endpoint_p50_ratio_max": 1.05,
    "stream_vs_old_min": 0.9,
}


def verdicts(size: dict) -> list[dict]:
    """Each target at one size: what was measured, its ratio, met or not."""
    t, out = TARGETS, []
    ing = size["ingest"]
    r = ing["ratio_rows_per_s"]
    out.append({"target": "batch ingest >= 1.0x raw chDB JSONEachRow", "value": f"{ing['tblocal']['rows_per_s']:,} rows/s",
                "ratio": r, "met": r >= t["batch_ingest_ratio_min"]})
    r2 = ing["ratio_vs_raw_with_mvs"]
    out.append({"target": "(info) batch ingest vs plain chDB into the same tables and 5 MVs",
                "value": f"{ing['raw_chdb']['with_mvs']['rows_per_s']:,} rows/s plain", "ratio": r2, "met": r2 >= 1.0})
    for key in ("wait_false", "wait_true"):
        s = (size.get("single_event") or {}).get(key)
        if s:
            out.append({"target": f"single events ({key.replace('_', '=')}) >= 2000 req/s, p99 <= 50 ms",
                        "value": f"{s['requests_per_s']:,} req/s, p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms",
                        "ratio": None, "met": s["requests_per_s"] >= t["single_rps_min"] and s["p99_ms"] <= t["single_p99_ms_max"] and s["errors"] == 0})
    for name, c in size["endpoints"].items():
        e, n = c["tblocal"], c["naive"]
        goal = f"p50 <= {t['endpoint_p50_ms_max']} ms, p99 <= {t['p99_over_p50_max']:g}x p50"
        met = e["p50_ms"] <= t["endpoint_p50_ms_max"] and e["p99_ms"] <= t["p99_over_p50_max"] * e["p50_ms"] and c["same_result"]
        if c["scope"] == "user":
            goal += f", <= {t['user_ratio_max']:g}x naive"
            met = met and c["ratio_p50"] <= t["user_ratio_max"]
        out.append({"target": f"{name} ({c['scope']}): {goal}",
                    "value": f"p50 {e['p50_ms']:.1f} / p99 {e['p99_ms']:.1f} ms (naive p50 {n['p50_ms']:.1f} ms)",
                    "ratio": c["ratio_p50"], "met": met})
    for name, c in ((size.get("isolation") or {}).get("cases") or {}).items():
        iso = size["isolation"]
        out.append({"target": f"{name}: p90 under {iso['heavy_clients']} heavy /v0/sql <= {iso['goal_ratio_max']:g}x idle",
                    "value": f"p90 {c['loaded']['p90_ms']:.1f} ms loaded, {c['idle']['p90_ms']:.1f} ms idle", "ratio": c["ratio_p90"], "met": c["met"]})
    if size.get("usage"):
        out += usage_verdicts(size["usage"])
    peak = size["rss"]["end"]["peak_rss_mb"]
    out.append({"target": "RSS <= 1.5 GB", "value": f"{size['rss']['end']['rss_mb']:.0f} MB (peak {peak:.0f} MB)",
                "ratio": None, "met": peak <= t["rss_mb_max"]})
    return out


def usage_verdicts(usage: dict) -> list[dict]:
    """The usage-recording targets."""
    m = usage["median"]
    return [
        {"target": "batch ingest with usage recording >= 0.95x recording off",
         "value": f"{m['on']['rows_per_s']:,.0f} vs {m['off']['rows_per_s']:,.0f} rows/s (medians of {len(usage['rounds'])} rounds)",
         "ratio": usage["ingest_ratio"], "met": usage["ingest_ratio"] >= TARGETS["usage_ingest_ratio_min"]},
        {"target": "endpoint p50 with usage recording <= 1.05x recording off (median over cases)",
         "value": ", ".join(f"{k} {v}x" for k, v in usage["endpoint_p50_ratio_by_case"].items()),
         "ratio": usage["endpoint_p50_ratio"], "met": usage["endpoint_p50_ratio"] <= TARGETS["usage_endpoint_p50_ratio_max"]},
        {"target": "(info) in-process: µs per call recording off / on; µs per row of the writer thread",
         "value": f"{usage['cost']['call_us_off']} / {usage['cost']['call_us_on']} µs; {usage['cost']['writer_us_per_row']} µs",
         "ratio": None, "met": True},
    ]


def endpoint_rows(size: dict) -> list[str]:
    """The endpoint table of one size, as Markdown rows."""
    out = ["| call | scope | p50 ms | p99 ms | naive p50 ms | naive p99 ms | ratio p50 | same rows | rows read | bytes read |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for name, c in size["endpoints"].items():
        e, n, st = c["tblocal"], c["naive"], c["statistics"]
        out.append(f"| {name} | {c['scope']} | {e['p50_ms']:.1f} | {e['p99_ms']:.1f} | {n['p50_ms']:.1f} | {n['p99_ms']:.1f} | "
                   f"{c['ratio_p50']:.2f} | {'yes' if c['same_result'] else 'no'} | {st['rows_read']:,} | {st['bytes_read']:,} |")
    return out


def print_isolation(result: dict, out=sys.stderr) -> None:
    """The isolation table, on out."""
    print(f"isolation: endpoint p90 idle vs {result['heavy_clients']} heavy /v0/sql queries (goal <= {result['goal_ratio_max']}x); "
          f"heavy queries answered {result['heavy_statuses']}", file=out)
    for name, c in result["cases"].items():
        print(f"  {name:<38} idle p90 {c['idle']['p90_ms']:8.2f} ms   loaded p90 {c['loaded']['p90_ms']:8.2f} ms "
              f"(max {c['loaded']['max_ms']:.0f})   x{c['ratio_p90']:<6} {'ok' if c['met'] else 'MISSED'}", file=out)


def print_table(result: dict) -> None:
    """Everything measured, on stdout."""
    for size in result["sizes"]:
        ing = size["ingest"]
        print(f"\n== {size['events']:,} events (load {size.get('load', '?')}) ==")
        print(f"batch ingest: tblocal {ing['tblocal']['rows_per_s']:,} rows/s ({ing['tblocal']['mb_per_s']} MB/s, "
              f"{ing['tblocal']['clients']} clients) vs raw chDB {ing['raw_chdb']['table_only']['rows_per_s']:,} rows/s: "
              f"{ing['ratio_rows_per_s']}x; plain chDB into the same tables + 5 MVs "
              f"{ing['raw_chdb']['with_mvs']['rows_per_s']:,} rows/s: {ing['ratio_vs_raw_with_mvs']}x")
        print("\n".join(endpoint_rows(size)))
        for key, s in (size.get("single_event") or {}).items():
            if s:
                print(f"single events {key}: {s['requests_per_s']:,} req/s, p50 {s['p50_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms, "
                      f"errors {s['errors']} ({s['connections']} connections)")
        if size.get("isolation"):
            print_isolation(size["isolation"], sys.stdout)
        if size.get("forget_user"):
            print(f"forget-user: median {size['forget_user']['median_seconds']} s per user ({size['forget_user']['users']})")
        print(f"server RSS: {size['rss']['end']['rss_mb']:.0f} MB, peak {size['rss']['end']['peak_rss_mb']:.0f} MB")
    if "stream" in result:
        print("\n== stream ==\n" + stream_markdown(result["stream"]))
    print("\ntargets at", f"{result['sizes'][-1]['events']:,}", "events:")
    for v in result["verdicts"]:
        ratio = "" if v["ratio"] is None else f" ({v['ratio']}x)"
        print(f"  [{'met' if v['met'] else 'NOT met'}] {v['target']}: {v['value']}{ratio}")


def markdown(result: dict) -> str:
    """The results as Markdown tables (docs/performance.md)."""
    m, last = result["machine"], result["sizes"][-1]
    out = [f"Machine: {m['nproc']} vCPU ({m['cpu']}), {m['mem_gb']} GB RAM, Linux {m['kernel']}, Python {m['python']}, "
           f"chDB {m['chdb']}. Run: `{result['command']}` ({result['started']}).", ""]
    out += [f"Targets at {last['events']:,} events (ratios are tblocal / plain chDB, measured in the same run):", "",
            "| target | measured | ratio | met |", "|---|---|---|---|"]
    for v in result["verdicts"]:
        out.append(f"| {v['target']} | {v['value']} | {'' if v['ratio'] is None else str(v['ratio']) + 'x'} | "
                   f"{'yes' if v['met'] else '**no**'} |")
    for size in result["sizes"]:
        ing = size["ingest"]
        out += ["", f"#### {size['events']:,} events", "",
                f"Load average (1/5/15 min) when the endpoint rounds began: {size.get('load', '?')}; when they ended: "
                f"{size.get('load_after', '?')}.", "",
                f"Batch ingest (Events API, {ing['tblocal']['batch_rows']:,}-row gzip batches, {ing['tblocal']['clients']} clients, "
                f"wait=true): **{ing['tblocal']['rows_per_s']:,} rows/s** ({ing['tblocal']['mb_per_s']} MB/s); plain chDB "
                f"`INSERT ... FORMAT JSONEachRow` of the same batches into a MergeTree: {ing['raw_chdb']['table_only']['rows_per_s']:,} rows/s "
                f"(**{ing['ratio_rows_per_s']}x**); into the project's tables and 5 MVs: "
                f"{ing['raw_chdb']['with_mvs']['rows_per_s']:,} rows/s (**{ing['ratio_vs_raw_with_mvs']}x**).", ""]
        for key, sv in (size.get("single_event") or {}).items():
            if sv:
                out.append(f"Single events ({sv['connections']} connections, {key.replace('_', '=')}): "
                           f"**{sv['requests_per_s']:,} req/s**, p50 {sv['p50_ms']:.1f} ms, p99 {sv['p99_ms']:.1f} ms, "
                           f"{sv['errors']} errors.  ")
        rss = size["rss"]["end"]
        out += [f"Server RSS: {rss['rss_mb']:.0f} MB (peak {rss['peak_rss_mb']:.0f} MB).", ""] + endpoint_rows(size)
    if "stream" in result:
        out += ["", "#### Stream workload", "", stream_markdown(result["stream"])]
    return "\n".join(out) + "\n"


def stream_markdown(s: dict) -> str:
    """The stream result as Markdown."""
    med = s["median"]
    out = [f"Stream workload: {s['events']:,} events in time order over {s['days']} days, ~{s['users']:,} users and "
           f"~{s['contents']:,} contents (Zipf-like), {s['batch_rows']:,}-row NDJSON batches, wait=true, "
           f"{s['clients']} clients; medians of {s['runs']} alternating runs.", ""]
    out += ["| side | events/s (median) | each run | request p90 ms |", "|---|---|---|---|"]
    for side in ("new", "old"):
        if side in med:
            each = ", ".join(f"{r['ingest']['rows_per_s']:,}" for r in s["sides"][side])
            name = "this code" if side == "new" else f"previous code ({s['baseline_ref']})"
            out.append(f"| {name} | **{med[side]['rows_per_s']:,.0f}** | {each} | {med[side]['request_p90_ms']} |")
    if "raw" in med:
        each = ", ".join(f"{r['with_mvs']['rows_per_s']:,}" for r in s["sides"]["raw"])
        out.append(f"| plain chDB, same tables and views | {med['raw']['with_mvs_rows_per_s']:,.0f} | {each} | |")
        out.append(f"| plain chDB, user_events alone | {med['raw']['table_only_rows_per_s']:,.0f} | | |")
    out.append("")
    ratios = []
    if "ratio_vs_old" in s:
        ratios.append(f"**{s['ratio_vs_old']}x** of the previous code (target >= {TARGETS['stream_vs_old_min']}x: "
                      f"{'met' if s['met'] else 'not met'})")
    if "ratio_vs_raw_with_mvs" in s:
        ratios.append(f"{s['ratio_vs_raw_with_mvs']}x of plain chDB into the same tables and views, "
                      f"{s['ratio_vs_raw_table_only']}x of plain chDB into user_events alone")
    if ratios:
        out += ["Ingest: " + "; ".join(ratios) + ".", ""]
    if "endpoint_p50_ratio_vs_old" in s:
        out += ["| endpoint case | p50 ms | previous code p50 ms | ratio |", "|---|---|---|---|"]
        for name, ratio in s["endpoint_p50_ratio_vs_old"].items():
            out.append(f"| {name} | {med['new']['endpoints_p50_ms'][name]:.1f} | {med['old']['endpoints_p50_ms'][name]:.1f} | {ratio} |")
    return "\n".join(out) + "\n"


def chart(result: dict, path: Path) -> None:
    """p50 against events, tblocal and naive side by side (needs matplotlib: `make bench` installs it)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench: matplotlib not installed; no chart", file=sys.stderr)
        return
    sizes = result["sizes"]
    xs = [s["events"] / 1e6 for s in sizes]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=80)
    colors = plt.get_cmap("tab20").colors
    for k, name in enumerate(sizes[-1]["endpoints"]):
        ys = [s["endpoints"][name]["tblocal"]["p50_ms"] for s in sizes]
        ns = [s["endpoints"][name]["naive"]["p50_ms"] for s in sizes]
        color = colors[(2 * k) % 20 if k < 10 else (2 * k + 1) % 20]
        ax1.plot(xs, ys, marker="o", color=color, label=name)
        ax2.plot(xs, ns, marker="o", linestyle="--", color=color, label=name)
    values = [v for s in sizes for c in s["endpoints"].values() for v in (c["tblocal"]["p50_ms"], c["naive"]["p50_ms"])]
    for ax, title in ((ax1, "tblocal endpoint p50 (HTTP)"), (ax2, "naive SQL p50 (plain chDB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(xs, [f"{x:g}M" for x in xs])
        ax.set_xlabel("events")
        ax.set_ylabel("ms")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.set_ylim(min(values) * 0.8, max(values) * 1.25)
    ax1.axhline(TARGETS["endpoint_p50_ms_max"], color="grey", linewidth=0.8, linestyle=":")
    ax2.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def machine() -> dict:
    """CPU, memory, kernel, Python and chDB versions."""
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) / 1024**2
    import chdb

    return {"nproc": os.cpu_count(), "cpu": cpu, "mem_gb": round(mem, 1), "python": platform.python_version(),
            "chdb": chdb.__version__, "kernel": platform.release()}


def load() -> str:
    """The load averages over 1, 5 and 15 minutes (the machine is shared)."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def from_json(path: str, chart_path: str | None, md_path: str | None) -> None:
    """Re-render the chart, table and Markdown of a saved result."""
    result = json.loads(Path(path).read_text())
    if chart_path:
        chart(result, Path(chart_path))
    if md_path:
        Path(md_path).write_text(markdown(result))
    print_table(result)

"""Summary table, plots and the generated parts of BENCHMARKS.md, from bench/results/*.json.

    python bench/report.py            # table to stdout, plots to docs/bench/, BENCHMARKS.md updated
    python bench/report.py --only profile    # rewrite only the profile block

For each (scenario, mode, server) the newest result that was not profiled is used.
Results are not kept in git: after re-running some scenarios on a fresh checkout, a
full report would drop every scenario not re-run, so `--only` rewrites just the named
blocks (and draws no plots unless "plots" is named).

BENCHMARKS.md keeps hand-written text; only the blocks between
`<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->` are rewritten
(NAME = machine, table, profile).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import PLOTS, RESULTS, ROOT, ensure_venv

DOC = ROOT / "BENCHMARKS.md"
ORDER = ["dispatch_latency", "throughput", "connections", "queue_depth", "recovery", "soak"]
CONFIGS = [
    ("embedded", "daphne"),
    ("embedded", "uvicorn"),
    ("scaled", "daphne"),
    ("scaled", "uvicorn"),
]


def _results(pattern: str = "*.json") -> Iterator[tuple[Path, dict]]:
    """Each readable result file matching `pattern`, oldest first."""
    for path in sorted(RESULTS.glob(pattern), key=lambda p: p.stat().st_mtime):
        try:
            yield path, json.loads(path.read_text())
        except ValueError:
            continue


def load_latest(include_profiled: bool = False) -> dict[tuple[str, str, str], dict]:
    latest: dict[tuple[str, str, str], dict] = {}
    for path, doc in _results():
        if "scenario" not in doc or bool(doc.get("profiled")) != include_profiled:
            continue
        doc["_path"] = str(path.relative_to(ROOT))
        latest[(doc["scenario"], doc["mode"], doc["server"])] = doc
    return latest


def newest_curves() -> dict[tuple[str, str], list]:
    """The newest open-loop load curve of each configuration: a `--no-curve` run (the
    newest throughput figure, often) has none, and must not hide an earlier curve."""
    curves: dict[tuple[str, str], list] = {}
    for _, doc in _results("throughput-*.json"):
        curve = doc.get("figures", {}).get("curve")
        if curve and not doc.get("profiled") and (doc["mode"], doc["server"]) in CONFIGS:
            curves[(doc["mode"], doc["server"])] = curve
    return curves


def _v(verdicts: list[dict], name: str) -> str:
    for v in verdicts:
        if v["target"] == name:
            unit = f" {v['unit']}" if v["unit"] else ""
            return f"**{v['verdict']}** ({v['op']} {v['limit']:g}{unit})"
    return ""


def _ms(d: dict | None, key: str) -> str:
    if not d or d.get("n", 0) == 0 or d.get(key) is None:
        return "–"
    return f"{d[key]:.1f}" if d[key] >= 10 else f"{d[key]:.2f}"


def rows_for(doc: dict) -> list[tuple[str, str, str]]:
    """(figure, value, verdict) rows of one result."""
    f, v, s = doc["figures"], doc["verdicts"], doc["scenario"]
    rows: list[tuple[str, str, str]] = []
    if s == "dispatch_latency":
        lat = f["dispatch_latency_ms"]
        if f.get("infeasible"):
            return [("dispatch", f"infeasible: {f['infeasible']}", "")]
        rows.append(
            (
                "dispatch p50 / p95 / p99 / max (ms)",
                " / ".join(_ms(lat, k) for k in ("p50", "p95", "p99", "max")),
                " ".join(x for x in (_v(v, "dispatch p50"), _v(v, "dispatch p99")) if x),
            )
        )
        fl = f["floor"]
        rows.append(
            (
                "floor p50: HTTP /health + WS ping/pong + DB commit (ms)",
                f"{_ms(fl['http_health'], 'p50')} + {_ms(fl['ws_ping_pong'], 'p50')} + "
                f"{_ms(fl['db_commit'], 'p50')} = {fl['total_p50_ms']:.2f}",
                "",
            )
        )
        if f.get("latency_over_floor_p50") is not None:
            rows.append(
                (
                    "dispatch p50 ÷ floor",
                    f"{f['latency_over_floor_p50']:.2f}×",
                    _v(v, "dispatch p50 / floor"),
                )
            )
        rows.append(
            (
                "hub CPU per dispatch (ms, whole lifecycle)",
                f"{f['hub_cpu_ms_per_dispatch']:.1f}",
                "",
            )
        )
    elif s == "throughput":
        done = f"{f['tasks_completed']} of {f['tasks_submitted']} submitted"
        if f.get("capped"):
            done += f" (capped at {doc['params'].get('max_seconds', '?'):g} s)"
        rows.append(
            (
                "lifecycles/s (submitted → completed)",
                f"{f['lifecycles_per_s']:.0f}",
                " ".join(
                    x
                    for x in (_v(v, "lifecycles/s (embedded)"), _v(v, "lifecycles/s (best mode)"))
                    if x
                ),
            )
        )
        rows.append(("tasks", done, ""))
        rows.append(
            (
                "hub CPU s per lifecycle",
                f"{f['hub_cpu_s_per_lifecycle'] * 1000:.1f} ms"
                f" ({f['hub_cpu_utilisation_cores']:.2f} cores busy)",
                "",
            )
        )
        if f.get("db_and_redis_cpu_s_per_lifecycle") is not None:
            rows.append(
                (
                    "Postgres + Redis CPU per lifecycle",
                    f"{f['db_and_redis_cpu_s_per_lifecycle'] * 1000:.1f} ms",
                    "",
                )
            )
        curve = f.get("curve") or []
        if curve:
            best = max(curve, key=lambda c: c["lifecycles_per_s"])
            rows.append(
                (
                    "open-loop: best sustained rate, dispatch p50/p99 there",
                    f"{best['lifecycles_per_s']:.0f}/s at {best['offered_per_s']:g}/s offered, "
                    f"{_ms(best['dispatch_ms'], 'p50')} / {_ms(best['dispatch_ms'], 'p99')} ms",
                    "",
                )
            )
    elif s == "connections":
        for n, level in f["levels"].items():
            ident = f"{level['identified']}/{level['agents']}"
            rows.append(
                (
                    f"{n} agents: identified, time for all (s)",
                    f"{ident} in {level['identify_all_s']}",
                    "",
                )
            )
            rows.append(
                (
                    f"{n} agents: RSS per connection (KB)",
                    f"{level['kb_per_connection']:.0f}"
                    f" ({level['rss_before_mb']:.0f} → {level['rss_after_mb']:.0f} MB)",
                    "",
                )
            )
            lat = level["dispatch_latency_ms"]
            rows.append(
                (
                    f"{n} agents: dispatch p50 / p99 (ms)",
                    f"{_ms(lat, 'p50')} / {_ms(lat, 'p99')}"
                    + (f" ({level['dispatch_lost']} lost)" if level["dispatch_lost"] else ""),
                    "",
                )
            )
        for n, why in (f.get("skipped") or {}).items():
            rows.append((f"{n} agents", why, ""))
        for verdict in v:
            rows.append(
                (
                    verdict["target"],
                    f"{verdict['value']}",
                    f"**{verdict['verdict']}** ({verdict['op']} {verdict['limit']:g}"
                    f"{(' ' + verdict['unit']) if verdict['unit'] else ''})",
                )
            )
    elif s == "queue_depth":
        for depth, row in f["depths"].items():
            rows.append(
                (
                    f"queue {int(depth):,}: decision p50 / p99 (ms)",
                    f"{_ms(row['decision_ms'], 'p50')} / {_ms(row['decision_ms'], 'p99')}",
                    "",
                )
            )
            rows.append(
                (
                    f"queue {int(depth):,}: DISTINCT keys query; bulk ms/claim",
                    f"{_ms(row['distinct_keys_query_ms'], 'p50')} ms; "
                    f"{row['bulk_ms_per_claim'] if row['bulk_ms_per_claim'] is not None else '–'}",
                    "",
                )
            )
        for verdict in v:
            rows.append(
                (
                    verdict["target"],
                    f"{verdict['value']}×",
                    f"**{verdict['verdict']}** (≤ {verdict['limit']:g}×)",
                )
            )
    elif s == "recovery":
        if f["all_reassigned_ms_median"] is not None and all(r["complete"] for r in f["rounds"]):
            value = f"{f['all_reassigned_ms_median']:.0f} / {f['all_reassigned_ms_max']:.0f}"
        else:
            limit = doc["params"].get("timeout", 60)
            value = (
                f"not all within {limit:g} s: "
                + ", ".join(f"{r['reassigned']}/{r['tasks']}" for r in f["rounds"])
                + " reassigned"
            )
        rows.append(
            ("100 dropped: all tasks reassigned (ms, median of rounds / max)", value, "no target")
        )
        first = [r["first_ms"] for r in f["rounds"] if r["first_ms"] is not None]
        rows.append(
            (
                "first task reassigned (ms, per round)",
                ", ".join(f"{x:.0f}" for x in first) or "none",
                "",
            )
        )
    elif s == "soak":
        per_minute = f["lifecycles_per_s_per_minute"]
        rows.append(
            (
                f"RSS start → end over {f['window_s'] / 60:.3g} min (MB); slope",
                f"{f['rss_start_mb']:.1f} → {f['rss_end_mb']:.1f}; "
                f"{f['rss_slope_kb_per_min']:+.0f} KB/min ({f['rss_slope_mb_per_hour']:+.2f} MB/h)",
                _v(v, "RSS growth over the window (fit)"),
            )
        )
        rows.append(
            (
                "lifecycles/s achieved of offered (per minute: min / median)",
                f"{f['lifecycles_per_s']:.0f} of {f['offered_per_s']:g}"
                f" ({per_minute['min']} / {per_minute['median']})",
                _v(v, "lifecycles/s achieved"),
            )
        )
        rows.append(
            (
                "dispatch p50 / p99 (ms); hub CPU per lifecycle",
                f"{_ms(f['dispatch_ms'], 'p50')} / {_ms(f['dispatch_ms'], 'p99')}; "
                f"{f['hub_cpu_ms_per_lifecycle']:.1f} ms",
                "",
            )
        )
    return rows


def table(latest: dict) -> str:
    lines = ["| scenario | mode | server | figure | value | target |", "|---|---|---|---|---|---|"]
    keys = sorted(latest, key=lambda k: (ORDER.index(k[0]) if k[0] in ORDER else 99, k[1], k[2]))
    for key in keys:
        doc = latest[key]
        for i, (figure, value, verdict) in enumerate(rows_for(doc)):
            head = (f"{key[0]}", key[1], key[2]) if i == 0 else ("", "", "")
            lines.append(f"| {' | '.join(head)} | {figure} | {value} | {verdict} |")
    return "\n".join(lines)


def machine_block(latest: dict) -> str:
    if not latest:
        return "(no results yet)"
    doc = max(latest.values(), key=lambda d: d["finished_at"])
    m = doc["machine"]
    vers = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    return (
        f"- `nproc`: {m['nproc']}; CPU: {m['cpu_model']}; RAM: {m['ram_gib']} GiB; "
        f"kernel {m['kernel']}\n- Python {m['python']}; {vers}\n"
        f"- results from {min(d['finished_at'] for d in latest.values())} to "
        f"{max(d['finished_at'] for d in latest.values())}; load average at the start of "
        f"the last run: {', '.join(f'{x:.2f}' for x in m['loadavg_at_start'])} "
        "(other work shares this machine)\n- hub code measured (git HEAD of each result): "
        + ", ".join(sorted({d["machine"].get("git", "?") for d in latest.values()}))
    )


def profile_block() -> str:
    profiled = load_latest(include_profiled=True)
    out = []
    for key in sorted(profiled):
        doc = profiled[key]
        costs = doc.get("profile")
        if not costs:
            continue
        out.append(
            f"**{key[0]} [{key[1]} / {key[2]}]**: {costs['samples']} samples of the "
            f"GIL-holding thread (`py-spy record --gil`), from `{doc['_path']}`\n"
        )
        out.append(
            "| hub function (inclusive) | share | | function (self) | share |"
            " | library (self) | share |"
        )
        out.append("|---|---|---|---|---|---|---|---|")
        for i in range(12):
            cells = []
            for name in ("inclusive_hub", "self", "self_by_library"):
                rows = costs.get(name, [])
                if i < len(rows):
                    cells += [f"`{rows[i]['function']}`", f"{rows[i]['share']}%"]
                else:
                    cells += ["", ""]
            out.append(
                f"| {cells[0]} | {cells[1]} | | {cells[2]} | {cells[3]} |"
                f" | {cells[4]} | {cells[5]} |"
            )
        out.append("")
    return "\n".join(out) or "(run with `--profile` to fill this in)"


def replace_block(text: str, name: str, body: str) -> str:
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        return text + f"\n{start}\n{body}\n{end}\n"
    return pattern.sub(lambda _: f"{start}\n{body}\n{end}", text)


# --- plots -----------------------------------------------------------------------------------


def plots(latest: dict) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    PLOTS.mkdir(parents=True, exist_ok=True)
    made = []
    colours = {
        ("embedded", "daphne"): "tab:blue",
        ("embedded", "uvicorn"): "tab:cyan",
        ("scaled", "daphne"): "tab:red",
        ("scaled", "uvicorn"): "tab:orange",
    }

    # 1. dispatch latency percentiles per configuration, with the floor
    configs = [
        c
        for c in CONFIGS
        if ("dispatch_latency", *c) in latest
        and latest[("dispatch_latency", *c)]["figures"]["dispatch_latency_ms"].get("n")
    ]
    if configs:
        fig, ax = plt.subplots(figsize=(9, 4.5))
        width = 0.2
        for j, pct in enumerate(("p50", "p95", "p99")):
            values = [
                latest[("dispatch_latency", *c)]["figures"]["dispatch_latency_ms"][pct]
                for c in configs
            ]
            ax.bar([i + (j - 1) * width for i in range(len(configs))], values, width, label=pct)
        floors = [
            latest[("dispatch_latency", *c)]["figures"]["floor"]["total_p50_ms"] for c in configs
        ]
        ax.scatter(
            range(len(configs)),
            floors,
            marker="_",
            s=900,
            color="black",
            zorder=3,
            label="floor (HTTP+WS+commit p50)",
        )
        ax.axhline(5, color="green", ls=":", lw=1, label="embedded p50 target 5 ms")
        ax.axhline(15, color="olive", ls="--", lw=1, label="embedded p99 target 15 ms")
        ax.axhline(25, color="grey", ls="--", lw=1, label="scaled p99 target 25 ms")
        ax.set_xticks(range(len(configs)), [f"{m}\n{s}" for m, s in configs])
        ax.set_ylabel("POST → task_assign (ms)")
        ax.set_title("Dispatch latency, one task at a time, 50 idle agents")
        ax.legend(fontsize=8)
        fig.tight_layout()
        made.append(_save(fig, "dispatch_latency.png"))

    # 2. throughput and latency against offered load (open loop)
    curves = newest_curves()
    if curves:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5))
        for c, curve in curves.items():
            x = [p["offered_per_s"] for p in curve]
            a1.plot(
                x,
                [p["lifecycles_per_s"] for p in curve],
                "o-",
                color=colours[c],
                label=f"{c[0]}/{c[1]}",
            )
            a2.plot(
                x,
                [p["dispatch_ms"].get("p50") for p in curve],
                "o-",
                color=colours[c],
                label=f"{c[0]}/{c[1]} p50",
            )
            a2.plot(
                x,
                [p["dispatch_ms"].get("p99") for p in curve],
                "x--",
                color=colours[c],
                label=f"{c[0]}/{c[1]} p99",
            )
        top = max(p["offered_per_s"] for v in curves.values() for p in v)
        a1.plot([0, top], [0, top], color="grey", lw=0.8, ls=":", label="offered")
        a1.set_xlabel("offered tasks/s")
        a1.set_ylabel("completed lifecycles/s")
        a1.set_title("Throughput against offered load")
        a1.legend(fontsize=8)
        a2.set_xlabel("offered tasks/s")
        a2.set_ylabel("POST → task_assign (ms)")
        a2.set_yscale("log")
        a2.set_title("Dispatch latency against offered load")
        a2.legend(fontsize=7)
        fig.tight_layout()
        made.append(_save(fig, "throughput_vs_load.png"))

    # 3. bulk throughput per configuration
    configs = [c for c in CONFIGS if ("throughput", *c) in latest]
    if configs:
        fig, ax = plt.subplots(figsize=(8, 4))
        values = [latest[("throughput", *c)]["figures"]["lifecycles_per_s"] for c in configs]
        ax.bar(range(len(configs)), values, color=[colours[c] for c in configs])
        ax.axhline(300, color="green", ls=":", label="embedded target 300/s")
        ax.axhline(1000, color="grey", ls="--", label="best-mode target 1000/s")
        ax.set_xticks(range(len(configs)), [f"{m}\n{s}" for m, s in configs])
        ax.set_ylabel("lifecycles/s")
        ax.set_title("Bulk throughput, 100 instant agents")
        ax.legend(fontsize=8)
        fig.tight_layout()
        made.append(_save(fig, "throughput.png"))

    # 4. connections: dispatch latency, memory and identify time against connected agents
    conns = {
        c: latest[("connections", *c)]["figures"]["levels"]
        for c in CONFIGS
        if ("connections", *c) in latest
    }
    if conns:
        fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
        for c, levels in conns.items():
            points = []
            base = latest.get(("dispatch_latency", *c))
            if base and base["figures"]["dispatch_latency_ms"].get("n"):
                points.append(
                    (base["figures"]["agents"], base["figures"]["dispatch_latency_ms"], None, None)
                )
            for n, level in levels.items():
                points.append(
                    (
                        int(n),
                        level["dispatch_latency_ms"],
                        level["kb_per_connection"],
                        level["identify_all_s"],
                    )
                )
            points.sort(key=lambda p: p[0])
            xs = [p[0] for p in points if p[1].get("n")]
            axes[0].plot(
                xs,
                [p[1]["p50"] for p in points if p[1].get("n")],
                "o-",
                color=colours[c],
                label=f"{c[0]}/{c[1]} p50",
            )
            axes[0].plot(
                xs,
                [p[1]["p99"] for p in points if p[1].get("n")],
                "x--",
                color=colours[c],
                label=f"{c[0]}/{c[1]} p99",
            )
            mem = [(p[0], p[2]) for p in points if p[2] is not None]
            axes[1].plot(
                [m[0] for m in mem],
                [m[1] for m in mem],
                "o-",
                color=colours[c],
                label=f"{c[0]}/{c[1]}",
            )
            ident = [(p[0], p[3]) for p in points if p[3] is not None]
            axes[2].plot(
                [m[0] for m in ident],
                [m[1] for m in ident],
                "o-",
                color=colours[c],
                label=f"{c[0]}/{c[1]}",
            )
        axes[0].axhline(25, color="grey", ls="--", lw=1, label="p99 target 25 ms")
        axes[0].set_yscale("log")
        axes[0].set_title("Dispatch latency vs connected agents")
        axes[0].set_ylabel("ms")
        axes[1].axhline(35, color="grey", ls="--", lw=1, label="target 35 KB")
        axes[1].set_title("Hub RSS per connection")
        axes[1].set_ylabel("KB")
        axes[2].set_title("Time for all agents to identify")
        axes[2].set_ylabel("s")
        for ax in axes:
            ax.set_xscale("log")
            ax.set_xlabel("connected agents")
            ax.legend(fontsize=7)
        fig.tight_layout()
        made.append(_save(fig, "connections.png"))

    # 5. queue depth
    qd = {
        m: latest[("queue_depth", m, "none")]["figures"]
        for m in ("embedded", "scaled")
        if ("queue_depth", m, "none") in latest
    }
    if qd:
        fig, ax = plt.subplots(figsize=(8, 4))
        for m, figs in qd.items():
            depths = sorted(figs["depths"], key=int)
            xs = [max(1, int(d)) for d in depths]
            colour = "tab:blue" if m == "embedded" else "tab:red"
            ax.plot(
                xs,
                [figs["depths"][d]["decision_ms"]["p50"] for d in depths],
                "o-",
                color=colour,
                label=f"{figs['database']} decision p50",
            )
            ax.plot(
                xs,
                [figs["depths"][d]["decision_ms"]["p99"] for d in depths],
                "x--",
                color=colour,
                label=f"{figs['database']} decision p99",
            )
            ax.plot(
                xs,
                [figs["depths"][d]["distinct_keys_query_ms"]["p50"] for d in depths],
                ":",
                color=colour,
                label=f"{figs['database']} DISTINCT keys query",
            )
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlabel("queued tasks (0 shown at 1)")
        ax.set_ylabel("ms")
        ax.set_title("Scheduling decision time vs queue depth, 1 000 agents")
        ax.legend(fontsize=8)
        fig.tight_layout()
        made.append(_save(fig, "queue_depth.png"))
    return made


def _save(fig, name: str) -> Path:
    import matplotlib.pyplot as plt

    path = PLOTS / name
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


PARTS = ("machine", "table", "profile", "plots")


def main() -> None:
    ensure_venv()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    parts = set(parser.parse_args().only)
    latest = load_latest()
    text = table(latest)
    print(text)
    if "plots" in parts:
        for path in plots(latest):
            print(f"plot: {path.relative_to(ROOT)}")
    if DOC.exists():
        doc = DOC.read_text()
        blocks = {
            "machine": lambda: machine_block(latest),
            "table": lambda: text,
            "profile": profile_block,
        }
        for name, body in blocks.items():
            if name in parts:
                doc = replace_block(doc, name, body())
        DOC.write_text(doc)
        print(f"updated {DOC.name}: {', '.join(sorted(parts & set(blocks)))}")


if __name__ == "__main__":
    main()

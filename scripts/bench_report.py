"""Turns the raw measurements of ``scripts/bench.py`` into ``docs/benchmarks.md`` and a plot.

Medians over repetitions. A target's ratio is the median of the ratios taken
within each repetition (where the two clients ran close together, so a slow
spell of a shared machine weighs on both sides); the ratio of the medians is
shown beside it.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from importlib import metadata
from pathlib import Path
from typing import Any

#: Every client, in table order; ours first, then the floors, then the peers.
CLIENTS = (
    "synapsis",
    "httpx_trio",
    "trio_socket",
    "trio_tls_drain",
    "anthropic_raw",
    "anthropic_stream",
    "openai_raw",
    "openai_stream",
    "litellm",
)
LABELS = {
    "synapsis": "synapsis_actors open_stream (trio)",
    "httpx_trio": "bare httpx on trio (floor)",
    "trio_socket": "hand-written trio socket client (floor)",
    "trio_tls_drain": "the same over TLS by hand, decoding every TLS record each read "
    "returned (the TLS floor)",
    "anthropic_raw": "anthropic SDK, raw events (asyncio)",
    "anthropic_stream": "anthropic SDK, messages.stream() (asyncio)",
    "openai_raw": "openai SDK, create(stream=True) (asyncio)",
    "openai_stream": "openai SDK, chat.completions.stream() (asyncio)",
    "litellm": "LiteLLM acompletion(stream=True) (asyncio)",
}
SCENARIO_TITLES = {
    "burst": "1 stream x {n:,} deltas, as fast as possible",
    "concurrent": "{streams} concurrent streams x {n:,} deltas",
    "sequential": "{requests} sequential short requests ({n} deltas each, one client)",
    "paced": "{streams} concurrent streams paced at {pace:g} events/s, {n} deltas each",
    "import": "import time and first request (fresh process)",
    "cancel": "cancel latency with {streams:,} open streams "
    "(leave the block -> server sees the close)",
    "recancel": "{rounds} times: cancel a stream after its first delta, then time a new "
    "{n}-delta request (same client)",
    "sustained": "concurrent {pace:g}-events/s streams one core sustains "
    "with p99 delivery delay <= {limit_ms:g} ms",
}

# (scenario, key in the result, column title, unit, lower is better)
METRICS: tuple[tuple[str, str, str, str, bool], ...] = (
    ("burst", "cpu_us_per_event", "CPU per event", "us", True),
    ("concurrent", "cpu_us_per_event", "CPU per event", "us", True),
    ("concurrent", "maxrss_mib", "peak RSS (process)", "MiB", True),
    ("sequential", "ms_per_request", "wall time per request", "ms", True),
    ("sequential", "cpu_ms_per_request", "CPU per request", "ms", True),
    ("paced", "cpu_us_per_event", "CPU per event", "us", True),
    ("import", "import_s", "import time", "s", True),
    ("import", "first_event_ms", "first request: client setup to first delta", "ms", True),
    ("cancel", "p50_ms", "cancel latency p50", "ms", True),
    ("cancel", "p99_ms", "cancel latency p99", "ms", True),
    ("cancel", "maxrss_mib", "peak RSS with the streams open (process)", "MiB", True),
    ("recancel", "next_request_ms", "next request after a cancel, p50", "ms", True),
    ("recancel", "next_request_p90_ms", "next request after a cancel, p90", "ms", True),
    ("sustained", "max_streams", "streams sustained", "streams", False),
)

Key = tuple[str, str, str, str]  # scenario, shape, client, metric
ByRep = dict[Key, dict[int, float]]  # the same values, by repetition

SDKS = {
    "anthropic": ("anthropic_raw", "anthropic_stream"),
    "openai": ("openai_raw", "openai_stream"),
    "any": ("anthropic_stream", "openai_raw"),
}
PACKAGES = (
    "synapsis-actors",
    "trio",
    "httpx",
    "h11",
    "anthropic",
    "openai",
    "litellm",
    "aiohttp",
    "pydantic",
    "matplotlib",
)


def complete(result: dict[str, Any]) -> bool:
    """The run succeeded and every stream got its done (and every delta, where counted)."""
    if not result.get("ok"):
        return False
    if result.get("done") != result.get("streams"):
        return False
    expected = result.get("expected_events")
    return expected is None or result.get("events") == expected


def aggregate(
    records: list[dict[str, Any]],
) -> tuple[dict[Key, list[float]], ByRep, list[str]]:
    values: dict[Key, list[float]] = defaultdict(list)
    by_rep: ByRep = defaultdict(dict)
    problems: list[str] = []
    for rec in records:
        res = rec["result"]
        where = f"{rec['scenario']}/{rec['shape']}/{rec['client']} (rep {rec['rep'] + 1})"
        if not res.get("ok"):
            problems.append(f"{where}: failed: {res.get('error')}")
            continue
        if not complete(res):
            problems.append(
                f"{where}: incomplete: done {res.get('done')}/{res.get('streams')}, "
                f"deltas {res.get('events')}/{res.get('expected_events')}"
            )
            continue
        # import is about the library, not the wire shape: one table for all clients
        shape = "any" if rec["scenario"] == "import" else rec["shape"]
        for scenario, key, *_ in METRICS:
            value = res.get(key)
            if (
                scenario == rec["scenario"]
                and isinstance(value, int | float)
                and not math.isnan(value)
            ):
                values[(rec["scenario"], shape, rec["client"], key)].append(float(value))
                by_rep[(rec["scenario"], shape, rec["client"], key)][rec["rep"]] = float(value)
    return values, by_rep, problems


def median(values: dict[Key, list[float]], key: Key) -> float | None:
    got = values.get(key)
    return statistics.median(got) if got else None


def fmt(x: float | None, unit: str = "") -> str:
    if x is None:
        return "—"
    if unit == "streams":
        return f"{x:,.0f}"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}x"


def versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


# ====================================================================== targets


_SDK_TARGET = {
    "anthropic": ("anthropic_stream", 1 / 3, "anthropic SDK messages.stream()"),
    "openai": ("openai_raw", 1 / 5, "openai SDK create(stream=True)"),
}
#: (scenario, shape, metric, reference client, limit on ours/reference, what)
RATIO_TARGETS: tuple[tuple[str, str, str, str, float, str], ...] = (
    *(
        (scenario, shape, "cpu_us_per_event", ref, limit, f"CPU/event vs {what}")
        for scenario in ("burst", "concurrent")
        for shape in ("anthropic", "openai")
        for ref, limit, what in (_SDK_TARGET[shape], ("httpx_trio", 1.5, "bare httpx"))
    ),
    *(
        ("sequential", shape, "ms_per_request", "httpx_trio", 1.5, "time/request vs bare httpx")
        for shape in ("anthropic", "openai")
    ),
    ("paced", "anthropic", "cpu_us_per_event", "httpx_trio", 1.3, "CPU/event vs bare httpx"),
    *(
        ("concurrent", shape, "maxrss_mib", "httpx_trio", 1.6, "peak RSS vs bare httpx's")
        for shape in ("anthropic", "openai")
    ),
)
#: (scenario, metric, limit, unit, what): absolute limits on our own numbers.
ABSOLUTE_TARGETS = (
    ("import", "import_s", 0.3, "s", "import synapsis_actors"),
    ("cancel", "p99_ms", 10.0, "ms", "cancel latency p99 with 1,000 open streams"),
)


def paired_ratio(by_rep: ByRep, ours: Key, theirs: Key) -> float | None:
    """The median over repetitions of ours / theirs in that repetition (None if no pair)."""
    a, b = by_rep.get(ours, {}), by_rep.get(theirs, {})
    ratios = [a[rep] / b[rep] for rep in a.keys() & b.keys() if b[rep]]
    return statistics.median(ratios) if ratios else None


#: Targets of the TLS and HTTP/2 runs, in the same form (the plaintext run uses the above).
TRANSPORT_RATIO_TARGETS: dict[str, tuple[tuple[str, str, str, str, float, str], ...]] = {
    "plain": (
        *(
            ("burst", shape, "cpu_us_per_event", "trio_socket", 1.3, "CPU/event vs raw trio client")
            for shape in ("anthropic", "openai")
        ),
        *(
            (
                scenario,
                shape,
                "cpu_us_per_event",
                "httpx_trio",
                0.5,
                "CPU/event vs bare httpx (no regression: half or less)",
            )
            for scenario in ("burst", "concurrent")
            for shape in ("anthropic", "openai")
        ),
    ),
    "tls": tuple(
        (
            scenario,
            shape,
            "cpu_us_per_event",
            "trio_tls_drain",
            1.5,
            "CPU/event vs the draining raw trio TLS client",
        )
        for scenario in ("burst", "concurrent")
        for shape in ("anthropic", "openai")
    ),
    "h2": tuple(
        (scenario, "anthropic", "cpu_us_per_event", ref, 0.5, f"CPU/event vs {what} over HTTP/2")
        for scenario in ("burst", "concurrent")
        for ref, what in (
            ("httpx_trio", "bare httpx"),
            ("anthropic_stream", "anthropic SDK messages.stream()"),
        )
    ),
}
#: Every transport's, plaintext's included (it replaced an earlier ">= 1.3x" there).
_SUSTAINED_2X = (
    "sustained",
    "anthropic",
    "max_streams",
    "anthropic_stream",
    2.0,
    "streams per core vs anthropic SDK messages.stream() on this transport (at least)",
)
TRANSPORT_ABSOLUTE_TARGETS: dict[str, tuple[tuple[str, str, float, str, str], ...]] = {
    "h2": (("cancel", "p99_ms", 2.0, "ms", "HTTP/2 stream reset seen by the server, p99"),),
}


def targets_for(transport: str) -> tuple[Any, Any]:
    """(ratio targets, absolute targets) of a run over ``transport``."""
    if transport == "plain":
        return RATIO_TARGETS + TRANSPORT_RATIO_TARGETS["plain"] + (_SUSTAINED_2X,), ABSOLUTE_TARGETS
    return (
        TRANSPORT_RATIO_TARGETS[transport] + (_SUSTAINED_2X,),
        TRANSPORT_ABSOLUTE_TARGETS.get(transport, ()),
    )


def targets(
    values: dict[Key, list[float]],
    by_rep: ByRep | None = None,
    transport: str = "plain",
) -> list[tuple[str, str, str, bool | None]]:
    """(target, measured, limit, pass?) for our client; None when a side is missing.

    A ratio target is judged on the median of the per-repetition ratios when
    ``by_rep`` is given (the ratio of the medians is shown beside it).
    """
    rows: list[tuple[str, str, str, bool | None]] = []
    ratio_targets, absolute_targets = targets_for(transport)
    for scenario, shape, key, ref, limit, what in ratio_targets:
        at_least = key == "max_streams"  # more is better
        name = f"{scenario}, {shape} shape: {what}"
        bound = f"{'>=' if at_least else '<='} {limit:.2f}x"
        ours = median(values, (scenario, shape, "synapsis", key))
        theirs = median(values, (scenario, shape, ref, key))
        if ours is None or not theirs:
            rows.append((name, "—", bound, None))
            continue
        of_medians = ours / theirs
        paired = None
        if by_rep is not None:
            paired = paired_ratio(
                by_rep, (scenario, shape, "synapsis", key), (scenario, shape, ref, key)
            )
        r = of_medians if paired is None else paired
        measured = f"{r:.2f}x" if paired is None else f"{r:.2f}x ({of_medians:.2f}x)"
        rows.append((name, measured, bound, r >= limit if at_least else r <= limit))
    for scenario, key, limit, unit, what in absolute_targets:
        shape = "any" if scenario == "import" else "anthropic"
        ours = median(values, (scenario, shape, "synapsis", key))
        measured = "—" if ours is None else f"{fmt(ours, unit)} {unit}"
        rows.append((what, measured, f"< {limit:g} {unit}", None if ours is None else ours < limit))
    return rows


# ====================================================================== markdown


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


TRANSPORT_TITLES = {
    "plain": "plaintext HTTP/1.1",
    "tls": "HTTP/1.1 over TLS",
    "h2": "HTTP/2 over TLS",
}


def write_report(
    records: list[dict[str, Any]], meta: dict[str, Any], out: Path, png: Path | None
) -> None:
    transports = meta.get("transports", ["plain"])
    lines: list[str] = [
        "# Benchmarks against peers",
        "",
        "Written by `scripts/bench.py`"
        + (
            " in **quick mode** (small N, one repetition: a smoke run, not a measurement)"
            if meta["quick"]
            else ""
        )
        + f" on {meta['started']} in {meta['duration_s'] / 60:.1f} min. "
        "Do not edit by hand: rerun the script (see the end of this page).",
        "",
        "Every number is the **median over "
        f"{meta['reps']} repetitions** (the sustained ladder: {meta['sustained_reps']}), "
        "clients interleaved (A B C A B C ...), each client run in a fresh subprocess. "
        "Lower is better except *streams sustained*. Ratios divide one client's median by "
        "another's, both from this run.",
        "",
    ]
    several = len(transports) > 1
    if "tls" in transports and "h2" in transports:
        lines += _https_default(records)
    if several:
        lines += [
            "Transports: " + ", ".join(f"[{TRANSPORT_TITLES[t]}](#{t})" for t in transports) + ".",
            "",
        ]
    all_values: dict[Key, list[float]] = {}
    for transport in transports:
        mine = [r for r in records if r.get("transport", "plain") == transport]
        section, values = _transport_section(mine, meta, transport)
        if several:
            lines += [f'<a id="{transport}"></a>', "", f"## {TRANSPORT_TITLES[transport]}", ""]
            section = ["#" + line if line.startswith("##") else line for line in section]
        elif transport != "plain":
            lines += [f"Transport: **{TRANSPORT_TITLES[transport]}**.", ""]
        lines += section
        if transport == transports[0]:
            all_values = values
    lines += ["Client legend:", ""]
    lines += [f"- `{c}`: {LABELS[c]}" for c in CLIENTS if c in meta["clients"]]
    lines.append("")
    if meta["notes"]:
        lines += ["Skipped:", ""]
        lines += [f"- `{c}`: {why}" for c, why in meta["notes"].items()]
        lines.append("")
    if png is not None:
        plot(all_values, meta, png)
        lines += [f"![medians per scenario, {TRANSPORT_TITLES[transports[0]]}]({png.name})", ""]
    lines += _method(meta)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


def _transport_section(
    records: list[dict[str, Any]], meta: dict[str, Any], transport: str
) -> tuple[list[str], dict[Key, list[float]]]:
    """The targets and results of one transport's runs (and their medians)."""
    values, by_rep, problems = aggregate(records)
    params = meta["params"]
    lines: list[str] = [
        "## Targets (ratios in the same run)",
        "",
        "*measured* is the median of the ratios taken within each repetition, where both "
        "clients ran close together (a slow spell of a shared machine then weighs on both); "
        "in brackets, the ratio of the two medians. The verdict uses the first.",
        "",
    ]
    rows = []
    for name, measured, limit, ok in targets(values, by_rep, transport):
        verdict = "n/a" if ok is None else ("pass" if ok else "**MISS**")
        rows.append([name, measured, limit, verdict])
    lines += _table(["target", "measured", "limit", ""], rows)
    server = _server_side(records)
    if server:
        lines += ["", server]
    lines += ["", "## Results", ""]
    lines += [
        "Columns: the median (min–max over repetitions in brackets), then the ratio of each "
        "client's median to bare httpx on trio and to the official SDKs of that shape.",
        "",
    ]
    scaled = meta.get("scale") or {}
    by_scenario: dict[tuple[str, str], list[tuple[str, str, str, bool]]] = defaultdict(list)
    for scenario, key, title, unit, lower in METRICS:
        for shape in ("anthropic", "openai", "any"):
            if any(k[0] == scenario and k[1] == shape for k in values):
                by_scenario[(scenario, shape)].append((key, title, unit, lower))
    for (scenario, shape), metrics in by_scenario.items():
        title = SCENARIO_TITLES[scenario].format(**params[scenario])
        lines += [
            f"### {scenario} — {title}"
            + (f" — {shape} shape" if scenario in ("burst", "concurrent", "sequential") else ""),
            "",
        ]
        main_key = metrics[0][0]
        refs = ["httpx_trio", *SDKS[shape]]
        header = ["client"] + [f"{t} ({u})" for _, t, u, _ in metrics]
        header += [f"÷ {r}" for r in refs]
        rows = []
        for client in CLIENTS:
            got = [values.get((scenario, shape, client, key)) for key, *_ in metrics]
            if not any(got):
                continue
            cells = [
                f"`{client}`"
                + (
                    " †"
                    if scenario in ("burst", "concurrent") and scaled.get(client, 1) > 1
                    else ""
                )
            ]
            for (_key, _t, unit, _l), vals in zip(metrics, got, strict=True):
                if not vals:
                    cells.append("—")
                    continue
                med = statistics.median(vals)
                spread = ""
                if len(vals) > 1:
                    spread = f" ({fmt(min(vals), unit)}–{fmt(max(vals), unit)})"
                cells.append(fmt(med, unit) + spread)
            ours = median(values, (scenario, shape, client, main_key))
            for ref in refs:
                cells.append(ratio(ours, median(values, (scenario, shape, ref, main_key))))
            rows.append(cells)
        lines += _table(header, rows)
        present = {c for c in CLIENTS if any(k[:3] == (scenario, shape, c) for k in values)}
        if scenario in ("burst", "concurrent") and any(scaled.get(c, 1) > 1 for c in present):
            lines += [
                "",
                "† streamed n/"
                + ", n/".join(f"{f} ({c})" for c, f in scaled.items() if c in present)
                + " deltas per stream (same number of streams) to keep the run short; "
                "their CPU per event does not depend on n.",
            ]
        if scenario == "sustained":
            lines += [
                "",
                "The ladder (p99 delivery delay at each step, first run; in brackets, "
                "with the wind-down counted; *gc N ms*: the longest full garbage "
                "collection in the counted window, where there was one):",
                "",
            ]
            for rec in records:
                res = rec["result"]
                if rec["scenario"] == "sustained" and rec["rep"] == 0 and res.get("ok"):
                    steps = ", ".join(_ladder_step(s) for s in res.get("steps", []))
                    lines.append(f"- `{rec['client']}`: {steps}")
        if scenario == "cancel":
            lines += [
                "",
                f"{params['cancel']['streams']:,} streams open (the server sends each one "
                "delta per second); then, one every "
                f"{params['cancel']['gap'] * 1000:g} ms, a stream's cancel scope is cancelled "
                "(trio) or its task cancelled (asyncio) while the rest stay open; latency = "
                "the server's `time.monotonic()` when it sees the connection close minus the "
                "client's just before cancelling.",
            ]
        lines.append("")
    if problems:
        lines += ["Runs that failed or were incomplete (left out of the medians):", ""]
        lines += [f"- {p}" for p in problems]
        lines.append("")
    return lines, values


#: The decision the comparison below supports, filled in with this run's medians
#: (the comparing words, too: ``{cpu}``, ``{sus}``, ``{cancel}``).
HTTPS_DEFAULT = (
    "**Decision: HTTP/2 stays the default for https** (`ProviderConfig.http2=True`; a "
    "server that only speaks HTTP/1.1 is still served over HTTP/1.1, by ALPN). HTTP/2 "
    "costs {cpu} CPU per event ({burst_h2} against {burst_h1} in the burst, {conc_h2} "
    "against {conc_h1} with 100 streams: h2 parses and runs its state machine per DATA "
    "frame, and a provider sends one frame per event) and one core sustains {sus} paced "
    "streams ({sus_n_h2} against {sus_n_h1}), but everything that grows with the "
    "number of streams is cheaper: 1,000 streams hold {conn_h2} connections instead of "
    "{conn_h1} (TCP and TLS handshakes, sockets, the provider's per-connection limits), "
    "and peak RSS is {rss_h2} against {rss_h1}; the server sees a cancel {cancel} (p99 "
    "{cancel_h2} against {cancel_h1}), and a cancel does not cost the next request a new "
    "connection ({next_h2} against {next_h1} here, on loopback; on a real network HTTP/1.1 "
    "adds the round trips of a TCP and a TLS handshake after every cancel). Choose "
    "`http2=False` for a few long bursts on a fast, near network, or when a provider's "
    "HTTP/2 front end misbehaves. First decided on the run of 2026-12-07; the numbers "
    "and the comparing words are this run's."
)


def _ladder_step(step: dict[str, Any]) -> str:
    """One sustained step for the ladder line: "150: 17.3 ms (17.5), gc 44 ms"."""
    text = f"{step['streams']}: {step['p99_ms']:.1f} ms"
    if "p99_all_ms" in step:
        text += f" ({step['p99_all_ms']:.1f})"
    if step.get("gc_full"):
        text += f", gc {step['gc_full_max_ms']:.0f} ms"
    return text


def _compare(h2: float | None, h1: float | None, words: tuple[str, str, str]) -> str:
    """``words`` = (HTTP/2 lower, about equal (within 5 %), HTTP/2 higher); "?" without both."""
    if h2 is None or h1 is None or not h1:
        return "?"
    ratio = h2 / h1
    return words[0] if ratio < 0.95 else words[2] if ratio > 1.05 else words[1]


def _https_default(records: list[dict[str, Any]]) -> list[str]:
    """Our client over HTTP/1.1 + TLS against HTTP/2: the numbers behind the https default."""
    rows: list[list[str]] = []

    values: dict[str, float | None] = {}

    def median(transport: str, scenario: str, key: str) -> float | None:
        got = [
            float(r["result"][key])
            for r in records
            if r.get("transport") == transport
            and r["client"] == "synapsis"
            and r["scenario"] == scenario
            and r.get("shape", "anthropic") == "anthropic"
            and complete(r["result"])
            and key in r["result"]
        ]
        return statistics.median(got) if got else None

    def cell(value: float | None, unit: str) -> str:
        return "—" if value is None else f"{fmt(value, unit)} {unit}".strip()

    def connections(transport: str) -> str:
        got = [
            sum((r["result"].get("server_connections") or {}).values())
            for r in records
            if r.get("transport") == transport
            and r["client"] == "synapsis"
            and r["scenario"] == "cancel"
            and r["result"].get("ok")
        ]
        return f"{statistics.median(got):,.0f}" if got else "—"

    cells: dict[str, str] = {}
    for name, title, scenario, key, unit in (
        ("burst", "CPU per event, 1 stream burst", "burst", "cpu_us_per_event", "us"),
        ("conc", "CPU per event, 100 concurrent streams", "concurrent", "cpu_us_per_event", "us"),
        ("sus", "paced streams one core sustains", "sustained", "max_streams", "streams"),
        ("rss", "peak RSS with 1,000 streams open (client process)", "cancel", "maxrss_mib", "MiB"),
        ("cancel", "cancel seen by the server, p99 (1,000 streams open)", "cancel", "p99_ms", "ms"),
        ("next", "next request after a cancel, p50", "recancel", "next_request_ms", "ms"),
    ):
        for proto, transport in (("_h1", "tls"), ("_h2", "h2")):
            values[name + proto] = median(transport, scenario, key)
            cells[name + proto] = cell(values[name + proto], unit)
        rows.append([title, cells[name + "_h1"], cells[name + "_h2"]])
    for proto in ("_h1", "_h2"):
        got = values["sus" + proto]
        cells["sus_n" + proto] = "—" if got is None else f"{got:,.0f}"
    cells["cpu"] = _compare(values["burst_h2"], values["burst_h1"], ("less", "as much", "more"))
    cells["sus"] = _compare(values["sus_h2"], values["sus_h1"], ("fewer", "as many", "more"))
    cells["cancel"] = _compare(
        values["cancel_h2"], values["cancel_h1"], ("sooner", "as soon", "later")
    )
    cells["conn_h1"], cells["conn_h2"] = connections("tls"), connections("h2")
    rows.insert(
        4,
        ["connections for 1,000 streams (seen by the server)", cells["conn_h1"], cells["conn_h2"]],
    )
    return [
        "## The https default: HTTP/1.1 or HTTP/2",
        "",
        "`synapsis` (this library), anthropic shape, medians of this run:",
        "",
        *_table(["", "HTTP/1.1 over TLS", "HTTP/2 over TLS"], rows),
        "",
        HTTPS_DEFAULT.format(**cells),
        "",
    ]


def _server_side(records: list[dict[str, Any]]) -> str:
    """One sentence: the server's CPU per event and the connections it saw, by protocol."""
    cpu = [
        r["result"]["server_cpu_us_per_event"]
        for r in records
        if r["result"].get("ok") and "server_cpu_us_per_event" in r["result"]
    ]
    if not cpu:
        return ""
    seen: dict[str, int] = defaultdict(int)
    for r in records:
        for proto, n in (r["result"].get("server_connections") or {}).items():
            seen[proto] += n
    return (
        f"Server side: median {statistics.median(cpu):.1f} us of server CPU per event "
        f"(max {max(cpu):.1f}) on its own core, beside the client's core (a client's CPU "
        f"per event is its own process's); connections carrying streams, summed over the "
        f"runs (each run's protocol is checked): "
        f"HTTP/1.1 {seen['h1']:,}, HTTP/2 {seen['h2']:,}."
    )


def _method(meta: dict[str, Any]) -> list[str]:
    mach = meta["machine"]
    lines = [
        "## Machine",
        "",
        f"- CPU: {mach['cpu']}, {mach['cores']} cores ({mach['usable_cores']} usable)",
        f"- Python: {mach['python']}",
        f"- OS: {mach['os']}",
        f"- Pinning: {meta['pinning']}; niceness {meta['nice']} where allowed",
        f"- Load average before / after: {meta['load_before'][0]:.2f} / "
        f"{meta['load_after'][0]:.2f} (the machine may be shared: medians, same-run ratios)",
        "",
        "## Versions",
        "",
    ]
    lines += [f"- {name} {ver}" for name, ver in versions().items()]
    lines += [
        "",
        "## How it measures",
        "",
        "- Server: `scripts/bench_server.py`, raw asyncio protocols in its own process: "
        "HTTP/1.1 keep-alive, chunked encoding, one write per SSE event, flow control "
        "honoured; Anthropic (`/v1/messages`) and OpenAI (`/v1/chat/completions`) shapes; "
        "what to stream is encoded in the model name. `--transport tls`: the same over TLS "
        "(a throwaway trustme CA, ALPN offering only HTTP/1.1), one TLS record per event; "
        "`--transport h2`: ALPN offers HTTP/2 and HTTP/1.1, and an HTTP/2 connection is "
        "served with the `h2` library, each event in its own DATA frame, flow-control "
        "windows honoured, `MAX_CONCURRENT_STREAMS` 100. The server counts the connections "
        "that carried a stream by protocol; a run that used another protocol than the one "
        "asked for fails.",
        "- Clients: `scripts/bench_clients.py`, one fresh subprocess per run. Every client "
        "does the same work per event: parse it, take the text delta, count it, recognise "
        "the end. Ours consumes typed `ProviderChunk` events and checks the accumulated "
        "message in `ProviderDone`; the SDKs' accumulating helpers check their final message.",
        "- CPU: `time.process_time()` of the client process around the measured section "
        "(imports and client construction excluded, except in the import scenario; "
        "a `gc.collect()` before it, so the garbage they left is charged to no client, "
        "then `gc.freeze()`, so the collections the measured work causes, which count, "
        "walk the objects it made and not the import heap: unfrozen, one full collection "
        "takes 20 ms (this library) to ~90 ms (the anthropic SDK) here, and one landing "
        "in a sustained step's window fails it by itself); "
        "peak RSS: `ru_maxrss` of the client process.",
        "- Delivery delay (sustained): the server writes its `time.monotonic()` into each "
        "delta; the client subtracts it from its own on receipt (CLOCK_MONOTONIC is "
        "system-wide on Linux). Counted: the deltas sent while all the step's streams "
        "were open, from "
        f"{meta['params']['sustained']['warmup']:g} s after the last stream started "
        "(its first delta) until the first stream got its last delta; the ramp-up "
        "(every request and handshake at once) and the wind-down (every stream "
        "finishing at once, then fewer streams open) are left out. The ladder also shows "
        "the p99 with the wind-down counted. The count steps up until p99 exceeds the limit.",
        "- LiteLLM runs with `LITELLM_OFFLINE_MODE` and its local cost map: no network.",
        "",
        "## How to rerun",
        "",
        "```",
        "pip install -e '.[bench]'",
        "python scripts/bench.py                      # full: every scenario, 3 repetitions",
        "python scripts/bench.py --quick              # smoke run, well under a minute",
        "python scripts/bench.py --transport plain,tls,h2   # all three transports, one page",
        "python scripts/bench.py --scenarios burst,concurrent --clients synapsis,httpx_trio",
        "python scripts/bench.py --json /tmp/bench.json   # keep every raw measurement",
        "```",
        "",
        f"This run: `python scripts/bench.py {' '.join(meta['argv'])}`".rstrip() + ".",
    ]
    return lines


# ====================================================================== plot


def plot(values: dict[Key, list[float]], meta: dict[str, Any], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    panels = []
    for scenario, key, title, unit, _lower in METRICS:
        if key == "cpu_ms_per_request":
            continue
        for shape in ("anthropic", "openai", "any"):
            data = [
                (c, statistics.median(values[(scenario, shape, c, key)]))
                for c in CLIENTS
                if values.get((scenario, shape, c, key))
            ]
            if data:
                where = scenario if shape == "any" else f"{scenario} ({shape})"
                panels.append((f"{where}: {title}", unit, data))
    if not panels:
        return
    cols = 3
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 2.6 * rows), squeeze=False)
    for ax, (title, unit, data) in zip(axes.flat, panels, strict=False):
        names = [c for c, _ in data][::-1]
        nums = [v for _, v in data][::-1]
        colors = [
            "#d62728"
            if n == "synapsis"
            else "#7f7f7f"
            if n in ("httpx_trio", "trio_socket")
            else "#1f77b4"
            for n in names
        ]
        ax.barh(names, nums, color=colors)
        positive = [v for v in nums if v > 0]
        if positive and max(positive) / min(positive) > 30:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(unit, fontsize=8)
        ax.tick_params(labelsize=7)
        for y, v in enumerate(nums):
            ax.text(v, y, " " + fmt(v, unit), va="center", fontsize=6)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle(
        "synapsis_actors (red) vs floors (grey) and peers (blue); medians"
        + (" — QUICK MODE" if meta["quick"] else ""),
        fontsize=11,
    )
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=90)
    plt.close(fig)

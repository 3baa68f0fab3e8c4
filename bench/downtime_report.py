# SPDX-License-Identifier: MIT
"""The report half of bench/downtime: statistics, targets, Markdown, JSON, SVG.

Imported by bench/downtime; `bench/downtime --report-only bench/out/downtime.json`
rebuilds the report from a saved run. Standard library only.
"""

import json
import math
import os

BLACKOUT_PARTS = ["stop", "save", "handover", "load", "run"]
PHASES = ["prebuild", "stop", "save", "handover", "load", "run", "blackout", "teardown"]
MEM_ORDER = {"256M": 0, "1G": 1, "4G": 2, "16G": 3}


# ---- statistics -------------------------------------------------------------

def pct(sorted_vals, q):
    """Nearest-rank percentile: the smallest value with at least q of the
    sample at or below it (p99 of 100 values is the 2nd largest)."""
    if not sorted_vals:
        return None
    k = max(1, int(math.ceil(q * len(sorted_vals))))
    return sorted_vals[k - 1]


def stats(vals):
    v = sorted(x for x in vals if x is not None)
    if not v:
        return {"count": 0, "min": None, "p50": None, "p99": None, "max": None, "mean": None}
    return {"count": len(v), "min": v[0], "p50": pct(v, 0.5), "p99": pct(v, 0.99),
            "max": v[-1], "mean": round(sum(v) / len(v), 1)}


def summarize(r, gap_log_us):
    ok = [u for u in r["updates"] if u["ok"]]
    s = {"name": r["name"], "kind": r["kind"], "mode": r["mode"], "cpus": r["cpus"], "mem": r["mem"],
         "attempted": len(r["updates"]), "ok": len(ok),
         "failed": len(r["updates"]) - len(ok),
         "failures": [{"i": u["i"], "error": u.get("error"), "result": u.get("result"),
                       "stderr": u.get("stderr")} for u in r["updates"] if not u["ok"]],
         "errors": list(r.get("errors", [])),
         "seconds": r.get("seconds"), "boot_s": r.get("boot_s"),
         "load_before": r.get("load_before"), "load_after": r.get("load_after"),
         "serial_seq_breaks": r.get("serial_seq_breaks"),
         "others_cpu_frac": r.get("others_cpu_frac"), "steal_frac": r.get("steal_frac"),
         "host_quiet": r.get("host_quiet"), "noisy_attempts": r.get("noisy_attempts") or [],
         "attempt": r.get("attempt", 0)}
    # serial method: the largest gap line in the window; none = below the threshold
    below = sum(1 for u in ok if u.get("serial_gap_us") is None)
    s["serial_below_threshold"] = below
    s["serial_gap_us"] = stats([u["serial_gap_us"] if u.get("serial_gap_us") is not None else gap_log_us
                                for u in ok])
    extra = 0
    for u in ok:
        per_cpu = {}
        for cpu, _ in u.get("serial_gaps", []):
            per_cpu[cpu] = per_cpu.get(cpu, 0) + 1
        extra += sum(n - 1 for n in per_cpu.values())
    s["extra_gap_lines_in_windows"] = extra
    out = list(r.get("gaps_outside_windows") or [])
    s["outside"] = {"count": len(out), "max": max(out, default=None), "seconds": r.get("outside_seconds")}
    s["wall_us"] = stats([u.get("wall_us") for u in ok])
    s["window_us"] = stats([u.get("window_us") for u in ok])
    if r["kind"] == "luvmm":
        s["guest_gap_us"] = stats([u.get("guest_gap_max_us") for u in ok])
        s["phases_us"] = {p: stats([(u.get("phases_us") or {}).get(p) for u in ok]) for p in PHASES}
        s["teardown_missing"] = sum(1 for u in ok if (u.get("phases_us") or {}).get("teardown") is None)
        s["outside_vmm_blackout_us"] = stats([u["guest_gap_max_us"] - u["phases_us"]["blackout"]
                                              for u in ok if u.get("guest_gap_max_us") is not None
                                              and (u.get("phases_us") or {}).get("blackout") is not None])
        if r["mode"] == "exec":
            s["slot_sleeps"] = sum(u.get("slot_sleeps") or 0 for u in ok)
            s["slot_sleep_us"] = stats([u.get("slot_sleep_us") for u in ok])
            s["late_slots_us"] = stats([u.get("late_slots_us") for u in ok])
        fm = r.get("final_metrics") or {}
        g = fm.get("guest") or {}
        s["guest_panics"] = sum(c.get("panics", 0) for c in g.get("cpus", []))
        s["hb_seq_breaks"] = sum(c.get("hb_seq_breaks", 0) for c in g.get("cpus", []))
        s["restores"] = g.get("restores")
        at = [u["serial_attrib"] for u in ok if u.get("serial_attrib")]
        s["serial_attrib"] = {
            "unmatched": sum(1 for x in at if not x["matched"]),
            "max_not_blackout": sum(1 for u in ok if u.get("serial_attrib") and u.get("serial_gap_us") is not None
                                    and u["serial_attrib"]["blackout"] is not None
                                    and u["serial_gap_us"] > u["serial_attrib"]["blackout"]),
            "before": stats([x["before"] for x in at]),
            "after": stats([x["after"] for x in at]),
        }
        ex = r.get("vmm_exits") or {}
        s["vmm_exits"] = ex
        s["vmm_bad_exits"] = sum(1 for v in ex.values() if v != "exit 0")
    else:
        s["qemu_downtime_ms"] = stats([u.get("qemu_downtime_ms") for u in ok])
        s["qemu_total_ms"] = stats([u.get("qemu_total_ms") for u in ok])
        s["qemu_setup_ms"] = stats([u.get("qemu_setup_ms") for u in ok])
        s["to_resume_us"] = stats([u.get("to_resume_us") for u in ok])
        s["dest_start_us"] = stats([u.get("dest_start_us") for u in ok])
        s["source_bad_exits"] = sum(1 for u in ok if u.get("source_exit") not in ("exit 0", None))
    return s


def point_line(r, gap_log_us=150):
    s = summarize(r, gap_log_us)
    t = "ok %d/%d" % (s["ok"], s["attempted"])
    if r["kind"] == "luvmm":
        g = s["guest_gap_us"]
        t += ", guest gap p50 %s p99 %s us" % (g["p50"], g["p99"])
    t += ", serial gap p50 %s p99 %s us" % (s["serial_gap_us"]["p50"], s["serial_gap_us"]["p99"])
    if r["kind"] == "qemu":
        t += ", QEMU downtime p50 %s ms" % s["qemu_downtime_ms"]["p50"]
    return t


# ---- targets ----------------------------------------------------------------

def dominant(summ, which="p50"):
    """The blackout component with the largest value at `which`, and the
    part of the guest gap outside the VMM's own blackout measure."""
    parts = [(p, summ["phases_us"][p][which]) for p in BLACKOUT_PARTS if summ["phases_us"][p][which] is not None]
    ob = summ["outside_vmm_blackout_us"][which]
    if ob is not None:
        parts.append(("outside the VMM's blackout (guest gap - blackout)", ob))
    if not parts:
        return "no phase data"
    parts.sort(key=lambda x: -x[1])
    return "%s dominates (%s %s us; %s)" % (parts[0][0], which, parts[0][1],
                                           ", ".join("%s %s" % (p, v) for p, v in parts[1:]))


def tail_dominant(r, thresh):
    """Mean phases over the updates at or above the p99 gap: what the tail is made of."""
    tail = [u for u in r["updates"] if u["ok"] and (u.get("guest_gap_max_us") or 0) >= thresh]
    if not tail:
        return ""
    parts = {}
    for p in BLACKOUT_PARTS:
        vals = [(u.get("phases_us") or {}).get(p) for u in tail]
        vals = [v for v in vals if v is not None]
        if vals:
            parts[p] = sum(vals) / len(vals)
    ob = [u["guest_gap_max_us"] - u["phases_us"]["blackout"] for u in tail
          if u.get("phases_us", {}).get("blackout") is not None]
    if ob:
        parts["outside the VMM's blackout"] = sum(ob) / len(ob)
    top = sorted(parts.items(), key=lambda x: -x[1])
    return "tail (%d updates >= %d us): %s" % (len(tail), thresh,
                                               ", ".join("%s %.0f" % (k, v) for k, v in top))


def targets(data, S):
    rows = []
    by = {s["name"]: s for s in S}
    raw = {r["name"]: r for r in data["points"]}

    def row(target, point, measured, limit, ok, why="", info=False):
        rows.append({"target": target, "point": point, "measured": measured, "limit": limit,
                     "verdict": ("PASS" if ok else "MISS") if measured is not None else "n/a",
                     "info": info, "why": "" if ok else why})

    for s in S:
        if s["kind"] != "luvmm" or not s["ok"]:
            continue
        g = s["guest_gap_us"]
        tr = s["mode"] in ("transfer", "incoming")
        info = s["mode"] == "incoming"
        sfx = " (new VMM started beforehand)" if info else ""
        if tr and s["cpus"] == 1:
            row("transfer, 1 vCPU: guest gap p50 <= 300 us" + sfx, s["name"], g["p50"], 300, g["p50"] <= 300,
                dominant(s, "p50"), info)
            row("transfer, 1 vCPU: guest gap p99 <= 1 ms" + sfx, s["name"], g["p99"], 1000, g["p99"] <= 1000,
                tail_dominant(raw[s["name"]], g["p99"]), info)
        if tr and s["cpus"] == 2:
            row("transfer, 2 vCPUs: guest gap p50 <= 500 us" + sfx, s["name"], g["p50"], 500, g["p50"] <= 500,
                dominant(s, "p50"), info)
        if s["mode"] == "exec":
            row("exec: guest gap p50 <= 2 ms" + ("" if s["cpus"] == 1 else " (DESIGN states it for 1 vCPU)"),
                s["name"], g["p50"], 2000, g["p50"] <= 2000, dominant(s, "p50"), info=s["cpus"] != 1)
    for cpus in (1, 2):
        a, b = by.get("luvmm/transfer/%dcpu/16G" % cpus), by.get("luvmm/transfer/%dcpu/256M" % cpus)
        if not (a and b and a["ok"] and b["ok"]):
            continue
        ratio = round(a["guest_gap_us"]["p50"] / b["guest_gap_us"]["p50"], 3)
        bo = None
        if a["phases_us"]["blackout"]["p50"] and b["phases_us"]["blackout"]["p50"]:
            bo = round(a["phases_us"]["blackout"]["p50"] / b["phases_us"]["blackout"]["p50"], 3)
        grow = sorted(((p, (a["phases_us"][p]["p50"] or 0) - (b["phases_us"][p]["p50"] or 0))
                       for p in BLACKOUT_PARTS), key=lambda x: -x[1])
        why = "grew most: " + ", ".join("%s %+d us" % g for g in grow[:3])
        row("transfer, %d vCPU%s: guest gap p50 16G / 256M <= 1.1 (VMM blackout ratio %s)"
            % (cpus, "" if cpus == 1 else "s", bo),
            "luvmm/transfer/%dcpu/16G vs 256M" % cpus, ratio, 1.1, ratio <= 1.1, why, info=cpus != 1)
    return rows


def ratios(S):
    by = {s["name"]: s for s in S}
    out = []
    for s in S:
        if s["kind"] != "luvmm" or not s["ok"]:
            continue
        q = by.get("qemu/%dcpu/%s" % (s["cpus"], s["mem"]))
        same_mem = True
        if not q or not q["ok"]:
            q = by.get("qemu/%dcpu/256M" % s["cpus"])
            same_mem = False
        if not q or not q["ok"]:
            continue
        a, b = s["serial_gap_us"], q["serial_gap_us"]
        out.append({"luvmm": s["name"], "qemu": q["name"], "same_mem": same_mem,
                    "luvmm_p50": a["p50"], "qemu_p50": b["p50"], "ratio_p50": round(a["p50"] / b["p50"], 3),
                    "luvmm_p99": a["p99"], "qemu_p99": b["p99"], "ratio_p99": round(a["p99"] / b["p99"], 3),
                    "speedup_p50": round(b["p50"] / a["p50"], 1)})
    return out


# ---- Markdown ---------------------------------------------------------------

def f(v, nd=0):
    if v is None:
        return "-"
    if isinstance(v, float) and nd:
        return ("%%.%df" % nd) % v
    if isinstance(v, float):
        return "%.0f" % v
    return str(v)


def st4(x):
    return "%s / %s / %s / %s" % (f(x["p50"]), f(x["p99"]), f(x["min"]), f(x["max"]))


def others(s):
    """Share of the host's CPU time other users' work took during the point."""
    fr = s.get("others_cpu_frac")
    if fr is None:
        return "-"
    t = "%.0f%%" % (fr * 100)
    if s.get("steal_frac"):
        t += ", steal %.0f%%" % (s["steal_frac"] * 100)
    q = s.get("host_quiet") or {}
    if q and not q.get("quiet"):
        t += ", busy at start"
    if s.get("noisy_attempts"):
        t += ", measured %dx, kept attempt %s (others' CPU in the rest: %s)" % (
            len(s["noisy_attempts"]) + 1, s.get("attempt"), " ".join(
                "%.0f%%" % (x["others_cpu_frac"] * 100) for x in s["noisy_attempts"]))
    return t


def summary_section(w, S, T, R):
    by = {s["name"]: s for s in S}
    w("## Summary")
    w("")
    for cpus in (1, 2):
        for mode in ("transfer", "incoming", "exec"):
            s = by.get("luvmm/%s/%dcpu/256M" % (mode, cpus))
            if not s or not s["ok"]:
                continue
            w("- luvmm %s, %d vCPU%s, 256M: guest gap p50 %s / p99 %s us; serial gap p50 %s / p99 %s us "
              "(%d/%d updates ok)" % (mode, cpus, "" if cpus == 1 else "s", f(s["guest_gap_us"]["p50"]),
                                      f(s["guest_gap_us"]["p99"]), f(s["serial_gap_us"]["p50"]),
                                      f(s["serial_gap_us"]["p99"]), s["ok"], s["attempted"]))
        q = by.get("qemu/%dcpu/256M" % cpus)
        if q and q["ok"]:
            w("- QEMU, %d vCPU%s, 256M: serial gap p50 %s / p99 %s us (QEMU's own `downtime` p50 %s ms)" % (
                cpus, "" if cpus == 1 else "s", f(q["serial_gap_us"]["p50"]), f(q["serial_gap_us"]["p99"]),
                f(q["qemu_downtime_ms"]["p50"])))
    for x in R:
        if x["same_mem"]:
            w("- %s / %s (serial method): p50 %.2f (QEMU %.1fx longer), p99 %.2f" % (
                x["luvmm"], x["qemu"], x["ratio_p50"], x["speedup_p50"], x["ratio_p99"]))
    tt = [t for t in T if not t["info"]]
    miss = [t for t in tt if t["verdict"] == "MISS"]
    w("- targets: %d of %d PASS%s" % (len(tt) - len(miss), len(tt), (
        "; MISS: " + "; ".join("%s at %s (%s)" % (t["target"], t["point"], f(t["measured"])) for t in miss))
        if miss else ""))
    nf = sum(s["failed"] for s in S)
    nd = sum(x.get("failed", 0) for s in S for x in s.get("noisy_attempts", []))
    w("- failed or rolled-back updates/migrations: %d%s" % (nf, (
        " (and %d in attempts discarded as noisy: see Failures)" % nd) if nd else ""))
    w("")


def write_md(data, S, T, R, path):
    m = data["meta"]
    c = m["config"]
    L = []
    w = L.append
    w("# luvmm live-update downtime%s" % (" (quick smoke run)" if c.get("quick") else ""))
    w("")
    w("Generated by `bench/downtime` (%s). Plot: [downtime.svg](downtime.svg); raw data: "
      "[downtime.json](downtime.json); the guests' serial logs: `serial-<point>-a<attempt>.log`; the VMMs' and QEMUs' own logs: `log-<point>-a<attempt>.log`." % " ".join(m["argv"][1:]) if
      len(m["argv"]) > 1 else "Generated by `bench/downtime`. Plot: [downtime.svg](downtime.svg); raw data: "
      "[downtime.json](downtime.json); the guests' serial logs: `serial-<point>-a<attempt>.log`; the VMMs' and QEMUs' own logs: `log-<point>-a<attempt>.log`.")
    w("")
    w("| | |")
    w("|---|---|")
    w("| date | %s |" % m["date"])
    w("| host | %s CPUs (%s), %s GiB RAM, Linux %s; nested KVM guest |" % (m["host_cpus"], m["cpu_model"],
                                                                        m["mem_total_gib"], m["kernel"]))
    w("| load average (1/5/15 min) | before %s, after %s |" % (
        " ".join("%.2f" % x for x in m["load_before"]), " ".join("%.2f" % x for x in m["load_after"])))
    w("| git commit | `%s`%s |" % (m["git_commit"], " (the working tree has uncommitted changes)"
                                   if m["git_dirty"] else ""))
    b = m.get("build") or {}
    w("| luvmm binary | %s; sha256 `%s` |" % (b.get("source", "?"), (b.get("luvmm_sha256") or "?")[:16]))
    w("| QEMU | %s |" % (m["qemu"] or ("skipped: " + str(m["qemu_skipped"]))))
    w("| run time | %.0f s |" % m["seconds"])
    w("| updates per point | luvmm %d, QEMU %d |" % (c["updates"], c["qemu_updates"]))
    w("| thread placement | no pinning, no priorities: luvmm's vCPU and main threads, QEMU's threads and "
      "this script were left to the host scheduler on both CPUs |")
    if m.get("interrupted"):
        w("| **interrupted** | the run was stopped early; the points below are what was measured |")
    w("")
    summary_section(w, S, T, R)
    w("## Method")
    w("")
    w("- One point at a time, one update at a time. The guest is guest-fw with the heartbeat workload on "
      "every vCPU and `gap_log_us=%d`: each vCPU prints `gap us=N` for every stall of at least %d us in "
      "its TSC loop." % (c["gap_log_us"], c["gap_log_us"]))
    w("- **luvmm**: `luvmm run --cpus N --memory M --workload heartbeat --cmdline gap_log_us=%d "
      "--serial file:...`; %d ms after boot the script runs `luvmm update --api SOCK --mode MODE` as a "
      "subprocess, one at a time. `guest gap` is luvmm's own figure (`guest_gap_max_us`: the largest of "
      "the vCPUs' first heartbeats after the update); phases are luvmm's `phases_us`, `teardown` is read "
      "from `metrics` (polled every %d ms) once the old VMM has torn down." % (
          c["gap_log_us"], c["settle_ms"], c.get("poll_ms", 0)))
    w("- luvmm modes: `transfer` (`luvmm update`: the running VMM starts the new one, which prepares "
      "(`prebuild`) while the guest runs), `exec` (`--mode exec`: the same process execs the new binary), "
      "`incoming` (QEMU's method: `luvmm run --incoming PATH` started beforehand, %d ms of quiet, then "
      "`luvmm update --incoming PATH`)." % c["qemu_settle_ms"])
    w("- **QEMU** (%s): RAM in `/dev/shm` (`memory-backend-file,share=on`, `-machine pc,memory-backend=mem0`), "
      "`x-ignore-shared` (and `events`) on both sides, destination started beforehand with "
      "`-incoming defer` and `migrate-incoming unix:...`, %d ms of quiet, then `migrate` on the source; "
      "the source's MIGRATION `completed` event (no polling) ends QEMU's part, then `query-migrate` "
      "(QEMU's own `downtime` and `total-time`), `quit` to the source, and the destination's RESUME event; "
      "the destination is the next source. `-bios qboot.rom`, `-cpu host,-arch-capabilities`, "
      "`-nodefaults`; all QEMU instances append to one serial log." % (m["qemu"] or "skipped", c["qemu_settle_ms"]))
    w("- **serial gap** (the same method for both): the largest `gap` line any vCPU printed in the "
      "update's window. A window opens just before `luvmm update` / `migrate` and closes when the guest "
      "has run %d ms again (luvmm: `luvmm update` returned; QEMU: RESUME) *and* the old side is gone "
      "(luvmm: `teardown` reported; QEMU: the source process exited), at most %d ms. A window without a "
      "gap line counts as %d us (column `<thr`). So it also catches stalls the update causes outside its "
      "blackout: luvmm's new VMM preparing (`prebuild`, inside `luvmm update`), the old VMM's teardown; "
      "QEMU's destination start-up is outside (started beforehand, as the method says). The next update "
      "starts at least %d ms after the previous one returned and %d ms after its window closed."
      % (c["window_ms"], c.get("teardown_wait_ms", 0), c["gap_log_us"], c["interval_ms"],
         c.get("quiet_after_ms", 0)))
    w("- Percentiles are nearest-rank (p99 of 100 samples = the 2nd largest). All times in us unless "
      "marked ms.")
    w("")

    # targets
    w("## Targets (docs: DESIGN.md, Performance targets)")
    w("")
    w("Measured on luvmm's guest gap (`guest_gap_max_us`).")
    w("")
    w("| target | point | measured | limit | verdict | if missed: what dominates |")
    w("|---|---|---|---|---|---|")
    for t in T:
        fm = (lambda v: "%.3f" % v) if isinstance(t["limit"], float) else f
        w("| %s | %s | %s | %s | **%s**%s | %s |" % (t["target"], t["point"], fm(t["measured"]), fm(t["limit"]),
                                                  t["verdict"], " (info)" if t["info"] else "", t["why"]))
    w("")

    # ratio
    w("## luvmm vs QEMU (guest-visible gap, serial method, same run)")
    w("")
    if R:
        w("| luvmm point | QEMU point | luvmm p50 | QEMU p50 | ratio p50 | luvmm p99 | QEMU p99 | ratio p99 | "
          "QEMU/luvmm p50 |")
        w("|---|---|---|---|---|---|---|---|---|")
        for x in R:
            w("| %s | %s%s | %s | %s | %.3f | %s | %s | %.3f | %.1fx |" % (
                x["luvmm"], x["qemu"], "" if x["same_mem"] else " (RAM differs)", f(x["luvmm_p50"]),
                f(x["qemu_p50"]), x["ratio_p50"], f(x["luvmm_p99"]), f(x["qemu_p99"]), x["ratio_p99"],
                x["speedup_p50"]))
        w("")
        w("ratio = luvmm / QEMU (smaller is better). Where QEMU was not run at that RAM size the row uses "
          "QEMU at 256M (DESIGN.md expects QEMU's blackout to be flat in RAM size; compare its 256M and 16G "
          "rows below).")
    else:
        w("No QEMU point was measured%s." % (": " + m["qemu_skipped"] if m.get("qemu_skipped") else ""))
    w("")

    # luvmm table
    lu = [s for s in S if s["kind"] == "luvmm"]
    if lu:
        w("## luvmm points")
        w("")
        w("p50 / p99 / min / max.")
        w("")
        w("| point | ok / n | failed | guest gap | serial gap | <thr | VMM blackout | `luvmm update` wall "
          "time | window length (p50 / max) | load before -> after | others' CPU |")
        w("|---|---|---|---|---|---|---|---|---|---|---|")
        for s in lu:
            w("| %s | %d / %d | %d | %s | %s | %d | %s | %s | %s / %s | %s -> %s | %s |" % (
                s["name"], s["ok"], s["attempted"], s["failed"], st4(s["guest_gap_us"]), st4(s["serial_gap_us"]),
                s["serial_below_threshold"], st4(s["phases_us"]["blackout"]), st4(s["wall_us"]),
                f(s["window_us"]["p50"]), f(s["window_us"]["max"]),
                f(s["load_before"][0], 2), f(s["load_after"][0], 2), others(s)))
        w("")
        w("### Phases (p50 / p99)")
        w("")
        w("`blackout` = stop + save + handover + load + run as the VMM measures it; `guest - blackout` is the "
          "part of the guest gap the VMM does not see (vCPU stop/resume latency, scheduling).")
        w("")
        w("| point | " + " | ".join(PHASES) + " | guest - blackout |")
        w("|---|" + "---|" * (len(PHASES) + 1))
        for s in lu:
            w("| %s | %s | %s |" % (s["name"], " | ".join("%s / %s" % (f(s["phases_us"][p]["p50"]),
                                                                    f(s["phases_us"][p]["p99"])) for p in PHASES),
                                   "%s / %s" % (f(s["outside_vmm_blackout_us"]["p50"]),
                                                f(s["outside_vmm_blackout_us"]["p99"]))))
        w("")
        ex = [s for s in lu if s["mode"] == "exec"]
        if ex:
            w("Exec mode extras: " + "; ".join("%s: slot_sleeps %d in all, late_slots_us p50/p99 %s/%s" % (
                s["name"], s["slot_sleeps"], f(s["late_slots_us"]["p50"]), f(s["late_slots_us"]["p99"]))
                for s in ex) + ".")
            w("")
        w("### Integrity and noise")
        w("")
        w("| point | teardown not yet known | guest panics | hb seq breaks | serial seq breaks | VMM exits not 0 | "
          "extra gap lines in windows | gap lines between windows (count, max us, per s) |")
        w("|---|---|---|---|---|---|---|---|")
        for s in lu:
            o = s["outside"]
            rate = "%.2f/s" % (o["count"] / o["seconds"]) if o["seconds"] else "-"
            if s["mode"] == "incoming" and o["seconds"]:
                rate += " (includes the new VMMs' start)"
            w("| %s | %d | %s | %s | %s | %d | %d | %d, %s, %s |" % (
                s["name"], s["teardown_missing"], f(s["guest_panics"]), f(s["hb_seq_breaks"]),
                f(s["serial_seq_breaks"]), s["vmm_bad_exits"], s["extra_gap_lines_in_windows"],
                o["count"], f(o["max"]), rate))
        w("")
        w("`extra gap lines`: further stalls of >= %d us in an update's window besides the largest one per "
          "vCPU. `between windows`: stalls of >= %d us while no update ran "
          "(host noise)." % (c["gap_log_us"], c["gap_log_us"]))
        w("")
        w("### What the serial window sees besides the blackout")
        w("")
        w("The blackout's own `gap` line is the one carrying the number luvmm reported for that vCPU; lines "
          "before it are stalls while the new VMM starts (`prebuild`), lines after it stalls after the guest "
          "runs again until the old VMM has torn down.")
        w("")
        w("| point | updates whose window max is not the blackout | with stalls before: n, p50, max | "
          "with stalls after: n, p50, max | unattributed |")
        w("|---|---|---|---|---|")
        for s in lu:
            x = s["serial_attrib"]
            w("| %s | %d | %d, %s, %s | %d, %s, %s | %d |" % (
                s["name"], x["max_not_blackout"], x["before"]["count"], f(x["before"]["p50"]), f(x["before"]["max"]),
                x["after"]["count"], f(x["after"]["p50"]), f(x["after"]["max"]), x["unmatched"]))
        w("")
    qs = [s for s in S if s["kind"] == "qemu"]
    if qs:
        w("## QEMU points")
        w("")
        w("p50 / p99 / min / max. `migrate -> completed` is this script's clock from `migrate` to the "
          "source's completed event; `-> RESUME` to the destination's RESUME event (after `quit` to the source).")
        w("")
        w("| point | ok / n | serial gap | <thr | QEMU downtime (ms) | QEMU total-time (ms) | migrate -> "
          "completed | migrate -> RESUME | destination start | window length (p50 / max) | load before -> after "
          "| others' CPU |")
        w("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for s in qs:
            w("| %s | %d / %d | %s | %d | %s | %s | %s | %s | %s | %s / %s | %s -> %s | %s |" % (
                s["name"], s["ok"], s["attempted"], st4(s["serial_gap_us"]), s["serial_below_threshold"],
                st4(s["qemu_downtime_ms"]), st4(s["qemu_total_ms"]), st4(s["wall_us"]), st4(s["to_resume_us"]),
                st4(s["dest_start_us"]), f(s["window_us"]["p50"]), f(s["window_us"]["max"]),
                f(s["load_before"][0], 2), f(s["load_after"][0], 2), others(s)))
        w("")
        w("| point | serial seq breaks | sources not exiting 0 | extra gap lines in windows |")
        w("|---|---|---|---|")
        for s in qs:
            w("| %s | %s | %d | %d |" % (s["name"], f(s["serial_seq_breaks"]), s["source_bad_exits"],
                                         s["extra_gap_lines_in_windows"]))
        w("")

    # failures
    w("## Failures and rollbacks")
    w("")
    nf = sum(s["failed"] for s in S)
    ne = sum(len(s["errors"]) for s in S)
    if not nf and not ne:
        w("None in the reported attempts: every update and migration completed (%d luvmm updates, %d QEMU "
          "migrations)." % (sum(s["ok"] for s in lu), sum(s["ok"] for s in qs)))
    else:
        for s in S:
            for e in s["errors"]:
                w("- %s: %s" % (s["name"], e))
            for x in s["failures"]:
                w("- %s, update %d: %s%s" % (s["name"], x["i"], x.get("error"),
                                            (" (stderr: `%s`)" % x["stderr"].replace("\n", " | ")[-300:])
                                            if x.get("stderr") else ""))
    w("")
    dis = [(s, x) for s in S for x in s.get("noisy_attempts", []) if x.get("failed") or x.get("errors")]
    if dis:
        w("Failures in attempts that were measured again because other work used the host (not in the "
          "statistics above, but luvmm's behaviour all the same; logs: `log-<point>-a<attempt>.log`):")
        w("")
        for s, x in dis:
            w("- %s, attempt %d (others' CPU %.0f%%): %d of %d failed: %s%s" % (
                s["name"], x["attempt"], x["others_cpu_frac"] * 100, x["failed"], x["attempted"],
                "; ".join("%dx `%s`" % (n, e) for e, n in sorted(x["update_errors"].items(), key=lambda y: -y[1])),
                ("; " + "; ".join(x["errors"])) if x["errors"] else ""))
        w("")
    w("## Caveats")
    w("")
    w("- The host is a nested, shared 2-CPU VM: a guest vCPU, the VMM's threads, this script and other "
      "users' processes share two CPUs. Stalls that are not the update's (see `between windows`) can land "
      "in a window and then count as its gap; p99 is the most exposed.")
    w("- The serial gap includes the port accesses of guest-fw's reporting path (a few us under luvmm, "
      "more under QEMU, whose serial port is emulated in user space).")
    w("- QEMU's TSC is restored to keep running across the migration (checked: holding the destination "
      "paused for 0.5 s shows as a 0.5 s gap in the guest), so its guest gaps are real time, like luvmm's.")
    w("- QEMU's `downtime` covers the source side only; the guest-visible gap also contains the "
      "destination's load and start.")
    w("- With 2 vCPUs the guest's heartbeat loops keep both host CPUs busy, so anything else that runs "
      "(luvmm's new VMM preparing, the old VMM tearing down at idle priority, QEMU's threads, this "
      "script, the host's own housekeeping) has to preempt a vCPU: that is where the 2-vCPU serial gaps "
      "and the `between windows` rates come from. On a host with spare CPUs they would be smaller.")
    w("- Each point is a fresh VM; updates follow each other every ~120 ms or more, which is far more "
      "often than in production: an update can start while the VMM before the previous one is still "
      "exiting at idle priority.")
    if m["load_before"][0] > 1.0 or m["load_after"][0] > 1.0:
        w("- The load average was above 1 during the run: other work was running on the host.")
    w("")
    w("![gap per point](downtime.svg)")
    w("")
    with open(path, "w") as fh:
        fh.write("\n".join(L))


# ---- SVG --------------------------------------------------------------------

def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_svg(S, path):
    pts = [s for s in S if s["ok"]]
    W, H = 1000, 520
    ml, mr, mt, mb = 70, 20, 72, 150
    pw, ph = W - ml - mr, H - mt - mb
    vals = []
    for s in pts:
        for k in ("serial_gap_us", "guest_gap_us"):
            if k in s:
                vals += [s[k]["min"], s[k]["max"]]
    vals = [v for v in vals if v]
    lo = 10 ** math.floor(math.log10(min(vals + [100])))
    hi = 10 ** math.ceil(math.log10(max(vals + [2000])))

    def y(v):
        v = max(v, lo)
        return mt + ph - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * ph

    n = max(1, len(pts))
    step = pw / n
    colors = {"transfer": "#1f77b4", "incoming": "#17becf", "exec": "#ff7f0e", "qemu": "#d62728"}
    o = []
    a = o.append
    a('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
      'font-family="sans-serif" font-size="11">' % (W, H, W, H))
    a('<rect width="100%" height="100%" fill="white"/>')
    a('<text x="%d" y="20" font-size="15" font-weight="bold">Guest-visible gap per live update '
      '(log scale): luvmm vs QEMU</text>' % ml)
    a('<text x="%d" y="37" fill="#555">bar: min-max (serial method); dot: p50; triangle: p99; grey diamond: '
      'luvmm\'s own guest_gap p50; dashed: targets</text>' % ml)
    # grid
    d = lo
    while d <= hi:
        for mult in (1, 2, 5):
            v = d * mult
            if v > hi:
                break
            yy = y(v)
            a('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="1"/>' % (
                ml, yy, ml + pw, yy, "#ccc" if mult == 1 else "#eee"))
            if mult in (1, 2, 5):
                lab = ("%g ms" % (v / 1000)) if v >= 1000 else ("%g us" % v)
                a('<text x="%d" y="%.1f" text-anchor="end" fill="#333">%s</text>' % (ml - 6, yy + 4, lab))
        d *= 10
    for v, lab in ((300, "300 us: transfer 1 vCPU p50"), (500, "500 us: 2 vCPUs p50"),
                   (1000, "1 ms: transfer p99"), (2000, "2 ms: exec p50")):
        if lo <= v <= hi:
            a('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#2ca02c" stroke-dasharray="5,4"/>' % (
                ml, y(v), ml + pw, y(v)))
            a('<text x="%d" y="%.1f" text-anchor="end" fill="#2ca02c" font-size="10">%s</text>' % (
                ml + pw - 2, y(v) - 3, lab))
    a('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>' % (ml, mt, pw, ph))
    for i, s in enumerate(pts):
        cx = ml + step * (i + 0.5)
        col = colors.get(s["mode"], "#333")
        g = s["serial_gap_us"]
        a('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="6" stroke-opacity="0.35"/>'
          % (cx, y(g["min"]), cx, y(g["max"]), col))
        a('<circle cx="%.1f" cy="%.1f" r="5" fill="%s"><title>%s serial p50 %s us</title></circle>' % (
            cx, y(g["p50"]), col, esc(s["name"]), g["p50"]))
        ty = y(g["p99"])
        a('<path d="M%.1f %.1f l5 8 l-10 0 z" fill="none" stroke="%s" stroke-width="1.5"><title>%s serial '
          'p99 %s us</title></path>' % (cx, ty - 5, col, esc(s["name"]), g["p99"]))
        if "guest_gap_us" in s and s["guest_gap_us"]["p50"]:
            gy = y(s["guest_gap_us"]["p50"])
            a('<path d="M%.1f %.1f l4 4 l-4 4 l-4 -4 z" fill="#777" transform="translate(9,-4)"><title>%s '
              'guest_gap p50 %s us</title></path>' % (cx, gy - 4, esc(s["name"]), s["guest_gap_us"]["p50"]))
        lab = s["name"].replace("luvmm/", "")
        a('<text transform="translate(%.1f,%d) rotate(-60)" text-anchor="end" fill="%s">%s</text>' % (
            cx + 3, mt + ph + 10, col, esc(lab)))
    lx = ml + 5
    for j, (k, lab) in enumerate((("transfer", "luvmm transfer"), ("incoming", "luvmm incoming"),
                                  ("exec", "luvmm exec"), ("qemu", "QEMU 7.2"))):
        a('<circle cx="%d" cy="%d" r="5" fill="%s"/><text x="%d" y="%d">%s</text>' % (
            lx + j * 120, mt - 14, colors[k], lx + j * 120 + 8, mt - 10, lab))
    a("</svg>")
    with open(path, "w") as fh:
        fh.write("\n".join(o) + "\n")


def write_all(data, out):
    g = data["meta"]["config"]["gap_log_us"]
    S = [summarize(r, g) for r in data["points"]]
    T = targets(data, S)
    R = ratios(S)
    data = dict(data)
    data["summary"] = {"points": S, "targets": T, "ratios": R}
    with open(os.path.join(out, "downtime.json"), "w") as fh:
        json.dump(data, fh, indent=1)
    write_md(data, S, T, R, os.path.join(out, "downtime.md"))
    write_svg(S, os.path.join(out, "downtime.svg"))

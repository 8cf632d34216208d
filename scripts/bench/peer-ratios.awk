#!/usr/bin/awk -f
# peer-ratios.awk: issue 14's ratio tables from an fsbench.sh report (scripts/bench/vs-peers.sh
# prints them after its run). Reads fsbench's markdown table; for every workload it has, prints
# PmemFs's total CPU per operation against passthrough_hp's ("hp"), the issue's target for that
# row and whether it is met; passthrough_ll tuned ("ll-tuned") against hp (the issue wants them
# within 10% of each other, which says the peer is a fair one); then p99 and p99.9 of the 4 KiB
# rows against hp's.
#
# Usage: peer-ratios.awk FSBENCH-REPORT.md
# Targets (issue 14): total CPU per op <= hp's; 4 KiB random write <= 1.6x hp's (PmemFs's write
# is durable on return, hp's is a page-cache copy); stat <= 1.2x; write + fdatasync <= 1.1x
# PmemFs's own plain 4 KiB write; p99 <= 1.5x hp's on every 4 KiB row (a +fdatasync row's p99
# is write + fdatasync).

function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }
function num(s) { s = trim(s); return (s == "" || s == "-" || s == "error") ? "" : s + 0 }
function p99sum(s, a, n) { s = trim(s); if (s == "" || s == "-") return ""; n = split(s, a, "/"); return n == 2 ? a[1] + a[2] : a[1] + 0 }
function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "" : a / b }
function fmt(x, p) { return x == "" ? "-" : sprintf("%." p "f", x) }
# the issue's CPU target for a workload, as a factor of hp's total, or "" if it sets none
function cpu_target(w) {
    if (w ~ /^rand write 4K\+fdatasync x1/) return "own"   # against PmemFs's own plain write
    if (w ~ /^rand write 4K psync x1/) return 1.6
    if (w ~ /^stat /) return 1.2
    if (w ~ /^(seq read 1M psync|seq write 1M psync|rand read 4K psync x1|create |unlink )/) return 1
    return ""
}

BEGIN { FS = "|" }
/^\| / && $3 !~ /target/ && NF >= 11 {
    w = trim($2); t = trim($3)
    if (!(w in seen)) { seen[w] = 1; order[++nw] = w }
    total[w, t] = num($10); p99[w, t] = p99sum($6); p999[w, t] = num($7); p99text[w, t] = trim($6)
}
END {
    if (nw == 0) { print "peer-ratios: no fsbench table in the input" > "/dev/stderr"; exit 1 }
    plain_write = total["rand write 4K psync x1", "pmemfs"]

    print "### Ratios: total CPU µs/op, PmemFs and passthrough_ll tuned against passthrough_hp (threaded)"
    print ""
    print "| workload | PmemFs | hp | PmemFs / hp | target | met | ll-tuned | ll-tuned / hp | within 10% |"
    print "|---|---:|---:|---:|---|---|---:|---:|---|"
    for (i = 1; i <= nw; i++) {
        w = order[i]; pm = total[w, "pmemfs"]; hp = total[w, "hp"]; ll = total[w, "ll-tuned"]
        r = ratio(pm, hp); tg = cpu_target(w); met = "-"; tgt = "-"
        if (tg == "own") {
            own = ratio(pm, plain_write)
            tgt = "<= 1.1x own 4K write (" fmt(own, 2) "x)"
            if (own != "") met = own <= 1.1 ? "yes" : "**no**"
        } else if (tg != "") {
            tgt = "<= " tg
            if (r != "") met = r <= tg + 0 ? "yes" : "**no**"
        }
        rl = ratio(ll, hp); near = rl == "" ? "-" : ((rl >= 0.9 && rl <= 1.1) ? "yes" : "no")
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", w, fmt(pm, 2), fmt(hp, 2), fmt(r, 2), tgt, met, fmt(ll, 2), fmt(rl, 2), near
    }
    print ""
    print "### Ratios: p99 (p99.9) latency of the 4 KiB rows, PmemFs against passthrough_hp (target p99 <= 1.5x)"
    print ""
    print "| workload | PmemFs p99 µs | hp p99 µs | ratio | met | PmemFs p99.9 | hp p99.9 |"
    print "|---|---:|---:|---:|---|---:|---:|"
    for (i = 1; i <= nw; i++) {
        w = order[i]
        if (w !~ /4K/ || p99[w, "pmemfs"] == "") continue
        r = ratio(p99[w, "pmemfs"], p99[w, "hp"]); met = r == "" ? "-" : (r <= 1.5 ? "yes" : "**no**")
        printf "| %s | %s | %s | %s | %s | %s | %s |\n", w, p99text[w, "pmemfs"], (p99text[w, "hp"] == "" ? "-" : p99text[w, "hp"]),
               fmt(r, 2), met, fmt(p999[w, "pmemfs"], 0), fmt(p999[w, "hp"], 0)
    }
}

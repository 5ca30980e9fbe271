#!/usr/bin/env python3
"""Where the CPU of a proxied request goes on this machine, and what 1.1x HAProxy's requests/s would take.

Runs `wrk -t1 -c64` against nginx directly, through `stampede proxy` and through HAProxy (TCP mode, one
thread), alternating ROUNDS times, and for each run reads the CPU (user + system) that wrk, nginx's worker
and the proxy used per completed request, plus the machine's idle time (/proc/stat). When the machine is
saturated (idle near 0) the requests/s are the cores' time divided by the sum of the three, so the proxy
CPU per request that 1.1x HAProxy's requests/s needs follows from the other two:
    needed = (wrk_h + nginx_h + haproxy) / 1.1 - (wrk_s + nginx_s)
and `perf stat`-free system time shows how much of the proxy's own time is the kernel's TCP work.
Started by proxy_budget.sh, which starts the peers (bench/lib/peers.sh) and passes their ports and pids.
With floor relays (bench/chaos/floor_relay.cpp: the least a proxy can do, epoll and io_uring forms) as extra
NAME=PORT,PID arguments, each is measured in every round too: if even those stay under 1.1x HAProxy's
requests/s, no proxy design reaches the goal on this machine.
usage: proxy_budget.py DURATION_S ROUNDS NGINX_PORT NGINX_PID PROXY_PORT PROXY_PID HAPROXY_PORT HAPROXY_PID
                       [NAME=PORT,PID ...]
"""
import os
import re
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid):
    """user and system seconds of a process so far (/proc/PID/stat fields 14 and 15)"""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def machine_idle_s():
    """idle + iowait seconds of all cores so far"""
    with open("/proc/stat") as f:
        cpu = f.readline().split()
    return (int(cpu[4]) + int(cpu[5])) / TICK


def run(duration, port, watched):
    """wrk against PORT; CPU per request (us) of wrk and of each watched pid, requests/s, idle cores"""
    before = {name: process_cpu_s(pid) for name, pid in watched.items()}
    idle_before, started = machine_idle_s(), time.monotonic()
    wrk = subprocess.Popen(["wrk", "-t1", "-c64", f"-d{duration}s", f"http://127.0.0.1:{port}/"],
                           stdout=subprocess.PIPE, text=True)
    out = wrk.stdout.read()
    _, status, usage = os.wait4(wrk.pid, 0)
    wall = time.monotonic() - started
    idle = (machine_idle_s() - idle_before) / wall
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    if "Socket errors" in out or "Non-2xx" in out:  # a relay that loses or mangles bytes proves nothing
        sys.exit(f"wrk saw errors through port {port}:\n{out}")
    per_request = {"wrk": ((usage.ru_utime + usage.ru_stime) * 1e6 / requests, usage.ru_stime * 1e6 / requests)}
    for name, pid in watched.items():
        user, system = process_cpu_s(pid)
        user -= before[name][0]
        system -= before[name][1]
        per_request[name] = ((user + system) * 1e6 / requests, system * 1e6 / requests)
    return requests / float(duration), per_request, idle


def p50_us(port):
    """median latency of sequential requests (wrk -c1 --latency) in microseconds"""
    out = subprocess.run(["wrk", "-t1", "-c1", "-d3s", "--latency", f"http://127.0.0.1:{port}/"],
                         capture_output=True, text=True).stdout
    value = re.search(r"^\s*50%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    return float(value.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[value.group(2)]


def main():
    duration, rounds = sys.argv[1], int(sys.argv[2])
    nginx_port, nginx_pid, proxy_port, proxy_pid, haproxy_port, haproxy_pid = map(int, sys.argv[3:9])
    extras = []
    for arg in sys.argv[9:]:
        name, rest = arg.split("=")
        port, pid = map(int, rest.split(","))
        extras.append((name, port, pid))
    for port in [nginx_port, proxy_port, haproxy_port] + [port for _, port, _ in extras]:  # warm up: connections open, caches hot
        subprocess.run(["wrk", "-t1", "-c64", "-d1s", f"http://127.0.0.1:{port}/"], stdout=subprocess.DEVNULL)
    sums = {}
    for r in range(1, rounds + 1):
        results = {}
        targets = [("direct", nginx_port, {"nginx": nginx_pid}),
                   ("stampede", proxy_port, {"nginx": nginx_pid, "proxy": proxy_pid}),
                   ("haproxy", haproxy_port, {"nginx": nginx_pid, "proxy": haproxy_pid})]
        targets += [(name, port, {"nginx": nginx_pid, "proxy": pid}) for name, port, pid in extras]
        for label, port, watched in targets:
            rate, cpu, idle = run(duration, port, watched)
            results[label] = (rate, cpu)
            parts = ", ".join(f"{name} {total:.2f} us (sys {system:.2f})" for name, (total, system) in cpu.items())
            print(f"round {r} {label}: {rate:,.0f} req/s, idle {idle * 100:.0f}% of a core; CPU per request: {parts}")
            for name, (total, system) in cpu.items():
                key = (label, name)
                sums[key] = (sums.get(key, (0, 0))[0] + total, sums.get(key, (0, 0))[1] + system)
            sums[(label, "rate")] = (sums.get((label, "rate"), (0, 0))[0] + rate, 0)
        s_rate, s_cpu = results["stampede"]
        h_rate, h_cpu = results["haproxy"]
        line = (f"round {r}: stampede / haproxy requests/s {s_rate / h_rate:.2f}x, proxy CPU per request "
                f"{s_cpu['proxy'][0] / h_cpu['proxy'][0]:.2f}x")
        for name, _, _ in extras:
            e_rate, e_cpu = results[name]
            line += f"; {name} / haproxy {e_rate / h_rate:.2f}x, CPU {e_cpu['proxy'][0] / h_cpu['proxy'][0]:.2f}x"
        print(line)
    mean = {key: (a / rounds, b / rounds) for key, (a, b) in sums.items()}
    h_total = mean[("haproxy", "wrk")][0] + mean[("haproxy", "nginx")][0] + mean[("haproxy", "proxy")][0]
    s_others = mean[("stampede", "wrk")][0] + mean[("stampede", "nginx")][0]
    needed = h_total / 1.1 - s_others
    print(f"mean requests/s: direct {mean[('direct', 'rate')][0]:,.0f}, stampede {mean[('stampede', 'rate')][0]:,.0f}, "
          f"haproxy {mean[('haproxy', 'rate')][0]:,.0f} (stampede / haproxy "
          f"{mean[('stampede', 'rate')][0] / mean[('haproxy', 'rate')][0]:.2f}x)")
    print(f"mean CPU per request through HAProxy: wrk {mean[('haproxy', 'wrk')][0]:.2f} + nginx "
          f"{mean[('haproxy', 'nginx')][0]:.2f} + haproxy {mean[('haproxy', 'proxy')][0]:.2f} "
          f"(sys {mean[('haproxy', 'proxy')][1]:.2f}) = {h_total:.2f} us")
    print(f"mean CPU per request through stampede: wrk {mean[('stampede', 'wrk')][0]:.2f} + nginx "
          f"{mean[('stampede', 'nginx')][0]:.2f} + proxy {mean[('stampede', 'proxy')][0]:.2f} "
          f"(sys {mean[('stampede', 'proxy')][1]:.2f}) = {s_others + mean[('stampede', 'proxy')][0]:.2f} us")
    for name, _, _ in extras:
        print(f"mean {name}: {mean[(name, 'rate')][0]:,.0f} req/s ({mean[(name, 'rate')][0] / mean[('haproxy', 'rate')][0]:.2f}x "
              f"haproxy); CPU per request wrk {mean[(name, 'wrk')][0]:.2f} + nginx {mean[(name, 'nginx')][0]:.2f} + "
              f"relay {mean[(name, 'proxy')][0]:.2f} (sys {mean[(name, 'proxy')][1]:.2f}) us")
    # Added median latency of sequential requests, each proxy against direct in the same round.
    added = {}
    for r in range(rounds):
        direct = p50_us(nginx_port)
        for name, port in [("stampede", proxy_port), ("haproxy", haproxy_port)] + [(n, p) for n, p, _ in extras]:
            added.setdefault(name, []).append(p50_us(port) - direct)
    print("added median latency (wrk -c1, p50 through the proxy - p50 direct, per round): " +
          "; ".join(f"{name} " + " / ".join(f"{v:+.0f}" for v in values) + " us" for name, values in added.items()))
    print(f"1.1x HAProxy's requests/s on saturated cores needs the proxy at <= {needed:.2f} us per request "
          f"({needed / mean[('haproxy', 'proxy')][0]:.2f}x HAProxy's); the proxy's kernel time alone is "
          f"{mean[('stampede', 'proxy')][1]:.2f} us")


if __name__ == "__main__":
    main()

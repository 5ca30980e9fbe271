#!/usr/bin/env python3
"""Added latency of proxies with no toxic, robust to this machine's drift: one keep-alive connection per target
(nginx direct and each proxy in front of it), and requests sent in turn, one to each target, SAMPLES times, so
every proxy's sample and its direct sample are taken within microseconds of each other (wrk -c1 runs one
target for seconds, and the direct median moved by +-20 us between such runs here: where the scheduler
places the two processes). The order rotates every turn: on this VM a sequential request is either fast
(~30 us through a proxy: the woken process runs at once) or slow (~75 us: a halted vCPU is woken), and the
target right after the direct request was slow every time, whichever it was. Prints, per proxy, the median
and p90 through it minus direct.
usage: added_latency.py SAMPLES DIRECT_PORT NAME=PORT [NAME=PORT ...]
"""
import socket
import statistics
import sys
import time


def connect(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def exchange(sock, request, buffer):
    """one request and its whole response (Content-Length framing); returns nanoseconds"""
    start = time.perf_counter_ns()
    sock.sendall(request)
    got = sock.recv_into(buffer)
    while buffer.find(b"\r\n\r\n", 0, got) < 0:  # the header in more than one segment
        got += sock.recv_into(memoryview(buffer)[got:])
    head_end = buffer.find(b"\r\n\r\n", 0, got)
    length_at = buffer.find(b"Content-Length: ", 0, got)
    total = head_end + 4 + int(buffer[length_at + 16:buffer.find(b"\r\n", length_at, got)])
    while got < total:
        got += sock.recv_into(memoryview(buffer)[got:])
    return time.perf_counter_ns() - start


def main():
    samples, direct_port = int(sys.argv[1]), int(sys.argv[2])
    targets = [("direct", direct_port)] + [(a.split("=")[0], int(a.split("=")[1])) for a in sys.argv[3:]]
    socks = [connect(port) for _, port in targets]
    requests = [f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode() for _, port in targets]
    buffer = bytearray(65536)
    times = [[] for _ in targets]
    for i in range(samples + 1000):
        for j in range(len(targets)):
            k = (i + j) % len(targets)
            t = exchange(socks[k], requests[k], buffer)
            if i >= 1000:  # warm-up
                times[k].append(t)
    direct = sorted(times[0])
    d50, d90 = direct[len(direct) // 2], direct[len(direct) * 9 // 10]
    print(f"direct: median {d50 / 1e3:.1f} us, p90 {d90 / 1e3:.1f} us over {samples} requests")
    for (name, _), values in zip(targets[1:], times[1:]):
        values.sort()
        m, p90 = values[len(values) // 2], values[len(values) * 9 // 10]
        print(f"{name}: added median {(m - d50) / 1e3:+.1f} us, added p90 {(p90 - d90) / 1e3:+.1f} us "
              f"(median {m / 1e3:.1f} us)")


if __name__ == "__main__":
    main()

"""The pika row of the blocking-publish scenario: the original Python module's stack.

    /usr/bin/python3 bench/python/pika_blocking_publish.py <url> <queue> <n> <body-size>

A BlockingChannel with confirm_delivery() publishes <n> persistent messages of <body-size> bytes to
<queue> through the default exchange, one at a time: basic_publish returns once the broker confirmed.
Prints one JSON line {n, wallMs, cpuUs, cpuSystemUs} measured over the loop only (connection set-up
excluded), as the Node rows' Stopwatch does: wall time, and user+system CPU of the whole process.
"""
import json
import resource
import sys
import time

import pika

# Published before the measured loop, as the Node rows do (not counted in n).
WARM_UP = 1000  # as bench/scenarios/blocking-publish.ts


def main() -> None:
    url, queue, n, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    body = bytes(0x61 + (i % 26) for i in range(size))
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.confirm_delivery()
    props = pika.BasicProperties(delivery_mode=2)
    for _ in range(WARM_UP):
        ch.basic_publish(exchange="", routing_key=queue, body=body, properties=props)
    t0 = resource.getrusage(resource.RUSAGE_SELF)
    w0 = time.perf_counter()
    for _ in range(n):
        ch.basic_publish(exchange="", routing_key=queue, body=body, properties=props)
    wall = time.perf_counter() - w0
    t1 = resource.getrusage(resource.RUSAGE_SELF)
    conn.close()
    user = t1.ru_utime - t0.ru_utime
    system = t1.ru_stime - t0.ru_stime
    print(json.dumps({
        "n": n,
        "wallMs": wall * 1000,
        "cpuUs": (user + system) * 1e6,
        "cpuSystemUs": system * 1e6,
    }))


if __name__ == "__main__":
    main()

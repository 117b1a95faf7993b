"""The Python side of the interop tests: a pika or aio-pika service reading what warren published, and
publishing what warren must read.

    python3 python_peer.py <pika|aio-pika> read  <url> <queue> <count>   one JSON line per message
    python3 python_peer.py <pika|aio-pika> write <url> <queue>           publishes SAMPLE_COUNT messages

Values are printed with their Python type ({"t": "int", "v": "42"}), so the test can tell an int from a
float or a str from bytes: what a Python service would actually get.
"""
import asyncio
import base64
import json
import sys
from datetime import datetime, timezone
from decimal import Decimal

SAMPLE_COUNT = 2


def describe(value):
    if value is None:
        return {"t": "none"}
    if isinstance(value, bool):
        return {"t": "bool", "v": value}
    if isinstance(value, int):
        return {"t": "int", "v": str(value)}
    if isinstance(value, float):
        return {"t": "float", "v": value}
    if isinstance(value, Decimal):
        return {"t": "decimal", "v": str(value)}
    if isinstance(value, str):
        return {"t": "str", "v": value}
    if isinstance(value, (bytes, bytearray)):
        return {"t": "bytes", "v": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return {"t": "datetime", "v": aware.timestamp()}
    if isinstance(value, dict):
        return {"t": "dict", "v": {k: describe(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"t": "list", "v": [describe(v) for v in value]}
    return {"t": type(value).__name__, "v": repr(value)}


PROPERTY_NAMES = [
    "content_type", "content_encoding", "headers", "delivery_mode", "priority", "correlation_id",
    "reply_to", "expiration", "message_id", "timestamp", "type", "user_id", "app_id",
]


def describe_message(body, props):
    out = {"body": base64.b64encode(body).decode(), "properties": {}}
    for name in PROPERTY_NAMES:
        value = props.get(name)
        if value is not None:
            # aio-pika gives delivery_mode as an enum and expiration as seconds; keep what the service sees.
            if hasattr(value, "value") and not isinstance(value, (int, str, bytes, datetime, Decimal)):
                value = value.value
            out["properties"][name] = describe(value)
    return out


def samples(lib):
    """What a Python service publishes: every type its library can put in a header table."""
    headers = {
        "small": 7,
        # pamqp 3.2 (aio-pika) fails to encode small negative ints (its signed octet is packed unsigned).
        "negative": -5 if lib == "pika" else -70000,
        "big": 2**40,
        "flag": True,
        "text": "h\u00e9llo",
        "raw": b"\x00\xff\x10",
        "when": datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        "nested": {"list": [1, "two", None, False], "empty": {}},
        "nothing": None,
    }
    if lib == "pika":
        headers["price"] = Decimal("12.345")  # aio-pika turns a Decimal into JSON bytes, not a decimal field
    return [
        (json.dumps({"order": 1, "sku": "A1"}).encode(), dict(
            content_type="application/json", content_encoding="utf-8", headers=headers,
            delivery_mode=2, priority=3, correlation_id="corr-1", reply_to="replies",
            expiration="60000", message_id="py-1", timestamp=datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc),
            type="order.created", user_id="guest", app_id="python-service",
        )),
        (b"\x00\x01binary\xfe\xff", dict(delivery_mode=1)),
    ]


def run_pika(mode, url, queue, count):
    import pika

    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    if mode == "read":
        for _ in range(count):
            method, props, body = ch.basic_get(queue, auto_ack=True)
            if method is None:
                raise SystemExit(f"queue {queue} is empty")
            print(json.dumps(describe_message(body, props.__dict__)), flush=True)
    else:
        ch.confirm_delivery()
        for body, p in samples("pika"):
            if isinstance(p.get("timestamp"), datetime):
                p["timestamp"] = int(p["timestamp"].timestamp())  # pika takes seconds
            ch.basic_publish("", queue, body, pika.BasicProperties(**p), mandatory=True)
        print("ok", flush=True)
    conn.close()


async def run_aio_pika(mode, url, queue, count):
    import aio_pika

    conn = await aio_pika.connect(url)
    async with conn:
        ch = await conn.channel(publisher_confirms=True)
        if mode == "read":
            for _ in range(count):
                # Read through aiormq to see what pamqp (aio-pika's codec) decoded off the wire...
                delivered = await ch.channel.basic_get(queue, no_ack=True)
                if delivered.header is None:
                    raise SystemExit(f"queue {queue} is empty")
                p = delivered.header.properties
                props = {name: getattr(p, name, None) for name in PROPERTY_NAMES}
                props["type"] = p.message_type  # pamqp's name for it
                out = describe_message(delivered.body, props)
                # ...and what an aio-pika handler gets from msg.headers (its own conversions applied).
                msg = aio_pika.IncomingMessage(delivered, no_ack=True)
                out["service_headers"] = describe(dict(msg.headers))
                print(json.dumps(out), flush=True)
        else:
            for body, p in samples("aio-pika"):
                if "expiration" in p:
                    p["expiration"] = int(p["expiration"]) / 1000  # aio-pika takes seconds
                await ch.default_exchange.publish(aio_pika.Message(body=body, **p), routing_key=queue, mandatory=True)
            print("ok", flush=True)


def main():
    lib, mode, url, queue = sys.argv[1:5]
    count = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    if lib == "pika":
        run_pika(mode, url, queue, count)
    elif lib == "aio-pika":
        asyncio.run(run_aio_pika(mode, url, queue, count))
    else:
        raise SystemExit(f"unknown library {lib}")


if __name__ == "__main__":
    main()

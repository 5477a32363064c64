"""The local exchange server under load, against the same server doing only the STS call.

    python -m bench.exchange_server [--clients 50] [--requests 20]

Serves, in one run and one process, two apps with the same waitress settings
(``endorse-exchange serve``'s): the exchange (kid check, cached key, RS256, claims,
allowlist, memory replay, STS AssumeRole) and a baseline that makes only the same single
AssumeRole call per request (the SDK's cost is the floor). STS is a fast local stand-in.
Each of ``--clients`` threads sends ``--requests`` requests with fresh tokens on fresh
connections. Prints throughput and p99 of both, connection resets, and the targets:
0 resets, throughput >= 0.5x the baseline's, p99 within 100 ms of the baseline's.
The quick mode (``python -m bench --quick``) runs 10 clients x 5 requests, ungated.
Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench import iterations, verdict

THROUGHPUT_RATIO = 0.5
P99_MARGIN_SECONDS = 0.1

_STS_ANSWER = b"""<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<AssumeRoleResult><Credentials><AccessKeyId>ASIABENCHEXAMPLE</AccessKeyId>
<SecretAccessKey>secret</SecretAccessKey><SessionToken>session</SessionToken>
<Expiration>2030-01-01T00:00:00Z</Expiration></Credentials>
<AssumedRoleUser><AssumedRoleId>AROABENCH:endorse</AssumedRoleId>
<Arn>arn:aws:sts::123456789012:assumed-role/bench/endorse</Arn></AssumedRoleUser>
</AssumeRoleResult><ResponseMetadata><RequestId>bench</RequestId></ResponseMetadata>
</AssumeRoleResponse>"""


class _StsHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(_STS_ANSWER)))
        self.end_headers()
        self.wfile.write(_STS_ANSWER)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _StsServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def _load(url: str, bodies: list[bytes], clients: int) -> tuple[list[float], int, float]:
    """POST every body (``clients`` threads, a new connection each); latencies, resets, s."""
    host, port = url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
    latencies: list[float] = []
    resets = [0]
    lock = threading.Lock()
    share = [bodies[i::clients] for i in range(clients)]

    def client(mine: list[bytes]) -> None:
        for body in mine:
            start = time.perf_counter()
            try:
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
                conn.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                conn.close()
                ok = response.status == 200
            except OSError:
                ok = False
            with lock:
                if ok:
                    latencies.append(time.perf_counter() - start)
                else:
                    resets[0] += 1

    threads = [threading.Thread(target=client, args=(m,)) for m in share]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, resets[0], time.perf_counter() - started


def _p99(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=100)[98] if len(latencies) > 1 else latencies[0]


def _baseline_app(sts: Any, role: str) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        answer = sts.assume_role(RoleArn=role, RoleSessionName="endorse-bench", DurationSeconds=900)
        data = json.dumps({"AccessKeyId": answer["Credentials"]["AccessKeyId"]}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [data]

    return app


def main(argv: list[str] | None = None) -> int:
    """Run both loads; return 0 when every target is met."""
    parser = argparse.ArgumentParser(prog="python -m bench.exchange_server")
    parser.add_argument("--clients", type=int, default=iterations(50, 10))
    parser.add_argument("--requests", type=int, default=iterations(20, 5), help="per client")
    args = parser.parse_args(argv)

    from endorse_ble.exchange.app import build_app
    from endorse_ble.exchange.aws_clients import sts_client
    from endorse_ble.exchange.config import load_config_file
    from endorse_ble.exchange.http_server import ExchangeServer
    from endorse_ble.testbed.aws.env import AWS_TEST_ENV, AWS_UNSET, TEST_ROLE_ARN
    from endorse_ble.testbed.endorse.server import EndorseSimulator
    from endorse_ble.testbed.endorse_keys import SimIdentity
    from endorse_ble.testbed.exchange.pytest_fixtures import exchange_config_toml

    for name in AWS_UNSET:
        os.environ.pop(name, None)
    os.environ.update(AWS_TEST_ENV)
    sts_server = _StsServer(("127.0.0.1", 0), _StsHandler)
    threading.Thread(target=sts_server.serve_forever, daemon=True).start()
    sts_url = f"http://127.0.0.1:{sts_server.server_address[1]}"
    total = args.clients * args.requests
    with EndorseSimulator() as sim, tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "exchange.toml"
        path.write_text(
            exchange_config_toml(keystore_url=sim.keystore_url, aws_endpoint_url=sts_url)
        )
        config = load_config_file(path)
        tokens = [sim.signer.mint(SimIdentity()) for _ in range(total + 1)]
        bodies = [json.dumps({"token": t}).encode() for t in tokens]
        results = {}
        for name, app in (
            ("baseline (STS call only)", _baseline_app(sts_client(config.aws), TEST_ROLE_ARN)),
            ("exchange", build_app(config)),
        ):
            server = ExchangeServer(app, config, "127.0.0.1", 0)  # type: ignore[arg-type]
            server.start()
            try:
                _load(server.url, bodies[:1], 1)  # warm: key fetch, SDK models
                latencies, resets, seconds = _load(server.url, bodies[1:], args.clients)
            finally:
                server.stop()
            results[name] = (len(latencies) / seconds, _p99(latencies), resets)
            print(
                f"{name:26s} {len(latencies):5d} ok  {resets} failed/reset  "
                f"{len(latencies) / seconds:7.1f} req/s  p99 {_p99(latencies) * 1000:6.1f} ms"
            )
    sts_server.shutdown()
    base_rate, base_p99, base_resets = results["baseline (STS call only)"]
    rate, p99, resets = results["exchange"]
    ratio = rate / base_rate
    print(f"throughput ratio {ratio:.2f} (target >= {THROUGHPUT_RATIO})")
    print(f"p99 difference {(p99 - base_p99) * 1000:+.1f} ms (target <= +100 ms)")
    print(f"resets/failures {resets + base_resets} (target 0)")
    met = ratio >= THROUGHPUT_RATIO and p99 - base_p99 <= P99_MARGIN_SECONDS and resets == 0
    met = met and base_resets == 0
    print("target met" if met else "TARGET MISSED")
    return verdict(met)


if __name__ == "__main__":
    sys.exit(main())

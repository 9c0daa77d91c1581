"""Run a benchmark: ``python -m bench NAME [options]``; without NAME, list them."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "conflicts": "pure order merges per second; resolutions per second on 1,000 orders",
    "gateway_sync": "initial pull, push and idle live feeds: gateway vs CouchDB directly",
    "router_latency": "back office -> live feed latency at 100 / 1,000 users; new rep db fill",
    "first_sync": "a new phone's first sync over a 100 ms link: plain vs snapshot + follow-up",
    "load": "many field users at once, a day's pushes, pulls and live feeds: direct vs gateway",
    "scale_out": "N gateways + M router workers on one store, 1,000 / 5,000 users: idle cost, "
    "push -> fs_orders, back office -> phone, a worker killed",
    "notifications": "10,000 notifications through the dispatcher to a fake FCM: rate, memory",
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in BENCHMARKS:
        for name, what in BENCHMARKS.items():
            print(f"{name:<16} {what}")
        print("usage: python -m bench NAME [--help]")
        return
    module = importlib.import_module(f"bench.{sys.argv[1]}")
    module.cli(sys.argv[2:])


if __name__ == "__main__":
    main()

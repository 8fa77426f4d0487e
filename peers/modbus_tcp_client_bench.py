#!/usr/bin/python3
"""pymodbus's own Modbus TCP client doing Ridgeline's bench poll cycle, as the baseline beside ours:
read UNITS x COUNT holding registers (one request per unit, one after another), CYCLES times,
on one connection. Prints one JSON line: {"cycles_ms": [...]}.

usage: modbus_tcp_client_bench.py PORT [--units 10] [--count 50] [--cycles 30] [--warmup 3]
"""
import argparse
import json
import time

from pymodbus.client import ModbusTcpClient


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--units", type=int, default=10)
    ap.add_argument("--count", type=int, default=50)
    ap.add_argument("--cycles", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    a = ap.parse_args()
    client = ModbusTcpClient("127.0.0.1", port=a.port, timeout=2)
    if not client.connect():
        raise SystemExit("cannot connect")
    cycles = []
    try:
        for i in range(a.cycles + a.warmup):
            t0 = time.perf_counter()
            for unit in range(1, a.units + 1):
                r = client.read_holding_registers(0, a.count, slave=unit)
                if r.isError() or len(r.registers) != a.count:
                    raise SystemExit(f"unit {unit}: {r}")
            if i >= a.warmup:
                cycles.append((time.perf_counter() - t0) * 1000.0)
    finally:
        client.close()
    print(json.dumps({"cycles_ms": cycles}), flush=True)


if __name__ == "__main__":
    main()

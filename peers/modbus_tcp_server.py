#!/usr/bin/python3
"""A Modbus TCP server for Ridgeline's tests and benches: pymodbus 3.0 (Debian 12's
python3-pymodbus) on 127.0.0.1. Run with Debian's /usr/bin/python3.

usage: modbus_tcp_server.py [--port 0] [--units 1,2] [--size 200] [--delay-ms 0] [--framer socket|rtu] [--seconds 120]

  --port 0      pick a free port (printed); give the same port again to come back after a crash
  --delay-ms N  a slow device: each request is held N ms before it is answered (blocking, as a
                device busy with its own work would be)
  --framer rtu  RTU frames (address, PDU, CRC) over the TCP socket, as a serial gateway in
                transparent mode tunnels them (default: socket, i.e. MBAP)

Every unit has its own tables of SIZE entries (PDU addresses, 0-based; zero_mode=True):
  holding[i] = 100 + i for i < 10, else 0  (read/write: fc 3, 6, 16, 23)
  input[i]   = 200 + i for i < 10; input[10..11] = 0x41BC, 0x0000 (23.5 as float32 ABCD);
               input[20] = the unit id
  coils[i]   = (i + 1) % 2, discrete[i] = i % 2
Requests for other unit ids get no answer (ignore_missing_slaves). Prints {"serving": ...} with
the port once it listens, and one JSON line per holding-register write.
"""
import argparse
import asyncio
import json
import logging
import os
import sys
import time

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server import StartAsyncTcpServer
from pymodbus.transaction import ModbusRtuFramer, ModbusSocketFramer


class Block(ModbusSequentialDataBlock):
    unit = 0
    delay = 0.0
    log_writes = False

    def getValues(self, address, count=1):  # noqa: N802 (pymodbus API name)
        if self.delay:
            time.sleep(self.delay)
        return super().getValues(address, count)

    def setValues(self, address, values):  # noqa: N802 (pymodbus API name)
        super().setValues(address, values)
        if self.log_writes:
            vals = list(values) if isinstance(values, list) else [values]
            print(json.dumps({"write": {"unit": self.unit, "address": address, "values": vals}}), flush=True)


def block(values, unit, delay, log_writes=False):
    b = Block(0, values)
    b.unit, b.delay, b.log_writes = unit, delay, log_writes
    return b


def unit_store(unit, size, delay):
    ir = [200 + i if i < 10 else 0 for i in range(size)]
    ir[10], ir[11], ir[20] = 0x41BC, 0x0000, unit
    return ModbusSlaveContext(
        di=block([i % 2 for i in range(size)], unit, delay),
        co=block([(i + 1) % 2 for i in range(size)], unit, delay),
        hr=block([100 + i if i < 10 else 0 for i in range(size)], unit, delay, log_writes=True),
        ir=block(ir, unit, delay),
        # pymodbus 3.0 shifts addresses by one unless zero_mode=True
        zero_mode=True,
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--units", default="1")
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--framer", choices=["socket", "rtu"], default="socket")
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--debug", action="store_true")
    a = ap.parse_args()
    logging.basicConfig(level=logging.DEBUG if a.debug else logging.WARNING, stream=sys.stderr)
    units = [int(u) for u in a.units.split(",") if u]
    delay = a.delay_ms / 1000.0
    context = ModbusServerContext(slaves={u: unit_store(u, a.size, delay) for u in units}, single=False)

    async def run():
        server = await StartAsyncTcpServer(
            context=context, framer=ModbusRtuFramer if a.framer == "rtu" else ModbusSocketFramer, address=("127.0.0.1", a.port),
            allow_reuse_address=True, ignore_missing_slaves=True, defer_start=True)
        task = asyncio.create_task(server.serve_forever())
        await server.serving
        port = server.server.sockets[0].getsockname()[1]
        print(json.dumps({"serving": True, "port": port, "units": units, "framer": a.framer, "pid": os.getpid()}), flush=True)
        try:
            await asyncio.wait_for(task, timeout=a.seconds)
        except asyncio.TimeoutError:
            pass

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

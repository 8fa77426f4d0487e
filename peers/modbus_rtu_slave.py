#!/usr/bin/python3
"""A Modbus RTU slave for Ridgeline's tests: pymodbus 3.0 (Debian 12) on a serial device, usually
one end of a socat pty pair. Run with Debian's /usr/bin/python3 (python3-pymodbus and
python3-serial-asyncio live in /usr/lib/python3/dist-packages).

usage: modbus_rtu_slave.py DEVICE [--units 1,2] [--baud 9600] [--size 200] [--seconds 120]

Every unit has its own tables of SIZE entries (PDU addresses, 0-based; zero_mode=True):
  holding[i] = 100 + i for i < 10, else 0  (read/write: fc 3, 6, 16, 23)
  input[i]   = 200 + i for i < 10; input[10..11] = 0x41BC, 0x0000 (23.5 as float32 ABCD);
               input[20] = the unit id
  coils[i]   = (i + 1) % 2, discrete[i] = i % 2
Requests for other unit ids get no answer (like an absent device). Prints {"serving": ...} once
the port is open, and one JSON line per holding-register write.
"""
import argparse
import asyncio
import json
import logging
import os
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server import StartAsyncSerialServer
from pymodbus.transaction import ModbusRtuFramer


class WriteLog(ModbusSequentialDataBlock):
    unit = 0

    def setValues(self, address, values):  # noqa: N802 (pymodbus API name)
        super().setValues(address, values)
        vals = list(values) if isinstance(values, list) else [values]
        print(json.dumps({"write": {"unit": self.unit, "address": address, "values": vals}}), flush=True)


def unit_store(unit, size):
    hr = WriteLog(0, [100 + i if i < 10 else 0 for i in range(size)])
    hr.unit = unit
    ir = [200 + i if i < 10 else 0 for i in range(size)]
    ir[10], ir[11], ir[20] = 0x41BC, 0x0000, unit
    return ModbusSlaveContext(
        di=ModbusSequentialDataBlock(0, [i % 2 for i in range(size)]),
        co=ModbusSequentialDataBlock(0, [(i + 1) % 2 for i in range(size)]),
        hr=hr,
        ir=ModbusSequentialDataBlock(0, ir),
        # pymodbus 3.0 shifts addresses by one unless zero_mode=True
        zero_mode=True,
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("device")
    ap.add_argument("--units", default="1")
    ap.add_argument("--baud", type=int, default=9600)
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--debug", action="store_true")
    a = ap.parse_args()
    logging.basicConfig(level=logging.DEBUG if a.debug else logging.WARNING, stream=sys.stderr)
    units = [int(u) for u in a.units.split(",") if u]
    context = ModbusServerContext(slaves={u: unit_store(u, a.size) for u in units}, single=False)

    async def run():
        # The framer must be given: the 3.0 default is ASCII.
        server = await StartAsyncSerialServer(
            context=context, framer=ModbusRtuFramer, port=a.device, baudrate=a.baud, bytesize=8,
            parity="N", stopbits=1, timeout=0.05, ignore_missing_slaves=True, defer_start=True)
        await server.start()
        if server.transport is None:
            print(json.dumps({"error": "could not open " + a.device}), flush=True)
            return
        print(json.dumps({"serving": True, "device": a.device, "units": units, "pid": os.getpid()}), flush=True)
        try:
            await asyncio.wait_for(server.serve_forever(), timeout=a.seconds)
        except asyncio.TimeoutError:
            pass

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

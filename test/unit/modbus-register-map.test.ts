import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { RidgeError } from "../../core/index.js";
import { modbusDeviceConfig, modbusDriverConfig } from "../../drivers/modbus/config.js";
import { encodeWrite } from "../../drivers/modbus/modbus-driver.js";
import { blockRequest, extractValues, planReads } from "../../drivers/modbus/read-plan.js";
import { WORD_ORDERS, applyScale, decodeRegisters, encodeRegisters, removeScale, type PointType, type WordOrder } from "../../drivers/modbus/register-map.js";

const h = (regs: number[]) => regs.map((r) => r.toString(16).padStart(4, "0").toUpperCase()).join(" ");

test("float32 23.5 = 0x41BC0000 in the four orders", () => {
  const expect: Record<WordOrder, string> = { ABCD: "41BC 0000", CDAB: "0000 41BC", BADC: "BC41 0000", DCBA: "0000 BC41" };
  for (const o of WORD_ORDERS) {
    assert.is(h(encodeRegisters(23.5, "float32", o)), expect[o], o);
    assert.is(decodeRegisters(encodeRegisters(23.5, "float32", o), "float32", o), 23.5);
  }
});

test("int32, uint32, float64 and string byte layouts", () => {
  assert.is(h(encodeRegisters(0x12345678, "uint32", "ABCD")), "1234 5678");
  assert.is(h(encodeRegisters(0x12345678, "uint32", "CDAB")), "5678 1234");
  assert.is(h(encodeRegisters(0x12345678, "uint32", "BADC")), "3412 7856");
  assert.is(h(encodeRegisters(0x12345678, "uint32", "DCBA")), "7856 3412");
  assert.is(h(encodeRegisters(-2, "int32", "ABCD")), "FFFF FFFE");
  assert.is(h(encodeRegisters(-2, "int16", "BADC")), "FEFF");
  // 1.0 = 0x3FF0000000000000
  assert.is(h(encodeRegisters(1, "float64", "ABCD")), "3FF0 0000 0000 0000");
  assert.is(h(encodeRegisters(1, "float64", "DCBA")), "0000 0000 0000 F03F");
  assert.is(h(encodeRegisters("AB", "string", "ABCD", 2)), "4142 0000");
  assert.is(h(encodeRegisters("AB", "string", "BADC", 2)), "4241 0000");
  assert.is(decodeRegisters([0x4142, 0x4300], "string", "ABCD"), "ABC");
});

const arbTyped: fc.Arbitrary<[PointType, number | string | boolean]> = fc.oneof(
  fc.tuple(fc.constant("bool" as const), fc.boolean()),
  fc.tuple(fc.constant("int16" as const), fc.integer({ min: -0x8000, max: 0x7fff })),
  fc.tuple(fc.constant("uint16" as const), fc.integer({ min: 0, max: 0xffff })),
  fc.tuple(fc.constant("int32" as const), fc.integer({ min: -0x80000000, max: 0x7fffffff })),
  fc.tuple(fc.constant("uint32" as const), fc.integer({ min: 0, max: 0xffffffff })),
  fc.tuple(fc.constant("float32" as const), fc.float({ noNaN: true }).map((x) => Math.fround(x))),
  fc.tuple(fc.constant("float64" as const), fc.double({ noNaN: true })),
  fc.tuple(fc.constant("string" as const), fc.string({ maxLength: 20 }).map((s) => s.replace(/[^\x21-\x7e]/g, "x"))),
);

test("property: every type in every order round-trips through registers", () => {
  fc.assert(
    fc.property(arbTyped, fc.constantFrom(...WORD_ORDERS), ([type, v], order) => {
      const regs = encodeRegisters(v, type, order, 10);
      for (const r of regs) assert.ok(Number.isInteger(r) && r >= 0 && r <= 0xffff);
      const back = decodeRegisters(regs, type, order);
      if (typeof v === "number" && Object.is(v, -0)) assert.ok(Object.is(back, -0) || back === 0);
      else assert.equal(back, v);
    }),
    { numRuns: 2000 },
  );
});

test("property: scale and offset invert on write", () => {
  fc.assert(
    fc.property(fc.integer({ min: -30000, max: 30000 }), fc.constantFrom(0.1, 0.01, 2, 10), fc.integer({ min: -100, max: 100 }), (raw, scale, offset) => {
      const p = { type: "int16" as const, scale, offset };
      const eng = applyScale(raw, p);
      assert.is(removeScale(eng, p), raw);
    }),
  );
});

test("values that do not fit are refused with E_MODBUS_WRITE_VALUE", () => {
  for (const [v, t] of [[70000, "uint16"], [-1, "uint16"], [1.5, "int16"], ["x", "int32"], [2 ** 32, "uint32"], ["é✓", "string"], [{}, "float32"]] as const) {
    try {
      encodeRegisters(v as never, t, "ABCD", 2);
      assert.unreachable(`${String(v)} as ${t}`);
    } catch (e) {
      assert.ok(e instanceof RidgeError && e.code === "E_MODBUS_WRITE_VALUE", String(e));
    }
  }
});

test("reads coalesce contiguous points up to 125 registers / 2000 coils", () => {
  const dev = modbusDeviceConfig.parse({
    id: "p",
    driver: "b",
    unit: 1,
    points: [
      { name: "a", fn: "holding", address: 0 },
      { name: "b", fn: "holding", address: 1, type: "float32" },
      { name: "c", fn: "holding", address: 3, type: "float64" },
      { name: "far", fn: "holding", address: 10 },
      { name: "edge", fn: "holding", address: 130 },
      { name: "i", fn: "input", address: 5 },
      ...Array.from({ length: 130 }, (_, k) => ({ name: `r${k}`, fn: "holding", address: 1000 + k })),
      ...Array.from({ length: 2100 }, (_, k) => ({ name: `c${k}`, fn: "coil", address: k })),
    ],
  });
  const blocks = planReads(dev.points, 0);
  const sig = blocks.map((b) => `${b.fn}@${b.address}x${b.quantity}`);
  assert.equal(sig, ["coil@0x2000", "coil@2000x100", "holding@0x7", "holding@10x1", "holding@130x1", "holding@1000x125", "holding@1125x5", "input@5x1"]);
  // with a gap allowance, 0..7 and 10 join
  assert.ok(planReads(dev.points, 3).some((b) => b.fn === "holding" && b.address === 0 && b.quantity === 11));
  const first = blocks[2]!;
  assert.equal(blockRequest(first), { fn: 3, address: 0, quantity: 7 });
  const regs = [7, ...encodeRegisters(23.5, "float32", "ABCD"), ...encodeRegisters(-1.25, "float64", "ABCD")];
  assert.equal(extractValues(first, regs), { a: 7, b: 23.5, c: -1.25 });
});

test("bool points can read one bit of a status word", () => {
  const dev = modbusDeviceConfig.parse({
    id: "p",
    driver: "b",
    unit: 1,
    points: [
      { name: "word", fn: "input", address: 0 },
      { name: "ready", fn: "input", address: 0, type: "bool", bit: 0 },
      { name: "fault", fn: "input", address: 0, type: "bool", bit: 15 },
      { name: "warn", fn: "input", address: 0, type: "bool", bit: 3 },
    ],
  });
  const [block] = planReads(dev.points);
  assert.equal({ ...block!, points: block!.points.length }, { fn: "input", address: 0, quantity: 1, points: 4 });
  assert.equal(extractValues(block!, [0x8001]), { word: 0x8001, ready: true, fault: true, warn: false });
  assert.not.ok(modbusDeviceConfig.safeParse({ id: "p", driver: "b", unit: 1, points: [{ name: "x", fn: "holding", address: 0, type: "bool", bit: 2, writable: true }] }).success);
  assert.not.ok(modbusDeviceConfig.safeParse({ id: "p", driver: "b", unit: 1, points: [{ name: "x", fn: "coil", address: 0, bit: 2 }] }).success);
});

test("writes pick 05/0F for coils and 06/10 for registers", () => {
  const dev = modbusDeviceConfig.parse({
    id: "p",
    driver: "b",
    unit: 1,
    points: [
      { name: "run", fn: "coil", address: 1, writable: true },
      { name: "runM", fn: "coil", address: 2, writable: true, writeMultiple: true },
      { name: "sp", fn: "holding", address: 10, scale: 0.1, writable: true },
      { name: "spM", fn: "holding", address: 11, writable: true, writeMultiple: true },
      { name: "f", fn: "holding", address: 20, type: "float32", order: "CDAB", writable: true },
    ],
  });
  const pt = (n: string) => dev.points.find((p) => p.name === n)!;
  assert.equal(encodeWrite(pt("run"), true), { fn: 5, address: 1, value: true });
  assert.equal(encodeWrite(pt("runM"), "off"), { fn: 0x0f, address: 2, values: [false] });
  assert.equal(encodeWrite(pt("sp"), 21.5), { fn: 6, address: 10, value: 215 });
  assert.equal(encodeWrite(pt("spM"), 7), { fn: 0x10, address: 11, values: [7] });
  assert.equal(encodeWrite(pt("f"), 23.5), { fn: 0x10, address: 20, values: [0x0000, 0x41bc] });
});

test("config: defaults, and located errors for bad points", () => {
  const bus = modbusDriverConfig.parse({ name: "rs485-1", port: "/dev/ttyAMA0", timeoutMs: "250ms" });
  assert.is(bus.baudRate, 19200);
  assert.is(bus.parity, "even");
  assert.is(bus.timeoutMs, 250);
  assert.not.ok(modbusDriverConfig.safeParse({ name: "x", port: "/dev/x", baudRate: 12345 }).success);
  const bad = modbusDeviceConfig.safeParse({
    id: "d",
    driver: "b",
    unit: 3,
    points: [
      { name: "x", fn: "coil", address: 1, type: "int16" },
      { name: "x", fn: "input", address: 2, writable: true },
      { name: "s", fn: "holding", address: 3, type: "string" },
      { name: "g", fn: "holding", address: 4, group: "nope" },
    ],
  });
  assert.not.ok(bad.success);
  if (!bad.success) {
    const paths = bad.error.issues.map((i) => i.path.join("."));
    for (const p of ["points.0.type", "points.1.name", "points.1.writable", "points.2.length", "points.3.group"]) assert.ok(paths.includes(p), `${p} in ${paths.join(", ")}`);
  }
  assert.not.ok(modbusDeviceConfig.safeParse({ id: "d", driver: "b", unit: 0, points: [{ name: "a", fn: "coil", address: 0 }] }).success);
});

test.run();

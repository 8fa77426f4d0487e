import { test } from "uvu";
import * as assert from "uvu/assert";
import { ConfigError, parseYamlWith } from "../../core/config-errors.js";
import { createModbusDriver, type ModbusDeviceConfig, type ModbusDriverConfig } from "../../drivers/modbus/index.js";
import { gatewayConfig } from "../../runtime/config/schema.js";

const yaml = (devices: string) => `gateway: { id: trail-gw-07 }
drivers:
  - modbus: { name: rs485-1, port: /dev/ttyAMA0, baudRate: 19200, parity: even, timeoutMs: 200 }
devices:
${devices}`;

const good = yaml(`  - id: pump-3
    driver: rs485-1
    unit: 3
    poll: { every: 1s }
    groups: { fast: { every: 250ms } }
    points:
      - { name: flow_lpm, fn: holding, address: 100, type: float32, order: CDAB, scale: 0.1, unit: "l/min" }
      - { name: run,      fn: coil,    address: 1,   type: bool, writable: true, group: fast }
`);

test("the design's example config validates, and the driver takes its entries as the gateway passes them", () => {
  const { value } = parseYamlWith("gateway.yaml", good, gatewayConfig, {});
  const entry = value.drivers[0]!;
  assert.is(entry.kind, "modbus");
  const cfg = entry.config as unknown as ModbusDriverConfig;
  assert.is(cfg.timeoutMs, 200);
  assert.is(cfg.retries, 2);
  // the gateway hands over the device entries as written (durations still strings)
  const devices = value.devices.filter((d) => d.driver === "rs485-1") as unknown as ModbusDeviceConfig[];
  const d = createModbusDriver(cfg, devices);
  assert.is(d.name, "rs485-1");
  assert.ok(!d.health().up, "not started");
});

test("bad device points are located by file, line and path", () => {
  const bad = yaml(`  - id: pump-3
    driver: rs485-1
    unit: 300
    points:
      - { name: flow, fn: holding, address: 100, type: float24 }
      - { name: run, fn: discrete, address: 1, writable: true }
`);
  try {
    parseYamlWith("gateway.yaml", bad, gatewayConfig, {});
    assert.unreachable("should fail");
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    const byPath = new Map(e.issues.map((i) => [i.path, i]));
    assert.ok(byPath.has("devices[0].unit"), [...byPath.keys()].join(", "));
    assert.is(byPath.get("devices[0].unit")!.line, 7);
    assert.ok(byPath.has("devices[0].points[0].type"));
    assert.is(byPath.get("devices[0].points[0].type")!.line, 9);
  }
  // cross-field rules (checked once the entries are well-formed) are located too
  const readOnly = yaml(`  - id: pump-3
    driver: rs485-1
    unit: 3
    points:
      - { name: flow, fn: holding, address: 100 }
      - { name: run, fn: discrete, address: 1, writable: true }
`);
  try {
    parseYamlWith("gateway.yaml", readOnly, gatewayConfig, {});
    assert.unreachable("should fail");
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    const i = e.issues.find((x) => x.path === "devices[0].points[1].writable");
    assert.ok(i, JSON.stringify(e.issues));
    assert.is(i!.line, 10);
  }
});

test("bus settings are checked: baud, parity, unknown keys", () => {
  const bad = `gateway: { id: gw }
drivers:
  - modbus: { name: rs485-1, port: /dev/ttyAMA0, baudRate: 12345, parity: mark, retires: 3 }
`;
  try {
    parseYamlWith("gateway.yaml", bad, gatewayConfig, {});
    assert.unreachable("should fail");
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    const paths = e.issues.map((i) => i.path);
    for (const p of ["drivers[0].modbus.baudRate", "drivers[0].modbus.parity"]) assert.ok(paths.includes(p), `${p} in ${paths.join(", ")}`);
    assert.ok(paths.some((p) => p.startsWith("drivers[0].modbus")) && e.issues.some((i) => /retires/.test(i.message) || /retires/.test(i.path)), JSON.stringify(e.issues));
  }
});

const tcpYaml = (bus: string) => `gateway: { id: gw }
drivers:
  - modbus: ${bus}
devices:
  - id: meter-1
    driver: plc-1
    unit: 1
    points:
      - { name: kwh, fn: input, address: 0, type: uint32 }
`;

function issuesOf(text: string): { path: string; code: string; message: string; line?: number }[] {
  try {
    parseYamlWith("gateway.yaml", text, gatewayConfig, {});
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.issues.map((i) => ({ path: i.path, code: i.code, message: i.message, line: i.line }));
  }
  return [];
}

test("transport tcp: host and port 1–65535 validate; rtu stays the default", () => {
  const { value } = parseYamlWith("gateway.yaml", tcpYaml("{ name: plc-1, transport: tcp, host: 10.0.0.7, port: 502, maxInFlight: 4, timeoutMs: 1s }"), gatewayConfig, {});
  const cfg = value.drivers[0]!.config as unknown as ModbusDriverConfig;
  assert.is(cfg.transport, "tcp");
  assert.is(cfg.port, 502);
  assert.is(cfg.maxInFlight, 4);
  assert.is(cfg.timeoutMs, 1000);
  const d = createModbusDriver(cfg, value.devices as unknown as ModbusDeviceConfig[]);
  assert.is(d.name, "plc-1");
  const rtu = parseYamlWith("gateway.yaml", tcpYaml("{ name: plc-1, port: /dev/ttyUSB0 }"), gatewayConfig, {}).value.drivers[0]!.config as unknown as ModbusDriverConfig;
  assert.is(rtu.transport, "rtu");
  assert.is(rtu.maxInFlight, 1);
  const ot = parseYamlWith("gateway.yaml", tcpYaml("{ name: plc-1, transport: rtu-over-tcp, host: gw.local, port: 4001 }"), gatewayConfig, {}).value.drivers[0]!.config as unknown as ModbusDriverConfig;
  assert.is(ot.transport, "rtu-over-tcp");
});

test("transport tcp: a port out of range, a missing host, a serial path as port are config errors with their codes and lines", () => {
  for (const [bus, path, code, re] of [
    ["{ name: plc-1, transport: tcp, host: 10.0.0.7, port: 70000 }", "drivers[0].modbus.port", "E_CONFIG_RANGE", /1–65535, got 70000/],
    ["{ name: plc-1, transport: tcp, host: 10.0.0.7, port: 0 }", "drivers[0].modbus.port", "E_CONFIG_RANGE", /1–65535, got 0/],
    ["{ name: plc-1, transport: tcp, host: 10.0.0.7, port: 502.5 }", "drivers[0].modbus.port", "E_CONFIG_RANGE", /got 502.5/],
    ["{ name: plc-1, transport: tcp, port: 502 }", "drivers[0].modbus.host", "E_CONFIG_MISSING", /needs host/],
    ["{ name: plc-1, transport: tcp, host: plc, port: /dev/ttyUSB0 }", "drivers[0].modbus.port", "E_CONFIG_TYPE", /TCP port number/],
    ["{ name: plc-1, port: 502 }", "drivers[0].modbus.port", "E_CONFIG_TYPE", /serial device path/],
    ["{ name: plc-1, port: /dev/ttyUSB0, host: plc }", "drivers[0].modbus.host", "E_CONFIG_INVALID", /host applies to transport tcp/],
    ["{ name: plc-1, transport: rtu-over-tcp, host: gw, port: 4001, maxInFlight: 2 }", "drivers[0].modbus.maxInFlight", "E_CONFIG_INVALID", /one request at a time/],
    ["{ name: plc-1, transport: udp, host: gw, port: 502 }", "drivers[0].modbus.transport", "E_CONFIG_ENUM", /tcp/],
    ["{ name: plc-1, transport: tcp, host: gw, port: 502, maxInFlight: 17 }", "drivers[0].modbus.maxInFlight", "E_CONFIG_RANGE", /16/],
  ] as const) {
    const issues = issuesOf(tcpYaml(bus));
    const i = issues.find((x) => x.path === path);
    assert.ok(i, `${bus}: ${JSON.stringify(issues)}`);
    assert.is(i!.code, code, `${bus}: ${JSON.stringify(i)}`);
    assert.match(i!.message, re);
    assert.is(i!.line, 3, bus);
  }
});

test.run();

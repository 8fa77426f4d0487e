/**
 * `ridge run` with a Modbus bus in its config, against a pymodbus RTU slave on a socat pty pair:
 * the driver is wired by the gateway, polls, shows its cadence and slaves in /status and its
 * counters in /metrics.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { startGateway } from "../helpers/gateway.js";
import { startPtyPair, startRealSlave } from "../../peers/modbus-rtu-slave.js";
import { withPackages } from "../../peers/required-packages.js";
import { tempDir, waitFor } from "../../peers/process.js";

/** A driver component in /status: supervisor fields plus the driver's own status(). */
interface DriverStatus {
  state: string;
  health: { up: boolean; detail?: string };
  open: boolean;
  cadence: { key: string; configuredMs: number; achievedMs: number | null; polls: number }[];
  slaves: Record<string, { ok: number; timeouts: number }>;
}

withPackages(test, ["socat", "python3-pymodbus", "python3-serial-asyncio"])("a gateway polls a Modbus bus and reports it in /status and /metrics", async () => {
  const t = tempDir("ridge-modbus-gw-");
  const pty = await startPtyPair(t.dir, "master", "slave");
  const slave = await startRealSlave(`${t.dir}/slave`, { units: [1] });
  const config = `gateway: { id: modbus-gw }
board: sim
drivers:
  - modbus: { name: rs485-1, port: ${t.dir}/master, baudRate: 9600, parity: none, timeoutMs: 300 }
devices:
  - id: plc
    driver: rs485-1
    unit: 1
    poll: { every: 200ms }
    points:
      - { name: h0, fn: holding, address: 0 }
      - { name: temp, fn: input, address: 10, type: float32, unit: "°C" }
  - id: ghost
    driver: rs485-1
    unit: 9
    poll: { every: 200ms }
    points:
      - { name: x, fn: input, address: 0 }
pipeline: {}
`;
  let gw: Awaited<ReturnType<typeof startGateway>> | undefined;
  try {
    gw = await startGateway({ dataDir: join(t.dir, "data"), config });
    const g = gw;
    const driver = await waitFor(
      "the bus polled a few times",
      async () => {
        const st = (await g.request("GET", "/status")).body as { components: Record<string, DriverStatus> };
        const d = st.components["driver:rs485-1"];
        const plc = d?.cadence?.find((c) => c.key === "plc/default");
        return plc && plc.polls >= 3 ? d : undefined;
      },
      20_000,
      200,
    );
    assert.ok(driver.health.up);
    assert.ok(driver.open);
    assert.is(driver.cadence.find((c) => c.key === "plc/default")!.configuredMs, 200);
    assert.ok(driver.slaves.plc!.ok >= 3);
    const metrics = await waitFor(
      "modbus counters in /metrics",
      async () => {
        const m = (await g.request("GET", "/metrics")).body as string;
        return /ridge_modbus_errors_total\{[^}]*device="ghost"[^}]*code="E_MODBUS_TIMEOUT"/.test(m) ? m : undefined;
      },
      20_000,
      200,
    );
    // labels in any order (the registry sorts them)
    assert.match(metrics, /ridge_modbus_polls_total\{(?=[^}]*driver="rs485-1")(?=[^}]*device="plc")[^}]*\} \d+/, metrics.split("\n").filter((l) => l.includes("modbus")).join("\n"));
    // plc never answered wrongly (a timeout is possible on a loaded machine)
    const plcErrors = metrics.split("\n").filter((l) => l.startsWith("ridge_modbus_errors_total{") && l.includes('device="plc"'));
    assert.ok(plcErrors.every((l) => l.includes('code="E_MODBUS_TIMEOUT"')), plcErrors.join("\n"));
  } finally {
    // the peers stop even when the gateway never came up
    await gw?.stop();
    await slave.stop();
    await pty.stop();
    t.cleanup();
  }
});

test.run();

/**
 * The Driver contract (test/helpers/driver-contract.ts) over every driver, each with its real
 * peer on loopback: sim; MQTT as the embedded broker with an MQTT.js client publishing; Modbus
 * RTU through a socat pty pair to the pymodbus slave; LwM2M with the test client process; plain
 * CoAP against libcoap's coap-server.
 */
import type { MqttClient } from "mqtt";
import { CoapDriver, coapDeviceConfig, coapDriverConfig } from "../../drivers/coap/index.js";
import { Lwm2mDriver, lwm2mDeviceConfig, lwm2mDriverConfig } from "../../drivers/lwm2m/index.js";
import { createModbusDriver, modbusDeviceConfig, modbusDriverConfig } from "../../drivers/modbus/index.js";
import { createMqttDriver, hashPassword, mqttDeviceConfig, mqttDriverConfig } from "../../drivers/mqtt/index.js";
import { SimDriver, simDriverConfig } from "../../drivers/sim/index.js";
import { driverContract } from "../helpers/driver-contract.js";
import { startLibcoapServer, type LibcoapServer } from "../helpers/libcoap.js";
import { startLwm2mClient, type TestLwm2mClient } from "../helpers/lwm2m-client.js";
import { canRunRealSlave, startPtyPair, startRealSlave, type RealSlave } from "../../peers/modbus-rtu-slave.js";
import { connectMqtt } from "../../peers/mqtt-clients.js";
import { freeTcpPort, freeUdpPort, tempDir, waitFor, type Peer } from "../../peers/process.js";

// ---------------------------------------------------------------- sim: no peer, deliberate duplicates

driverContract(
  "sim",
  () => new SimDriver(simDriverConfig.parse({ name: "trail", devices: 4, rateHz: 25, duplicates: 0.05, outOfOrder: 0.05 })),
  { devices: ["tracker-1", "tracker-2", "tracker-3", "tracker-4"], identicalDuplicates: true },
).run();

// ---------------------------------------------------------------- mqtt: the embedded broker, an MQTT.js device

{
  let port = 0;
  let password = "";
  let client: MqttClient | undefined;
  let n = 0;
  driverContract(
    "mqtt (embedded broker)",
    () =>
      createMqttDriver(mqttDriverConfig.parse({ name: "site", broker: "embedded", listen: `127.0.0.1:${port}`, limits: { messagesPerSecond: 1000, burst: 1000 } }), [
        mqttDeviceConfig.parse({ id: "dev-1", driver: "site", password }),
      ]),
    {
      async before() {
        port = await freeTcpPort(); // fixed, so the restarted broker listens where the device connects
        password = await hashPassword("one-secret", { ln: 10 });
      },
      async afterStart() {
        client = await connectMqtt(`mqtt://127.0.0.1:${port}`, { username: "dev-1", password: "one-secret", clientId: "contract-dev-1" });
      },
      async afterStop() {
        await client?.endAsync(true);
        client = undefined;
      },
      stimulate() {
        if (client?.connected) client.publish("devices/dev-1/telemetry", JSON.stringify({ n: ++n }), { qos: 0 });
      },
      devices: ["dev-1"],
    },
  ).run();
}

// ---------------------------------------------------------------- modbus: socat pty pair + pymodbus RTU slave

{
  const tmp = tempDir("ridge-contract-modbus-");
  let pty: Peer | undefined;
  let slave: RealSlave | undefined;
  driverContract(
    "modbus (pymodbus over a pty)",
    () =>
      createModbusDriver(
        modbusDriverConfig.parse({ name: "rs485-1", port: `${tmp.dir}/master`, baudRate: 9600, parity: "none", timeoutMs: 400, retries: 1, reopen: { minMs: 100, maxMs: 400 } }),
        [modbusDeviceConfig.parse({ id: "plc", driver: "rs485-1", unit: 1, poll: { every: "100ms" }, points: [{ name: "h0", fn: "holding", address: 0 }, { name: "c0", fn: "coil", address: 0, writable: true }] })],
      ),
    {
      async before() {
        if (!canRunRealSlave()) throw new Error("socat and /usr/bin/python3 with python3-pymodbus and python3-serial-asyncio are needed");
        pty = await startPtyPair(tmp.dir, "master", "slave");
        slave = await startRealSlave(`${tmp.dir}/slave`, { units: [1] });
      },
      async after() {
        await slave?.stop();
        await pty?.stop();
        tmp.cleanup();
      },
      devices: ["plc"],
    },
  ).run();
}

// ---------------------------------------------------------------- lwm2m: the test client process registers and notifies

{
  let port = 0;
  let client: TestLwm2mClient | undefined;
  let driver: Lwm2mDriver | undefined;
  let n = 0;
  driverContract(
    "lwm2m (test client process)",
    () =>
      (driver = new Lwm2mDriver(lwm2mDriverConfig.parse({ name: "field", listen: `127.0.0.1:${port}`, requestTimeout: "3s", deviceTypes: { thermo: { observe: ["/3303/0/5700"] } } }), [
        lwm2mDeviceConfig.parse({ id: "thermo-1", driver: "field", endpoint: "urn:dev:thermo-1", type: "thermo" }),
      ])),
    {
      async before() {
        port = await freeUdpPort();
        client = await startLwm2mClient({ server: `127.0.0.1:${port}`, endpoint: "urn:dev:thermo-1", lifetime: 60 });
      },
      async afterStart(_d, run) {
        // run 2: the registration comes back from the store in the data directory
        if (run === 1) {
          client!.send({ cmd: "register" });
          await client!.waitEvent("registered", (e) => e.event === "registered");
        }
        await waitFor("observing /3303/0/5700", () => driver!.lwm2m.observing().length >= 1, 10_000);
      },
      async after() {
        await client?.stop();
      },
      stimulate() {
        client?.send({ cmd: "set", path: "/3303/0/5700", value: 20 + (++n % 100) / 10 });
      },
      stimulateEveryMs: 100,
      devices: ["thermo-1"],
    },
  ).run();
}

// ---------------------------------------------------------------- coap: libcoap's coap-server, polled and observed

{
  let srv: LibcoapServer | undefined;
  driverContract(
    "coap (libcoap coap-server)",
    () =>
      new CoapDriver(coapDriverConfig.parse({ name: "plain", timeout: "2s", downAfter: 2, backoff: { min: "200ms", max: "1s" } }), [
        coapDeviceConfig.parse({
          id: "lib-1",
          driver: "plain",
          url: `coap://127.0.0.1:${srv!.port}`,
          points: [
            { name: "clock", path: "/time", every: "100ms" },
            { name: "ticks", path: "/time", mode: "observe" },
          ],
        }),
      ]),
    {
      async before() {
        srv = await startLibcoapServer();
      },
      async after() {
        await srv?.stop();
      },
      devices: ["lib-1"],
    },
  ).run();
}

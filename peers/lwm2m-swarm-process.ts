/**
 * Many simulated LwM2M devices in one process for the benchmark: each device is its own UDP
 * socket (like a real client), registers, answers Observe requests for /3303/{0,1,2}/5700 and then
 * sends NON notifications at `--rate` Hz carrying the wall-clock send time (ms) as the value, so
 * the receiver can measure notify-to-event latency. Built directly on the project's CoAP codec
 * (raw dgram) so the load generator stays light. `--mode raw` skips LwM2M and just sends the same
 * notification datagrams to `--target` (the baseline: a raw UDP receive loop).
 *
 *   node --import tsx peers/lwm2m-swarm-process.ts --target 127.0.0.1:5683 --n 1000 --rate 1 --mode lwm2m
 *   stdout: {"event":"observing","n":3000} ... {"event":"done","sent":N}; stdin "stop" ends it
 */
import { createSocket, type Socket } from "node:dgram";
import { createInterface } from "node:readline";
import { registerDatagram } from "./lwm2m-register.js";
import { CoapOption, decodeCoapMessage, encodeCoapMessage, encodeUint, optionUint, uriPath, type CoapMessage } from "../codecs/index.js";

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "");
const [host, portS] = (args.get("target") ?? "127.0.0.1:5683").split(":") as [string, string];
const port = Number(portS);
const N = Number(args.get("n") ?? 1000);
const RATE = Number(args.get("rate") ?? 1);
const MODE = args.get("mode") ?? "lwm2m";
const enc = new TextEncoder();
const out = (o: Record<string, unknown>) => process.stdout.write(JSON.stringify(o) + "\n");
const wallNow = () => performance.timeOrigin + performance.now();

interface Obs {
  sock: Socket;
  token: Uint8Array;
  seq: number;
  next: number;
}
const observations: Obs[] = [];
let mid = 1;
let sent = 0;

function notification(o: Obs): Buffer {
  const m: CoapMessage = {
    type: 1,
    code: 0x45,
    messageId: mid++ & 0xffff,
    token: o.token,
    options: [
      { number: CoapOption.Observe, value: encodeUint(o.seq++ & 0xffffff) },
      { number: CoapOption.ContentFormat, value: encodeUint(0) },
    ],
    payload: enc.encode(wallNow().toFixed(3)),
  };
  return Buffer.from(encodeCoapMessage(m));
}

const unregistered = new Map<Socket, Buffer>();
const seen = new Set<string>();

function makeDevice(i: number): Promise<Socket> {
  const sock = createSocket("udp4");
  sock.on("error", () => undefined);
  sock.on("message", (buf, rinfo) => {
    const d = decodeCoapMessage(buf);
    if (!d.ok) return;
    const m = d.value;
    if (m.type === 2 && m.code === 0x41) unregistered.delete(sock);
    if (m.code === 1 && optionUint(m, CoapOption.Observe) === 0) {
      const path = uriPath(m);
      // a retransmitted Observe (same token) is answered again but observed once
      const key = `${sock.address().port}/${Buffer.from(m.token).toString("hex")}`;
      if (!seen.has(key)) {
        seen.add(key);
        observations.push({ sock, token: m.token, seq: 1, next: wallNow() + Math.random() * (1000 / RATE) });
      }
      const reply = encodeCoapMessage({ type: 2, code: 0x45, messageId: m.messageId, token: m.token, options: [{ number: CoapOption.Observe, value: encodeUint(0) }, { number: CoapOption.ContentFormat, value: encodeUint(0) }], payload: enc.encode(wallNow().toFixed(3)) });
      sock.send(reply, rinfo.port, rinfo.address);
      if (observations.length % 500 === 0 || observations.length === N * 3) out({ event: "observing", n: observations.length, path });
      return;
    }
    if (m.code !== 0 && m.code >> 5 === 0) {
      // any other request: 2.04 / 2.05 empty
      sock.send(encodeCoapMessage({ type: 2, code: m.code === 1 ? 0x45 : 0x44, messageId: m.messageId, token: m.token, options: [], payload: new Uint8Array(0) }), rinfo.port, rinfo.address);
    }
  });
  return new Promise((resolve) =>
    sock.bind(0, "127.0.0.1", () => {
      if (MODE === "lwm2m") {
        const reg = registerDatagram(`bench-${i}`, i, 600, "</3303/0>,</3303/1>,</3303/2>");
        unregistered.set(sock, Buffer.from(reg));
        sock.send(reg, port, host);
      } else {
        for (let k = 0; k < 3; k++) observations.push({ sock, token: Uint8Array.of(k, i >> 8, i & 0xff), seq: 1, next: wallNow() + Math.random() * (1000 / RATE) });
      }
      resolve(sock);
    }),
  );
}

// RFC 7252 §4.2: a CON without an ACK is retransmitted (here every 2 s until registered)
const retransmit = setInterval(() => {
  for (const [sock, reg] of unregistered) sock.send(reg, port, host);
}, 2000);
const sockets: Socket[] = [];
for (let i = 0; i < N; i++) {
  sockets.push(await makeDevice(i));
  if (i % 20 === 19) await new Promise((r) => setTimeout(r, 10));
}
out({ event: "ready", devices: N, observations: observations.length });
if (MODE === "raw") out({ event: "observing", n: observations.length });

const tick = setInterval(() => {
  const now = wallNow();
  for (const o of observations) {
    if (o.next > now) continue;
    o.next += 1000 / RATE;
    if (o.next < now) o.next = now + 1000 / RATE;
    o.sock.send(notification(o), port, host);
    sent++;
  }
}, 5);

const stop = () => {
  clearInterval(tick);
  clearInterval(retransmit);
  out({ event: "done", sent });
  for (const s of sockets) s.close();
  setTimeout(() => process.exit(0), 50);
};
createInterface({ input: process.stdin }).on("line", (l) => l.trim() === "stop" && stop());
process.on("SIGTERM", stop);

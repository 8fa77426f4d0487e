/**
 * libcoap (Debian libcoap3-bin) as an independent CoAP stack for interop tests: `coap-client-*`
 * as a one-shot client and `coap-server-*` as a plain CoAP device (with DTLS-PSK on PORT+1).
 * Binaries are named by TLS backend (there is no plain `coap-client`).
 */
import { spawn, spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { createServer } from "node:net";
import { hasCommand, startPeer, type Peer } from "../../peers/process.js";

export function libcoapClient(): string | undefined {
  return ["coap-client-openssl", "coap-client-notls", "coap-client-gnutls"].find(hasCommand);
}

export function libcoapServer(): string | undefined {
  return ["coap-server-openssl", "coap-server-gnutls"].find(hasCommand);
}

export interface CoapClientRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** One coap-client run, hard-bounded by `timeout`; -B bounds how long it waits for an answer. */
export function runCoapClient(args: string[], waitS = 3): Promise<CoapClientRun> {
  const bin = libcoapClient();
  if (!bin) throw new Error("libcoap coap-client is not installed (Debian libcoap3-bin)");
  return new Promise((resolve) => {
    const child = spawn("timeout", ["--kill-after=2", String(waitS + 5), bin, "-B", String(waitS), ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket("udp4");
    s.once("error", () => resolve(false));
    s.bind(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}
function tcpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/** A port P with UDP and TCP P and P+1 free (coap-server also listens on TCP, and on P+1 for DTLS/TLS). */
export async function freeCoapPortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = 20000 + Math.floor(Math.random() * 40000);
    if ((await udpFree(p)) && (await udpFree(p + 1)) && (await tcpFree(p)) && (await tcpFree(p + 1))) return p;
  }
  throw new Error("no free CoAP port pair");
}

export interface LibcoapServer {
  peer: Peer;
  port: number;
  coapsPort: number;
  pskIdentity: string;
  pskKey: string;
  stop(): Promise<void>;
}

/** coap-server on 127.0.0.1: /time (observable, notifies every second), /example_data, PUT-created resources. */
export async function startLibcoapServer(o: { pskKey?: string; pskIdentity?: string } = {}): Promise<LibcoapServer> {
  const bin = libcoapServer();
  if (!bin) throw new Error("libcoap coap-server is not installed (Debian libcoap3-bin)");
  const port = await freeCoapPortPair();
  const pskKey = o.pskKey ?? "secretPSK";
  // -h "": no PSK identity hint, so no ServerKeyExchange (node-dtls-client cannot parse one)
  const peer = startPeer(bin, ["-A", "127.0.0.1", "-p", String(port), "-d", "20", "-k", pskKey, "-h", "", "-v", "3"], { maxSeconds: 180 });
  // bound when it answers a GET
  for (let i = 0; i < 100; i++) {
    const r = await runCoapClient(["-m", "get", `coap://127.0.0.1:${port}/.well-known/core`], 1);
    if (r.stdout.includes("</time>")) break;
    if (i === 99) throw new Error(`coap-server did not come up: ${peer.output()}`);
    await new Promise((r2) => setTimeout(r2, 100));
  }
  return { peer, port, coapsPort: port + 1, pskIdentity: o.pskIdentity ?? "gw-device-1", pskKey, stop: () => peer.stop() };
}

/** Synchronous one-shot (for quick PUTs in test setup). */
export function coapClientSync(args: string[], waitS = 3): string {
  const bin = libcoapClient();
  if (!bin) throw new Error("libcoap coap-client is not installed");
  return spawnSync("timeout", [String(waitS + 5), bin, "-B", String(waitS), ...args], { encoding: "utf8" }).stdout;
}

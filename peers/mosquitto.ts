/**
 * A real mosquitto 2.x broker for integration and fault tests and benches, on 127.0.0.1 with random ports,
 * started by the test under `timeout` and stopped by PID (never by name). Built from the shell
 * recipe the team keeps for mosquitto (plain listener, optional mTLS listener, optional
 * persistence, optional WebSocket listener, optional password file).
 *
 *   const broker = await startMosquitto({ tls: true, persist: true });
 *   // mqtt://127.0.0.1:${broker.port}, mqtts://127.0.0.1:${broker.tlsPort} (client cert required)
 *   await broker.kill();      // SIGKILL the broker itself (link loss, crash)
 *   await broker.restart();   // same ports, same persistence directory
 *   await broker.cleanup();   // stop and remove the directory
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { freeTcpPort, startPeer, tempDir, waitTcp, type Peer } from "./process.js";

export interface MosquittoOptions {
  /** Add a TLS listener that requires a client certificate (its CN becomes the username). */
  tls?: boolean;
  /** Keep sessions, queued QoS 1/2 messages and retained messages across restart(). */
  persist?: boolean;
  /** Add a WebSocket listener (ws://127.0.0.1:wsPort/, subprotocol "mqtt"). */
  websockets?: boolean;
  /** username → password; when given, anonymous access is refused on the plain listener. */
  users?: Record<string, string>;
  /** Extra lines appended to mosquitto.conf (global section, before the listeners). */
  extraConfig?: string[];
  /** Hard lifetime of the broker process in seconds (default PEER_MAX_SECONDS). */
  maxSeconds?: number;
}

/** Paths of the test PKI written when `tls` is on (all PEM). */
export interface MosquittoCerts {
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  /** A client certificate signed by caFile, CN=device-1. */
  clientCertFile: string;
  clientKeyFile: string;
  /** A client certificate from an unrelated CA (must be refused). */
  untrustedCertFile: string;
  untrustedKeyFile: string;
}

export interface Mosquitto {
  readonly dir: string;
  readonly port: number;
  readonly url: string;
  readonly tlsPort?: number;
  readonly tlsUrl?: string;
  readonly wsPort?: number;
  readonly certs?: MosquittoCerts;
  /** The mosquitto process id (not the `timeout` wrapper), or undefined when stopped. */
  pid(): number | undefined;
  running(): boolean;
  /** The broker's own log (log_type all). */
  log(): string;
  /** SIGTERM (persistence is written) and wait until it has exited. */
  stop(): Promise<void>;
  /** SIGKILL the broker process itself (nothing is saved beyond the last autosave). */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: the TCP connections stay open but nothing is answered. */
  pause(): void;
  resume(): void;
  /** Stop if running, then start again on the same ports with the same data directory. */
  restart(): Promise<void>;
  /** Stop and remove the directory. */
  cleanup(): Promise<void>;
}

function run(cmd: string, args: string[], cwd: string): void {
  const r = spawnSync(cmd, args, { cwd, stdio: ["ignore", "ignore", "pipe"], timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr?.toString() ?? ""}`);
}

/** A throwaway PKI: CA, server cert (SAN 127.0.0.1/localhost), client cert CN=device-1, and an untrusted client. */
export function generateTestCerts(dir: string, clientCn = "device-1"): MosquittoCerts {
  mkdirSync(dir, { recursive: true });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  run("openssl", ["req", "-x509", ...ec, "-days", "2", "-subj", "/CN=test-ca", "-keyout", "ca.key", "-out", "ca.crt",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], dir);
  run("openssl", ["req", ...ec, "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr"], dir);
  writeFileSync(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  run("openssl", ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
    "-extfile", "server.ext", "-out", "server.crt"], dir);
  run("openssl", ["req", ...ec, "-subj", `/CN=${clientCn}`, "-keyout", "client.key", "-out", "client.csr"], dir);
  writeFileSync(join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
  run("openssl", ["x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
    "-extfile", "client.ext", "-out", "client.crt"], dir);
  run("openssl", ["req", "-x509", ...ec, "-days", "2", "-subj", "/CN=evil-ca", "-keyout", "evil-ca.key", "-out", "evil-ca.crt"], dir);
  run("openssl", ["req", ...ec, "-subj", "/CN=evil", "-keyout", "evil.key", "-out", "evil.csr"], dir);
  run("openssl", ["x509", "-req", "-in", "evil.csr", "-CA", "evil-ca.crt", "-CAkey", "evil-ca.key", "-CAcreateserial", "-days", "2",
    "-out", "evil.crt"], dir);
  for (const k of ["ca.key", "server.key", "client.key", "evil.key", "evil-ca.key"]) chmodSync(join(dir, k), 0o644);
  return {
    caFile: join(dir, "ca.crt"),
    serverCertFile: join(dir, "server.crt"),
    serverKeyFile: join(dir, "server.key"),
    clientCertFile: join(dir, "client.crt"),
    clientKeyFile: join(dir, "client.key"),
    untrustedCertFile: join(dir, "evil.crt"),
    untrustedKeyFile: join(dir, "evil.key"),
  };
}

async function distinctPorts(n: number): Promise<number[]> {
  const out: number[] = [];
  while (out.length < n) {
    const p = await freeTcpPort();
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

/** The child of the `timeout` wrapper, i.e. mosquitto itself. */
function childPid(wrapperPid: number): number | undefined {
  try {
    const kids = readFileSync(`/proc/${wrapperPid}/task/${wrapperPid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
    return kids.length ? Number(kids[0]) : undefined;
  } catch {
    return undefined;
  }
}

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Mosquitto> {
  const tmp = tempDir("ridge-mosquitto-");
  const dir = tmp.dir;
  const [port, tlsPort, wsPort] = (await distinctPorts(3)) as [number, number, number];
  const certs = opts.tls ? generateTestCerts(join(dir, "pki")) : undefined;
  const logFile = join(dir, "mosquitto.log");
  const conf: string[] = [];
  // As root, mosquitto 2.x drops privileges to user `mosquitto` and then cannot write a root-owned
  // persistence directory; `user root` keeps it as it is.
  if (process.getuid?.() === 0) conf.push("user root");
  conf.push("per_listener_settings false");
  if (opts.users) {
    const pw = join(dir, "passwd");
    writeFileSync(pw, "");
    for (const [u, p] of Object.entries(opts.users)) run("mosquitto_passwd", ["-b", pw, u, p], dir);
    chmodSync(pw, 0o600);
    conf.push("allow_anonymous false", `password_file ${pw}`);
  } else {
    conf.push("allow_anonymous true");
  }
  if (opts.persist) {
    mkdirSync(join(dir, "data"), { recursive: true });
    conf.push("persistence true", `persistence_location ${join(dir, "data")}/`, "autosave_interval 1");
  } else {
    conf.push("persistence false");
  }
  conf.push(`log_dest file ${logFile}`, "log_type all");
  conf.push(...(opts.extraConfig ?? []));
  conf.push(`listener ${port} 127.0.0.1`);
  if (opts.websockets) conf.push(`listener ${wsPort} 127.0.0.1`, "protocol websockets");
  if (certs) {
    conf.push(`listener ${tlsPort} 127.0.0.1`, `cafile ${certs.caFile}`, `certfile ${certs.serverCertFile}`,
      `keyfile ${certs.serverKeyFile}`, "require_certificate true", "use_identity_as_username true");
  }
  const confFile = join(dir, "mosquitto.conf");
  writeFileSync(confFile, conf.join("\n") + "\n");

  let peer: Peer | undefined;
  let brokerPid: number | undefined;
  let paused = false;

  const launch = async (): Promise<void> => {
    peer = startPeer("mosquitto", ["-c", confFile], { maxSeconds: opts.maxSeconds });
    const p = peer;
    try {
      await waitTcp(port, 10_000);
      if (certs) await waitTcp(tlsPort, 10_000);
      if (opts.websockets) await waitTcp(wsPort, 10_000);
    } catch (e) {
      await p.stop();
      throw new Error(`mosquitto did not start: ${String(e)}\n${p.output()}\n${existsSync(logFile) ? readFileSync(logFile, "utf8").slice(-2000) : ""}`);
    }
    brokerPid = childPid(p.pid);
  };
  const halt = async (signal: "SIGTERM" | "SIGKILL"): Promise<void> => {
    const p = peer;
    if (!p) return;
    peer = undefined;
    if (paused && brokerPid !== undefined) {
      try { process.kill(brokerPid, "SIGCONT"); } catch { /* gone */ }
      paused = false;
    }
    if (signal === "SIGKILL" && brokerPid !== undefined) {
      // `timeout` does not forward SIGKILL: kill mosquitto itself; the wrapper then exits.
      try { process.kill(brokerPid, "SIGKILL"); } catch { /* already gone */ }
      await p.exited;
    } else {
      await p.stop(5000);
    }
    brokerPid = undefined;
  };

  await launch();
  const m: Mosquitto = {
    dir,
    port,
    url: `mqtt://127.0.0.1:${port}`,
    ...(certs ? { tlsPort, tlsUrl: `mqtts://127.0.0.1:${tlsPort}`, certs } : {}),
    ...(opts.websockets ? { wsPort } : {}),
    pid: () => brokerPid,
    running: () => peer !== undefined,
    log: () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : ""),
    stop: () => halt("SIGTERM"),
    kill: () => halt("SIGKILL"),
    pause() {
      if (brokerPid !== undefined && !paused) {
        process.kill(brokerPid, "SIGSTOP");
        paused = true;
      }
    },
    resume() {
      if (brokerPid !== undefined && paused) {
        process.kill(brokerPid, "SIGCONT");
        paused = false;
      }
    },
    async restart() {
      await halt("SIGTERM");
      await launch();
    },
    async cleanup() {
      await halt("SIGTERM");
      tmp.cleanup();
    },
  };
  return m;
}

/**
 * The long-running verifier (`ridge attest verifier`): over MQTT it challenges every gateway the
 * policy registers, every `every` ms, with a fresh single-use nonce on `<prefix>/<id>/down/attest`,
 * and judges the evidence that comes back on `<prefix>/<id>/up/attest` — a bare evidence JSON, or
 * the gateway's uplink batch (JSON lines or CBOR) holding events of kind "attest". Every verdict,
 * and every challenge left unanswered, goes into the hash-chained audit log.
 */
import mqtt from "mqtt";
import type { MqttClient } from "mqtt";
import { errorMessage, type Clock, type Timer } from "../../core/index.js";
import { formatCheckpoint, makeCheckpoint, publishCheckpoint } from "../../attest/index.js";
import type { AuditLog, CheckpointKey, Verdict, Verifier } from "../../attest/index.js";
import { decodeBatch } from "../cloud/batch-codec.js";

export interface RemoteVerifierOptions {
  broker: string;
  verifier: Verifier;
  audit: AuditLog;
  clock: Clock;
  prefix?: string;
  /** Challenge period per gateway (ms). */
  every: number;
  /** How long to wait for an answer before recording a timeout (ms). */
  timeout: number;
  clientId?: string;
  onVerdict?: (v: Verdict) => void;
  log?: (msg: string) => void;
  /**
   * Sign a checkpoint of the audit trail at every round and at stop: published retained on
   * `<prefix>/verifier/checkpoint` and appended as a line to `file` (kept outside the data directory).
   */
  checkpoint?: { key: CheckpointKey; file?: string };
}

/** Evidence objects in an up/attest payload: bare JSON evidence, or an uplink batch of "attest" events. */
export function evidenceFromPayload(payload: Buffer): unknown[] {
  const text = payload.toString("utf8").trim();
  if (text.startsWith("{") && !text.includes("\n")) {
    try {
      const v = JSON.parse(text) as { kind?: unknown; payload?: unknown; format?: unknown };
      if (v && typeof v === "object" && v.kind === "attest" && v.payload) return [v.payload];
      return [v];
    } catch {
      /* not bare JSON: try the batch forms */
    }
  }
  for (const format of ["jsonl", "cbor"] as const) {
    const b = decodeBatch(format, payload);
    if (b.ok && b.value.length) return b.value.filter((e) => e.kind === "attest").map((e) => e.payload);
  }
  return [payload];
}

interface Outstanding {
  nonce: Uint8Array;
  nonceHex: string;
  timer: Timer;
}

export class RemoteVerifier {
  private client: MqttClient | undefined;
  private readonly prefix: string;
  private readonly outstanding = new Map<string, Outstanding[]>();
  private tick: Timer | undefined;
  private stopped = false;
  readonly verdicts: Verdict[] = [];

  constructor(private readonly o: RemoteVerifierOptions) {
    this.prefix = o.prefix ?? "ridge";
  }

  async start(): Promise<void> {
    const client = mqtt.connect(this.o.broker, { clientId: this.o.clientId ?? `ridge-verifier-${process.pid}`, reconnectPeriod: 1000, clean: true });
    this.client = client;
    client.on("message", (topic, payload) => this.onMessage(topic, payload));
    client.on("error", (e) => this.o.log?.(`mqtt: ${e.message}`));
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`cannot connect to ${this.o.broker}`)), 15_000);
      client.once("connect", () => {
        clearTimeout(t);
        resolve();
      });
    });
    await new Promise<void>((resolve, reject) => client.subscribe(`${this.prefix}/+/up/attest`, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
    this.round();
  }

  /** Challenge every registered gateway now, and schedule the next round. */
  round(): void {
    if (this.stopped) return;
    this.signCheckpoint();
    for (const id of this.o.verifier.policy.gateways.keys()) this.challenge(id);
    this.tick = this.o.clock.setTimeout(() => this.round(), this.o.every);
  }

  challenge(gateway: string): void {
    const nonce = this.o.verifier.issueNonce(gateway);
    const nonceHex = Buffer.from(nonce).toString("hex");
    const timer = this.o.clock.setTimeout(() => this.expire(gateway, nonceHex), this.o.timeout);
    const list = this.outstanding.get(gateway) ?? [];
    list.push({ nonce, nonceHex, timer });
    this.outstanding.set(gateway, list);
    this.client?.publish(`${this.prefix}/${gateway}/down/attest`, JSON.stringify({ nonce: nonceHex }), { qos: 1 });
  }

  private expire(gateway: string, nonceHex: string): void {
    const list = this.outstanding.get(gateway) ?? [];
    const i = list.findIndex((x) => x.nonceHex === nonceHex);
    if (i < 0) return;
    list.splice(i, 1);
    const at = this.o.clock.now();
    const rec = this.o.audit.append({ ts: at, gateway, verdict: "fail", reasons: [{ code: "E_ATTEST_TIMEOUT", detail: `no answer to nonce ${nonceHex.slice(0, 16)}… within ${this.o.timeout} ms` }], evidenceSha256: "", nonce: nonceHex });
    const v: Verdict = { ok: false, gateway, at, reasons: [{ code: "E_ATTEST_TIMEOUT", detail: "no answer" }], nonce: nonceHex, evidenceSha256: "", auditSeq: rec.seq };
    this.verdicts.push(v);
    this.o.onVerdict?.(v);
  }

  private onMessage(topic: string, payload: Buffer): void {
    const parts = topic.split("/");
    const gateway = parts[parts.length - 3] ?? "?";
    let items: unknown[];
    try {
      items = evidenceFromPayload(payload);
    } catch (e) {
      items = [payload];
      this.o.log?.(`undecodable answer from ${gateway}: ${errorMessage(e)}`);
    }
    for (const item of items) {
      // match the answer to an outstanding challenge by the nonce in it, if one can be read
      const list = this.outstanding.get(gateway) ?? [];
      const quoteHex = (item as { quote?: unknown } | null)?.quote;
      let match = list.findIndex((x) => typeof quoteHex === "string" && quoteHex.includes(x.nonceHex));
      if (match < 0 && list.length === 1) match = 0;
      const pending = match >= 0 ? list.splice(match, 1)[0] : undefined;
      pending?.timer.cancel();
      const v = this.o.verifier.verify(item instanceof Buffer ? new Uint8Array(item) : item, {
        gateway,
        ...(pending ? { expectedNonce: pending.nonce } : {}),
      });
      this.verdicts.push(v);
      this.o.onVerdict?.(v);
    }
  }

  /** Sign the audit trail's current tree and publish it (a no-op without a checkpoint key). */
  signCheckpoint(): void {
    const c = this.o.checkpoint;
    if (!c) return;
    const cp = makeCheckpoint(this.o.audit, c.key, this.o.clock.now());
    if (c.file) {
      try {
        publishCheckpoint(c.file, cp);
      } catch (e) {
        this.o.log?.(`checkpoint: cannot append to ${c.file}: ${errorMessage(e)}`);
      }
    }
    this.client?.publish(`${this.prefix}/verifier/checkpoint`, formatCheckpoint(cp), { qos: 1, retain: true });
  }

  async stop(): Promise<void> {
    if (!this.stopped) this.signCheckpoint();
    this.stopped = true;
    this.tick?.cancel();
    for (const list of this.outstanding.values()) for (const x of list) x.timer.cancel();
    this.outstanding.clear();
    const c = this.client;
    if (c) await new Promise<void>((resolve) => c.end(false, {}, () => resolve()));
  }
}

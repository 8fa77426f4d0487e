/**
 * `ridge attest …`: the gateway's side (quote, log, key) and the auditor's side (verify, nonce,
 * verifier, audit, audit verify-chain).
 */
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import Database from "better-sqlite3";
import { RidgeError, fail, systemClock, parseDuration } from "../../../core/index.js";
import { AuditLog, EVIDENCE_MAX_BYTES, Verifier, VerifierStore, generateKeyPair, loadPolicy, privateKeyToPem, publicKeyToPem, isSigAlg } from "../../../attest/index.js";
import type { AuditRecord, ChainCheck, CheckpointCheck, SigAlg, Verdict } from "../../../attest/index.js";
import { checkExtends, checkpointKey, formatCheckpoint, makeCheckpoint, parseCheckpoint, publishCheckpoint } from "../../../attest/index.js";
import { controlRequest, replyMessage } from "../../control/client.js";
import { EXIT, parseCommand } from "../args.js";
import { defaultDataDir } from "./status.js";

const USAGE = `ridge attest <subcommand> [options]

gateway side (talks to the running gateway through <data>/ridge.sock):
  quote --nonce HEX [--out FILE] [--data DIR]     ask the gateway for a signed quote (evidence JSON)
  log [--json] [--data DIR]                       show the measurement log
  key [--data DIR]                                print the attestation public key (PEM) to register
  keygen --alg sm2|p256|ed25519 --out DIR          make a key pair (PKCS#8 0600 + SPKI PEM)

auditor side:
  nonce --policy FILE --db FILE --gateway ID      issue a single-use nonce (hex) for a gateway
  verify --evidence FILE --policy FILE [--nonce HEX] [--db FILE] [--gateway ID] [--json]
                                                  judge evidence; exit 0 pass, 1 fail; recorded in --db
  verifier --broker URL --policy FILE --db FILE [--every 60s] [--timeout 10s] [--prefix ridge] [--rounds N]
                                                  challenge registered gateways periodically over MQTT
  audit --db FILE [--since T] [--gateway ID] [--json]   list verdicts (T: ISO date, epoch ms, or age like 1h)
  audit verify-chain --db FILE [--expect CP]      check the audit trail's hash chain (exit 1 if broken), and that it extends checkpoint CP
  audit checkpoint --db FILE [--out FILE]         sign the audit trail's Merkle root; print it or append it to FILE`;

function openDb(file: string): Database.Database {
  mkdirSync(dirname(resolve(file)), { recursive: true });
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  return db;
}

function needed(v: string | undefined, name: string, usage: string): string {
  if (!v) throw new RidgeError("E_USAGE", `--${name} is required\nusage: ${usage}`);
  return v;
}

function hexNonce(v: string): Uint8Array {
  if (!/^([0-9a-fA-F]{2}){8,32}$/.test(v)) throw new RidgeError("E_USAGE", "--nonce must be 8 to 32 bytes in hex");
  return Uint8Array.from(Buffer.from(v, "hex"));
}

function printVerdict(v: Verdict, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(v, null, 2));
    return;
  }
  console.log(`${v.ok ? "PASS" : "FAIL"} gateway ${v.gateway}${v.runtimeVersion ? ` runtime ${v.runtimeVersion}` : ""}${v.auditSeq ? ` (audit #${v.auditSeq})` : ""}`);
  for (const r of v.reasons) console.log(`  ${r.code}: ${r.detail}`);
}

/** --since: ISO date, epoch ms, or an age ("90m", "1h", "7d"). */
export function parseSince(v: string, now: number): number {
  if (/^\d{10,}$/.test(v)) return Number(v);
  const age = parseDuration(v);
  if (age !== undefined && /[a-z]$/i.test(v)) return now - age;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new RidgeError("E_USAGE", `--since ${v}: expected an ISO date, epoch ms or an age like 1h`);
  return t;
}

async function quote(argv: string[]): Promise<number> {
  const spec = {
    usage: "ridge attest quote --nonce HEX [--out FILE] [--data DIR]",
    summary: "Ask the running gateway for a quote over its measurements with the verifier's nonce; prints or writes the evidence JSON.",
    options: { nonce: { type: "string" }, out: { type: "string", short: "o" }, data: { type: "string", short: "d" } },
  } as const;
  const a = parseCommand(argv, spec);
  if (!a) return EXIT.ok;
  const nonce = needed(a.values.nonce, "nonce", spec.usage);
  hexNonce(nonce);
  const dataDir = a.values.data ? resolve(a.values.data) : defaultDataDir();
  const r = await controlRequest(dataDir, "POST", "/attest/quote", { nonce });
  if (r.status !== 200) throw new RidgeError("E_ATTEST_QUOTE", `quote failed (${r.status}): ${replyMessage(r)}`);
  const text = JSON.stringify(r.body, null, 2) + "\n";
  if (a.values.out) writeFileSync(a.values.out, text);
  else process.stdout.write(text);
  return EXIT.ok;
}

async function showLog(argv: string[]): Promise<number> {
  const spec = {
    usage: "ridge attest log [--json] [--data DIR]",
    summary: "Show the running gateway's measurement log.",
    options: { json: { type: "boolean" }, data: { type: "string", short: "d" } },
  } as const;
  const a = parseCommand(argv, spec);
  if (!a) return EXIT.ok;
  const dataDir = a.values.data ? resolve(a.values.data) : defaultDataDir();
  const r = await controlRequest(dataDir, "GET", "/attest/log");
  if (r.status !== 200) throw new RidgeError("E_ATTEST_LOG", `log request failed (${r.status}): ${replyMessage(r)}`);
  const body = r.body as { backend: string; alg: string; events: { seq: number; pcr: number; type: string; component: string; digests: Record<string, string>; description: string }[] };
  if (a.values.json) {
    console.log(JSON.stringify(body, null, 2));
    return EXIT.ok;
  }
  console.log(`backend ${body.backend}, ${body.alg}, ${body.events.length} events`);
  for (const e of body.events) {
    const d = e.digests.sm3 ?? e.digests.sha256 ?? "";
    console.log(`  #${e.seq} pcr ${String(e.pcr).padStart(2)} ${e.type.padEnd(7)} ${e.component.padEnd(20)} ${d.slice(0, 16)}…  ${e.description}`);
  }
  return EXIT.ok;
}

async function key(argv: string[]): Promise<number> {
  const spec = {
    usage: "ridge attest key [--data DIR]",
    summary: "Print the gateway's attestation public key (software key in <data>/attest, or the TPM AK) as PEM, to register in a policy.",
    options: { data: { type: "string", short: "d" } },
  } as const;
  const a = parseCommand(argv, spec);
  if (!a) return EXIT.ok;
  const dataDir = a.values.data ? resolve(a.values.data) : defaultDataDir();
  for (const f of ["ak-sm2.pub", "ak-p256.pub"]) {
    const p = join(dataDir, "attest", f);
    if (existsSync(p)) {
      process.stdout.write(readFileSync(p, "utf8"));
      return EXIT.ok;
    }
  }
  // a TPM-backed or remote gateway: ask it for a quote and print the key it signs with
  const r = await controlRequest(dataDir, "POST", "/attest/quote", { nonce: "0000000000000000" });
  if (r.status !== 200) throw new RidgeError("E_ATTEST_KEY", `no key file in ${dataDir}/attest and the gateway did not answer (${r.status}): ${replyMessage(r)}`);
  const ev = r.body as { signer: { alg: SigAlg; publicKey: string } };
  process.stdout.write(publicKeyToPem(ev.signer.alg, Uint8Array.from(Buffer.from(ev.signer.publicKey, "hex"))));
  return EXIT.ok;
}

async function keygen(argv: string[]): Promise<number> {
  const spec = {
    usage: "ridge attest keygen --alg sm2|p256|ed25519 --out DIR [--force]",
    summary: "Generate a key pair: DIR/<alg>.key (PKCS#8, 0600) and DIR/<alg>.pub (SPKI). OpenSSL reads both. An existing key is never overwritten without --force.",
    options: { alg: { type: "string" }, out: { type: "string", short: "o" }, force: { type: "boolean" } },
  } as const;
  const a = parseCommand(argv, spec);
  if (!a) return EXIT.ok;
  const name = needed(a.values.alg, "alg", spec.usage);
  const alg = ({ sm2: "sm2-sm3", p256: "ecdsa-p256-sha256", ed25519: "ed25519" } as Record<string, SigAlg>)[name] ?? name;
  if (!isSigAlg(alg)) throw new RidgeError("E_USAGE", `--alg ${name}: expected sm2, p256 or ed25519`);
  const out = needed(a.values.out, "out", spec.usage);
  mkdirSync(out, { recursive: true });
  if (existsSync(join(out, `${name}.key`)) && !a.values.force) throw new RidgeError("E_ATTEST_KEY_EXISTS", `${join(out, `${name}.key`)} exists; refusing to overwrite a private key (another --out, or --force)`);
  const kp = generateKeyPair(alg);
  writeFileSync(join(out, `${name}.key`), privateKeyToPem(alg, kp.privateKey), { mode: 0o600 });
  writeFileSync(join(out, `${name}.pub`), publicKeyToPem(alg, kp.publicKey));
  console.log(join(out, `${name}.pub`));
  return EXIT.ok;
}

async function nonce(argv: string[]): Promise<number> {
  const spec = {
    usage: "ridge attest nonce --policy FILE --db FILE --gateway ID",
    summary: "Issue a fresh single-use nonce for a gateway (expires after the policy's nonceTtl); prints it in hex.",
    options: { policy: { type: "string" }, db: { type: "string" }, gateway: { type: "string" } },
  } as const;
  const a = parseCommand(argv, spec);
  if (!a) return EXIT.ok;
  const policy = loadPolicy(needed(a.values.policy, "policy", spec.usage));
  const gw = needed(a.values.gateway, "gateway", spec.usage);
  if (!policy.gateways.has(gw)) throw new RidgeError("E_ATTEST_UNKNOWN_GATEWAY", `gateway ${gw} is not registered in the policy`);
  const db = openDb(needed(a.values.db, "db", spec.usage));
  try {
    const v = new Verifier({ policy, store: new VerifierStore(db), clock: systemClock });
    console.log(Buffer.from(v.issueNonce(gw)).toString("hex"));
  } finally {
    db.close();
  }
  return EXIT.ok;
}

async function verifyCmd(argv: string[]): Promise<number> {
  const spec = {
    usage: "ridge attest verify --evidence FILE --policy FILE [--nonce HEX] [--db FILE] [--gateway ID] [--json]",
    summary: "Judge evidence against a policy. Exit 0 on pass, 1 on fail (with one reason per failed check).",
    details:
      "  --nonce HEX   the nonce sent; without --db it is accepted once (single-use within --db)\n" +
      "  --db FILE     verifier database: issued nonces, last quote clocks, the audit trail\n" +
      "  --gateway ID  the gateway the challenge went to (default: the id in the evidence)",
    options: { evidence: { type: "string", short: "e" }, policy: { type: "string", short: "p" }, nonce: { type: "string" }, db: { type: "string" }, gateway: { type: "string" }, json: { type: "boolean" } },
  } as const;
  const a = parseCommand(argv, spec);
  if (!a) return EXIT.ok;
  const policy = loadPolicy(needed(a.values.policy, "policy", spec.usage));
  const file = needed(a.values.evidence, "evidence", spec.usage);
  const bytes = readEvidenceFile(file);
  const db = a.values.db ? openDb(a.values.db) : new Database(":memory:");
  try {
    const v = new Verifier({ policy, store: new VerifierStore(db), audit: new AuditLog(db), clock: systemClock });
    const verdict = v.verify(bytes, {
      ...(a.values.nonce ? { expectedNonce: hexNonce(a.values.nonce), adoptNonce: true } : {}),
      ...(a.values.gateway ? { gateway: a.values.gateway } : {}),
    });
    printVerdict(verdict, a.values.json === true);
    // the verdict went to a throwaway in-memory database: say so, so nobody looks for it in an audit trail
    // (on stderr with --json, which keeps stdout one JSON document)
    if (!a.values.db) (a.values.json === true ? console.error : console.log)("no audit record was written (no --db given)");
    return verdict.ok ? EXIT.ok : EXIT.failure;
  } finally {
    db.close();
  }
}

/**
 * The evidence file, refused before reading when over EVIDENCE_MAX_BYTES (fstat on the opened fd: a
 * 256 MiB file is never read), and read at most one byte past the limit (a FIFO reports no size;
 * a file can grow after the fstat).
 */
function readEvidenceFile(file: string): Uint8Array {
  const tooLarge = (size: string) =>
    new RidgeError("E_ATTEST_MALFORMED", `evidence file ${file} is ${size} bytes, over the ${EVIDENCE_MAX_BYTES}-byte (1 MiB) limit for evidence; it was not read`);
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (e) {
    throw new RidgeError("E_ATTEST_EVIDENCE_FILE", `cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (st.size > EVIDENCE_MAX_BYTES) throw tooLarge(String(st.size));
    const buf = new Uint8Array(EVIDENCE_MAX_BYTES + 1);
    let n = 0;
    for (;;) {
      const k = readSync(fd, buf, n, buf.length - n, null);
      if (k === 0) break;
      n += k;
      if (n > EVIDENCE_MAX_BYTES) throw tooLarge("more than " + EVIDENCE_MAX_BYTES);
    }
    return buf.subarray(0, n);
  } catch (e) {
    if (e instanceof RidgeError) throw e;
    throw new RidgeError("E_ATTEST_EVIDENCE_FILE", `cannot read ${file}: ${(e as Error).message}`);
  } finally {
    closeSync(fd);
  }
}

async function verifierCmd(argv: string[]): Promise<number> {
  const spec = {
    usage: "ridge attest verifier --broker URL --policy FILE --db FILE [--every 60s] [--timeout 10s] [--prefix ridge] [--rounds N] [--checkpoints FILE]",
    summary: "Challenge every gateway registered in the policy over MQTT with fresh nonces, judge the answers, record every verdict. At every round and at stop, sign a checkpoint of the audit trail (checkpoint-key.pem beside the database): published retained on <prefix>/verifier/checkpoint and appended to --checkpoints FILE (keep it outside the data directory).",
    options: {
      broker: { type: "string" },
      policy: { type: "string" },
      db: { type: "string" },
      every: { type: "string" },
      timeout: { type: "string" },
      prefix: { type: "string" },
      rounds: { type: "string" },
      checkpoints: { type: "string" },
      json: { type: "boolean" },
    },
  } as const;
  const a = parseCommand(argv, spec);
  if (!a) return EXIT.ok;
  const policy = loadPolicy(needed(a.values.policy, "policy", spec.usage));
  const every = parseDuration(a.values.every ?? "60s");
  const timeout = parseDuration(a.values.timeout ?? "10s");
  if (every === undefined || timeout === undefined) throw new RidgeError("E_USAGE", "--every/--timeout: a duration like 30s");
  const rounds = a.values.rounds ? Number(a.values.rounds) : Infinity;
  const dbFile = needed(a.values.db, "db", spec.usage);
  const db = openDb(dbFile);
  const audit = new AuditLog(db);
  const checkpoint = { key: checkpointKey(dirname(resolve(dbFile)))!, ...(a.values.checkpoints ? { file: a.values.checkpoints } : {}) };
  const verifier = new Verifier({ policy, store: new VerifierStore(db), audit, clock: systemClock });
  const { RemoteVerifier } = await import("../../attestation/remote-verifier.js");
  let seen = 0;
  let failed = 0;
  const want = rounds * policy.gateways.size;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => (done = r));
  const rv = new RemoteVerifier({
    broker: needed(a.values.broker, "broker", spec.usage),
    verifier,
    audit,
    clock: systemClock,
    every,
    timeout,
    checkpoint,
    ...(a.values.prefix ? { prefix: a.values.prefix } : {}),
    log: (m) => console.error(m),
    onVerdict: (v) => {
      printVerdict(v, a.values.json === true);
      seen++;
      if (!v.ok) failed++;
      if (seen >= want) done();
    },
  });
  const stop = () => done();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  await rv.start();
  await finished;
  await rv.stop();
  process.off("SIGINT", stop);
  process.off("SIGTERM", stop);
  db.close();
  return failed ? EXIT.failure : EXIT.ok;
}

function printRecords(rows: AuditRecord[], json: boolean, head: { seq: number; hash: string }): void {
  if (json) {
    console.log(JSON.stringify({ head, records: rows }, null, 2));
    return;
  }
  for (const r of rows) {
    console.log(`#${r.seq} ${new Date(r.ts).toISOString()} ${r.gateway} ${r.verdict.toUpperCase()}${r.reasons.length ? ` ${r.reasons.map((x) => x.code).join(",")}` : ""}`);
  }
  console.log(`${rows.length} record(s); chain head #${head.seq} ${head.hash.slice(0, 16)}…`);
}

/** A verifier database opened for reading (the audit commands never write), or E_ATTEST_DB. */
function openAuditReadOnly(file: string): Database.Database {
  if (!existsSync(file)) throw new RidgeError("E_ATTEST_DB", `no database at ${file}`);
  return new Database(file, { readonly: true, fileMustExist: true });
}

async function auditCmd(argv: string[]): Promise<number> {
  if (argv[0] === "checkpoint") {
    const spec = {
      usage: "ridge attest audit checkpoint --db FILE [--out FILE]",
      summary: "Sign the audit trail's Merkle root with the verifier's checkpoint key (checkpoint-key.pem beside the database, made at first use); print it, or append it as one line to --out.",
      options: { db: { type: "string" }, out: { type: "string" } },
    } as const;
    const a = parseCommand(argv.slice(1), spec);
    if (!a) return EXIT.ok;
    const file = needed(a.values.db, "db", spec.usage);
    const db = openAuditReadOnly(file);
    try {
      // a key made now cannot vouch for checkpoints published before: say so, never silently
      const fresh = !checkpointKey(dirname(file), false);
      const key = checkpointKey(dirname(file))!;
      if (fresh) console.error(`made a new checkpoint key ${join(dirname(file), "checkpoint-key.pem")}: checkpoints signed by an earlier key will not verify against it`);
      const cp = makeCheckpoint(new AuditLog(db), key, Date.now());
      if (a.values.out) {
        publishCheckpoint(a.values.out, cp);
        console.log(`checkpoint of ${cp.checkpoint.treeSize} record(s) appended to ${a.values.out}`);
      } else console.log(formatCheckpoint(cp));
      return EXIT.ok;
    } finally {
      db.close();
    }
  }
  if (argv[0] === "verify-chain") {
    const spec = {
      usage: "ridge attest audit verify-chain --db FILE [--expect CHECKPOINT] [--json]",
      summary: "Recompute the audit trail's hash chain; exit 1 and name the first bad record if any was edited, deleted, reordered or cut off. With --expect (a checkpoint file, its last line is used), also prove the log extends that signed checkpoint.",
      options: { db: { type: "string" }, expect: { type: "string" }, json: { type: "boolean" } },
    } as const;
    const a = parseCommand(argv.slice(1), spec);
    if (!a) return EXIT.ok;
    const file = needed(a.values.db, "db", spec.usage);
    const db = openAuditReadOnly(file);
    try {
      const audit = new AuditLog(db);
      const chain: ChainCheck = audit.verifyChain();
      let cpCheck: CheckpointCheck | undefined;
      if (chain.ok && a.values.expect) {
        let text = "";
        try {
          text = readFileSync(a.values.expect, "utf8");
        } catch (e) {
          throw new RidgeError("E_ATTEST_CHECKPOINT_INVALID", `cannot read the checkpoint ${a.values.expect}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
        }
        const cp = parseCheckpoint(text);
        const key = checkpointKey(dirname(file), false);
        if (!cp) cpCheck = fail("E_ATTEST_CHECKPOINT_INVALID", `${a.values.expect} holds no checkpoint`);
        else if (!key) cpCheck = fail("E_ATTEST_CHECKPOINT_KEY", `no checkpoint-key.pem beside ${file}`);
        else cpCheck = checkExtends(audit, key, cp);
      }
      if (!chain.ok) {
        if (a.values.json) console.log(JSON.stringify(chain));
        else console.log(`chain BROKEN at record ${chain.offset}: ${chain.code} (${chain.reason})`);
        return EXIT.failure;
      }
      if (cpCheck && !cpCheck.ok) {
        if (a.values.json) console.log(JSON.stringify({ ...chain, checkpoint: cpCheck }));
        else console.log(`chain OK: ${chain.value.records} record(s), but NOT the checkpoint in ${a.values.expect}: ${cpCheck.code} (${cpCheck.reason})`);
        return EXIT.failure;
      }
      if (a.values.json) console.log(JSON.stringify(cpCheck ? { ...chain, checkpoint: cpCheck } : chain));
      else if (chain.ok) console.log(`chain OK: ${chain.value.records} record(s), head ${chain.value.head.slice(0, 16)}…${cpCheck?.ok ? `; extends the checkpoint of ${cpCheck.value.from}` : ""}`);
      return EXIT.ok;
    } finally {
      db.close();
    }
  }
  const spec = {
    usage: "ridge attest audit --db FILE [--since T] [--gateway ID] [--json]\n       ridge attest audit verify-chain --db FILE [--expect CHECKPOINT-FILE] [--json]\n       ridge attest audit checkpoint --db FILE [--out FILE]",
    summary: "List recorded verdicts, oldest first (verify-chain: check the hash chain and a signed checkpoint; checkpoint: sign one).",
    options: { db: { type: "string" }, since: { type: "string" }, gateway: { type: "string" }, json: { type: "boolean" } },
  } as const;
  const a = parseCommand(argv, spec);
  if (!a) return EXIT.ok;
  const file = needed(a.values.db, "db", spec.usage);
  const db = openAuditReadOnly(file);
  try {
    const audit = new AuditLog(db);
    const rows = audit.list({
      ...(a.values.since ? { since: parseSince(a.values.since, Date.now()) } : {}),
      ...(a.values.gateway ? { gateway: a.values.gateway } : {}),
    });
    printRecords(rows, a.values.json === true, audit.head());
  } finally {
    db.close();
  }
  return EXIT.ok;
}

const subcommands: Record<string, (argv: string[]) => Promise<number>> = {
  quote,
  log: showLog,
  key,
  keygen,
  nonce,
  verify: verifyCmd,
  verifier: verifierCmd,
  audit: auditCmd,
};

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
    console.log(`usage: ${USAGE}`);
    return sub === undefined ? EXIT.usage : EXIT.ok;
  }
  const f = subcommands[sub];
  if (!f) throw new RidgeError("E_USAGE", `unknown subcommand "attest ${sub}"\nusage: ${USAGE}`);
  return f(rest);
}

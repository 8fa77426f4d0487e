/**
 * `ridge ota …`: the publisher's tools (keys, repository, bundles, signing, root rotation) and the
 * device's (install from a repository directory or URL, status). `ridge boot` (the launcher) lives
 * here too, exported as `boot`.
 */
import { chmodSync, closeSync, existsSync, openSync, readFileSync, readSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { EXIT_BOARD_SETUP, silentLogger, type Logger, systemClock, systemRandom, RidgeError, asErrorCode, errorMessage } from "../../../core/index.js";
import { loadBoard, type Board } from "../../../boards/index.js";
import {
  ALG_NAMES,
  TufRepository,
  UpdateAgent,
  bootControlFor,
  bootToolMissing,
  onTrial,
  readUpdateState,
  bootedSlotFromEnv,
  fetcherFor,
  fromKeyFile,
  generateSigningKey,
  parseMetadata,
  publicKeyFromFile,
  pinLaunch,
  runLauncher,
  slotDir,
  toKeyFile,
  artifactKinds,
  isVersion,
  type ArtifactKind,
  type AgentStatus,
  type PublishReport,
  type RoleKeySpec,
  type RoleName,
  type SigningKey,
  type TargetCustom,
  writeBundle,
  type BundleFileSource,
  type BundleManifest,
  bundleManifest,
  MANIFEST_NAME,
  type Slot,
  type UpdateState,
} from "../../../ota/index.js";
import type { RuntimeSlot } from "../../../flash/index.js";
import { openDatabase, openReadOnly } from "../../store/db.js";
import { controlRequest, socketPathFor } from "../../control/client.js";
import { VERSION } from "../../version.js";
import { describe, progressPrinter } from "../../progress.js";
import { parseCommand } from "../args.js";
import { writeLastExit } from "../last-exit.js";

const USAGE = `usage: ridge ota <command> [options]

  keygen --alg ed25519|p256|sm2 --out FILE          new signing key (FILE, private) and FILE.pub
  init-repo DIR --root-keys K1.pub,K2.pub --threshold N [--targets-keys …] [--snapshot-keys …] [--timestamp-keys …] [--key FILE …]
  bundle --board NAME --out FILE [--version V] [--without PKG,…]
  add DIR FILE --kind runtime|model|device-firmware --version V --board NAME [--arch A] [--name N] [--min-from V] [--allow-downgrade-from V,…] [--no-chunks] [--key FILE …]
  sign DIR --key FILE … [--role ROLE] [--bump]
  rotate-root DIR --root-keys K1.pub,… --threshold N [--targets-keys …] [--snapshot-keys …] [--timestamp-keys …] --key OLD --key NEW …
  install SOURCE [--target NAME] [--board NAME] [--data DIR] [--root FILE]   (SOURCE: repository directory, USB path or URL)
  status [--board NAME] [--data DIR]

--board defaults to $RIDGE_BOARD, else sim; --data to $RIDGE_DATA, else the board's data directory.
ridge ota <command> --help for each.`;

function readKeys(files: string[] | undefined): SigningKey[] {
  return (files ?? []).map((f) => fromKeyFile(readFileSync(f, "utf8"), f));
}

function roleSpec(list: string | undefined, threshold: string | undefined, what: string): RoleKeySpec | undefined {
  if (!list) return undefined;
  const keys = list.split(",").filter(Boolean).map((f) => publicKeyFromFile(readFileSync(f, "utf8"), f));
  const t = Number(threshold ?? 1);
  if (!Number.isInteger(t) || t < 1) throw new RidgeError("E_USAGE", `${what} threshold must be a positive integer`);
  return { keys, threshold: t };
}

function printReport(r: PublishReport): void {
  if (r.published.length) console.log(`published: ${r.published.join(", ")}`);
  for (const [role, w] of Object.entries(r.waiting)) console.log(`waiting for signatures: ${role} (${w})`);
}

const roleOptions = {
  "root-keys": { type: "string" },
  threshold: { type: "string" },
  "targets-keys": { type: "string" },
  "targets-threshold": { type: "string" },
  "snapshot-keys": { type: "string" },
  "snapshot-threshold": { type: "string" },
  "timestamp-keys": { type: "string" },
  "timestamp-threshold": { type: "string" },
  key: { type: "string", multiple: true },
} as const;

function rolesFrom(v: Record<string, unknown>) {
  const s = (k: string) => v[k] as string | undefined;
  const root = roleSpec(s("root-keys"), s("threshold"), "root");
  if (!root) throw new RidgeError("E_USAGE", "--root-keys is required");
  const opt = <K extends string>(k: K, spec: RoleKeySpec | undefined) => (spec ? { [k]: spec } : {});
  return {
    root,
    ...opt("targets", roleSpec(s("targets-keys"), s("targets-threshold"), "targets")),
    ...opt("snapshot", roleSpec(s("snapshot-keys"), s("snapshot-threshold"), "snapshot")),
    ...opt("timestamp", roleSpec(s("timestamp-keys"), s("timestamp-threshold"), "timestamp")),
  };
}

function projectRoot(): string {
  // from source: runtime/cli/commands/ → ../../../ ; from the bundle: dist/ → ../
  for (const rel of ["../../../", "../"]) {
    const d = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(join(d, "package.json")) && existsSync(join(d, "boards"))) return d;
  }
  return process.cwd();
}

/** --board, else $RIDGE_BOARD, else sim; --data, else $RIDGE_DATA, else the board's data dir (the device's `ridge` exports both). */
function boardAndData(v: { board?: string | undefined; data?: string | undefined }): { board: Board; dataDir: string } {
  const board = loadBoard(v.board ?? process.env.RIDGE_BOARD ?? "sim");
  const dataDir = resolve(v.data ?? process.env.RIDGE_DATA ?? board.dataDir);
  return { board, dataDir };
}

/**
 * The runtime slot `ridge flash` would lay down (flash/runtime-slot.ts decides its files), written
 * as an OTA bundle by ota's writer, so that an update installs exactly the slot a flash gives:
 * same paths, modes and bytes.
 */
export function writeSlotBundle(slot: RuntimeSlot, board: Board, out: string, created?: Date): Promise<BundleManifest> {
  const files = new Map<string, BundleFileSource>(slot.files.map((f) => [f.rel, f.content ? { bytes: f.content, mode: f.mode } : { src: f.src!, mode: f.mode }]));
  return writeBundle(out, { kind: "runtime", version: slot.version, board: board.name, arch: slot.arch, entry: "dist/ridge.mjs", files, ...(created ? { created } : {}) });
}

const commands: Record<string, (argv: string[]) => Promise<number>> = {
  async keygen(argv) {
    const a = parseCommand(argv, { usage: "ridge ota keygen --alg ed25519|p256|sm2 --out FILE", summary: "Generate a signing key: FILE (private, mode 600) and FILE.pub (the TUF public key).", options: { alg: { type: "string" }, out: { type: "string", short: "o" } } });
    if (!a) return 0;
    const alg = ALG_NAMES[a.values.alg ?? ""];
    if (!alg || !a.values.out) throw new RidgeError("E_USAGE", "usage: ridge ota keygen --alg ed25519|p256|sm2 --out FILE");
    if (existsSync(a.values.out)) throw new RidgeError("E_OTA_KEY_EXISTS", `${a.values.out} exists: refusing to overwrite a key`);
    const k = generateSigningKey(alg);
    writeFileSync(a.values.out, JSON.stringify(toKeyFile(k), null, 1) + "\n", { mode: 0o600 });
    chmodSync(a.values.out, 0o600);
    writeFileSync(`${a.values.out}.pub`, JSON.stringify(k.key, null, 1) + "\n");
    console.log(`${k.key.keytype}/${k.key.scheme} key ${k.keyid}\n  private: ${a.values.out}\n  public:  ${a.values.out}.pub`);
    return 0;
  },

  async "init-repo"(argv) {
    const a = parseCommand(argv, { usage: "ridge ota init-repo DIR --root-keys K.pub,… --threshold N [--targets-keys …] [--snapshot-keys …] [--timestamp-keys …] [--key FILE …]", summary: "Create a TUF repository (roles without their own keys use the root keys).", options: roleOptions });
    if (!a) return 0;
    const dir = a.positionals[0];
    if (!dir) throw new RidgeError("E_USAGE", "init-repo needs DIR");
    const { report } = await TufRepository.init(dir, systemClock, rolesFrom(a.values), readKeys(a.values.key));
    console.log(`repository created in ${dir}`);
    printReport(report);
    return 0;
  },

  async bundle(argv) {
    const a = parseCommand(argv, {
      usage: "ridge ota bundle --board NAME --out FILE [--version V] [--without PKG,…] [--with-node|--no-with-node]",
      summary: "Build the runtime bundle for a board: the slot `ridge flash` lays down (dist/ridge.mjs from npm run bundle, boards/, package.json, the external packages, the board's native addons and, for real boards, its Node.js), as a bundle.",
      options: { board: { type: "string" }, out: { type: "string", short: "o" }, version: { type: "string" }, without: { type: "string" }, "with-node": { type: "boolean" }, "no-with-node": { type: "boolean" } },
    });
    if (!a) return 0;
    if (!a.values.board || !a.values.out) throw new RidgeError("E_USAGE", "bundle needs --board and --out");
    if (a.values["with-node"] && a.values["no-with-node"]) throw new RidgeError("E_USAGE", "--with-node and --no-with-node exclude each other");
    const board = loadBoard(a.values.board);
    const { buildRuntimeSlot, defaultWithNode } = await import("../../../flash/index.js");
    const withNode = a.values["with-node"] ? true : a.values["no-with-node"] ? false : defaultWithNode(board);
    const slot = buildRuntimeSlot({ projectRoot: projectRoot(), board, withNode, version: a.values.version, without: a.values.without?.split(",") });
    const m = await writeSlotBundle(slot, board, a.values.out);
    const bytes = Object.values(m.files).reduce((s, f) => s + f.size, 0);
    const native = slot.addons.map((x) => `${x.pkg} (${x.from})`).join(", ") || "none";
    console.log(`bundle ${a.values.out}: runtime ${m.version} for ${m.board}/${m.arch}, ${Object.keys(m.files).length} files, ${(bytes / 2 ** 20).toFixed(1)} MiB unpacked; native addons: ${native}${slot.node ? `; node ${slot.node.version} (${slot.node.source})` : ""}`);
    return 0;
  },

  async add(argv) {
    const a = parseCommand(argv, {
      usage: "ridge ota add DIR FILE --kind runtime|model|device-firmware --version V --board NAME[,NAME…] [--arch A,…] [--name NAME] [--min-from V] [--allow-downgrade-from V,…] [--no-chunks] [--key FILE …]",
      summary: "Add an artifact to the repository's targets (staged; signed and published with --key, or later with `ridge ota sign`). Its content-defined chunks go under targets/chunks/ so devices download only what changed (--no-chunks: whole downloads only).",
      options: { kind: { type: "string" }, version: { type: "string" }, board: { type: "string" }, arch: { type: "string" }, name: { type: "string" }, "min-from": { type: "string" }, "allow-downgrade-from": { type: "string" }, "no-chunks": { type: "boolean" }, key: { type: "string", multiple: true } },
    });
    if (!a) return 0;
    const [dir, file] = a.positionals;
    const v = a.values;
    if (!dir || !file || !v.kind || !v.version || !v.board) throw new RidgeError("E_USAGE", "add needs DIR FILE --kind --version --board");
    if (!artifactKinds.includes(v.kind as ArtifactKind)) throw new RidgeError("E_USAGE", `--kind is one of ${artifactKinds.join(", ")}`);
    if (!isVersion(v.version)) throw new RidgeError("E_USAGE", `--version "${v.version}" is not a version such as 1.4.0`);
    const boards = v.board.split(",");
    const arch = v.arch ? v.arch.split(",") : v.kind === "runtime" ? [...new Set(boards.map((b) => loadBoard(b).arch))] : undefined;
    const custom: TargetCustom = { kind: v.kind as ArtifactKind, version: v.version, boards, ...(arch ? { arch } : {}), ...(v["min-from"] ? { minFrom: v["min-from"] } : {}),
      // the signed half of a downgrade: the versions this (older) target may replace
      ...(v["allow-downgrade-from"] ? { allowDowngradeFrom: v["allow-downgrade-from"].split(",").map((x) => x.trim()).filter(Boolean) } : {}) };
    // what every device checks at install, checked here first: never publish a bundle they all refuse
    const m = bundleManifestOf(file);
    if (m) {
      const wrong = [m.kind !== v.kind ? `kind ${m.kind}, not ${v.kind}` : "", m.version !== v.version ? `version ${m.version}, not ${v.version}` : "", !boards.includes(m.board) ? `board ${m.board}, not ${boards.join(", ")}` : "", arch && !arch.includes(m.arch) ? `arch ${m.arch}, not ${arch.join(", ")}` : ""].filter(Boolean);
      if (wrong.length) throw new RidgeError("E_OTA_BUNDLE_MANIFEST", `${file}: its ${MANIFEST_NAME} says ${wrong.join("; ")}; every device would refuse it (build it with ridge ota bundle --version ${v.version} --board ${m.board})`);
    } else if (v.kind === "runtime") throw new RidgeError("E_OTA_BUNDLE_MANIFEST", `${file}: not a runtime bundle (no ${MANIFEST_NAME} first); build one with ridge ota bundle`);
    const repo = TufRepository.open(dir, systemClock);
    const name = v.name ?? `${v.kind}-${boards.join("+")}-${v.version}.tar`;
    const t = await repo.addTarget(file, name, custom, { chunks: v["no-chunks"] !== true });
    console.log(`staged ${t.name}: ${t.length} bytes, sha256 ${t.sha256}${t.chunks !== undefined ? `, ${t.chunks} chunks` : ""}`);
    printReport(repo.sign(readKeys(v.key)));
    return 0;
  },

  async sign(argv) {
    const a = parseCommand(argv, {
      usage: "ridge ota sign DIR --key FILE … [--role root|targets|snapshot|timestamp] [--bump]",
      summary: "Add signatures to staged metadata; publish what reaches its threshold. --bump stages a fresh version of --role first (e.g. a new timestamp before the old one expires).",
      options: { key: { type: "string", multiple: true }, role: { type: "string" }, bump: { type: "boolean" } },
    });
    if (!a) return 0;
    const dir = a.positionals[0];
    if (!dir) throw new RidgeError("E_USAGE", "sign needs DIR");
    const role = a.values.role as RoleName | undefined;
    if (role && !["root", "targets", "snapshot", "timestamp"].includes(role)) throw new RidgeError("E_USAGE", `unknown role ${role}`);
    const repo = TufRepository.open(dir, systemClock);
    if (a.values.bump) {
      if (!role || role === "root") throw new RidgeError("E_USAGE", "--bump needs --role targets|snapshot|timestamp");
      repo.bump(role);
    }
    printReport(repo.sign(readKeys(a.values.key), role));
    return 0;
  },

  async "rotate-root"(argv) {
    const a = parseCommand(argv, {
      usage: "ridge ota rotate-root DIR --root-keys K.pub,… --threshold N [--targets-keys …] [--snapshot-keys …] [--timestamp-keys …] --key OLD … --key NEW …",
      summary: "Stage root version N+1 with new keys; it is published once signed by a threshold of the old root's keys and of the new root's.",
      options: roleOptions,
    });
    if (!a) return 0;
    const dir = a.positionals[0];
    if (!dir) throw new RidgeError("E_USAGE", "rotate-root needs DIR");
    const repo = TufRepository.open(dir, systemClock);
    const next = repo.rotateRoot(rolesFrom(a.values));
    console.log(`staged root version ${next.version}`);
    printReport(repo.sign(readKeys(a.values.key), "root"));
    return 0;
  },

  async install(argv) {
    const a = parseCommand(argv, {
      usage: "ridge ota install SOURCE [--target NAME [--allow-downgrade]] [--board NAME] [--data DIR] [--root FILE]",
      summary: "Install the newest fitting runtime (or --target NAME) from a repository directory, USB path or URL into the inactive slot, verified against the trusted metadata; it boots at the next restart.",
      options: { target: { type: "string" }, "allow-downgrade": { type: "boolean" }, board: { type: "string" }, data: { type: "string" }, root: { type: "string" } },
    });
    if (!a) return 0;
    const src = a.positionals[0];
    if (!src) throw new RidgeError("E_USAGE", "install needs SOURCE");
    const { board, dataDir } = boardAndData(a.values);
    // A running gateway owns this data directory's update state: a second writer would leave it
    // (and `ridge ota status`) telling two stories. Ask the gateway instead, or stop it first.
    const live = await controlRequest(dataDir, "GET", "/ota/state", undefined, 2000).catch(() => undefined);
    if (live && live.status !== undefined && live.status < 500)
      throw new RidgeError("E_OTA_GATEWAY_RUNNING", `a gateway is running on ${dataDir}: it owns the updates there; ask it to check (curl --unix-socket ${socketPathFor(dataDir)} -X POST http://ridge/ota/check, or the cloud's down/ota), or stop it before ridge ota install`);
    const db = openDatabase(dataDir);
    try {
      const booted = bootedSlotFromEnv();
      // a bar on a terminal; on a pipe or in a journal a line every 5 s (download, verify, unpack)
      const progress = progressPrinter(process.stderr);
      let restartReason: string | undefined;
      const agent = new UpdateAgent({
        db,
        clock: systemClock,
        random: systemRandom,
        // what a delta download cost is printed (metered links); other info stays quiet
        log: { ...silentLogger, info: (o, m) => void (o && typeof o === "object" && "delta" in o && m ? console.log(m.replace(/^ota: /, "")) : undefined), warn: (o, m) => console.error(m, o), error: (o, m) => console.error(m, o) },
        bootControl: bootControlFor(board, { dataDir, ...(booted ? { booted } : {}) }),
        board: { name: board.name, arch: board.arch },
        slotDir: (slot) => slotDir(board, dataDir, slot),
        workDir: join(dataDir, "ota", "download"),
        mirrors: [fetcherFor(/^[a-z]+:/.test(src) || isAbsolute(src) ? src : resolve(src))],
        runningVersion: VERSION,
        attempts: board.bootControl.attempts,
        healthUpForMs: 0,
        healthChecks: [],
        requestRestart: (r) => (restartReason = r),
        onProgress: (p) => progress.update({ phase: p.phase, done: p.received, total: p.total }),
      });
      if (a.values.root) {
        const bytes = new Uint8Array(readFileSync(a.values.root));
        const p = parseMetadata("root", bytes);
        if (!p.ok) throw new RidgeError("E_OTA_PARSE", `${a.values.root}: ${p.reason}`);
        if (!agent.store.get("root")) agent.store.put("root", bytes);
      }
      const before = agent.state();
      if (before.s === "pending" || before.s === "trial") {
        console.log(`slot ${before.slot} already holds ${before.target.name} (${before.target.version}), ${before.s === "pending" ? "waiting for the next restart of the gateway" : "on trial"}; nothing installed`);
        return 1;
      }
      if (a.values["allow-downgrade"] && !a.values.target) throw new RidgeError("E_USAGE", "--allow-downgrade goes with --target NAME (a downgrade is always asked for by name)");
      await agent.check("local", a.values.target ? { target: a.values.target, ...(a.values["allow-downgrade"] ? { allowDowngrade: true } : {}) } : {}).finally(() => progress.end());
      const st = agent.state();
      if (st.s === "pending") {
        void restartReason;
        console.log(`installed ${st.target.name} (${st.target.version}) into slot ${st.slot}; it boots at the next restart of the gateway`);
        return 0;
      }
      if (st.s === "idle") {
        console.log("no newer runtime for this board in the repository");
        return 0;
      }
      if (st.s === "failed") throw new RidgeError(asErrorCode(st.code, "E_OTA_FAILED"), st.reason);
      console.log(`update state: ${st.s}`);
      return 1;
    } finally {
      db.close();
    }
  },

  async status(argv) {
    const a = parseCommand(argv, { usage: "ridge ota status [--board NAME] [--data DIR] [--json]", summary: "The OTA state, slots, boot attempts and recent history.", options: { board: { type: "string" }, data: { type: "string" }, json: { type: "boolean" } } });
    if (!a) return 0;
    const { board, dataDir } = boardAndData(a.values);
    // The running gateway knows the download progress: ask it first, else read the database.
    const live = await controlRequest(dataDir, "GET", "/ota/state", undefined, 3000).catch(() => undefined);
    if (live?.status === 200 && live.body && typeof live.body === "object") {
      const b = live.body as AgentStatus & { lastError?: string };
      if (a.values.json) console.log(JSON.stringify(b, null, 1));
      else printStatus(b);
      return 0;
    }
    if (!existsSync(join(dataDir, "ridgeline.db"))) throw new RidgeError("E_OTA_NO_STATE", `no gateway database in ${dataDir}`);
    // A reader never writes: read-only, no migrations (the gateway may be running and committing).
    const db = openReadOnly(dataDir);
    try {
      // Run by a person, not by the launcher: no RIDGE_SLOT. The boot order says what boots next
      // (after an install that is the new slot), not what runs: take the launcher's `running`
      // link, else what the update state says runs.
      const booted = bootedSlotFromEnv() ?? runningSlot(board, dataDir, readUpdateState(db));
      const agent = new UpdateAgent({
        db,
        clock: systemClock,
        random: systemRandom,
        log: silentLogger,
        bootControl: bootControlFor(board, { dataDir, ...(booted ? { booted } : {}) }),
        board: { name: board.name, arch: board.arch },
        slotDir: (slot) => slotDir(board, dataDir, slot),
        workDir: join(dataDir, "ota", "download"),
        mirrors: [fetcherFor(dataDir)],
        runningVersion: VERSION,
        attempts: board.bootControl.attempts,
        healthUpForMs: 0,
        healthChecks: [],
        requestRestart: () => {},
      });
      const s = agent.status();
      if (a.values.json) {
        console.log(JSON.stringify(s, null, 1));
        return 0;
      }
      printStatus(s);
      return 0;
    } finally {
      db.close();
    }
  },
};

/** The slot running now, for a reader outside the runtime: the launcher's link, else the update state. */
function runningSlot(board: Board, dataDir: string, st: UpdateState): Slot | undefined {
  try {
    const link = readlinkSync(join(dirname(slotDir(board, dataDir, "a")), "running"));
    const m = /(?:^|\/)([ab])\/?$/.exec(link);
    if (m) return m[1] as Slot;
  } catch {
    /* no link: not started by the unit's pin step */
  }
  if (st.s === "pending" || st.s === "rolled-back") return st.from;
  if (st.s === "trial" || st.s === "committed") return st.slot;
  return undefined;
}

/** The manifest a Ridgeline bundle carries as its first tar entry, or undefined (not a bundle). */
function bundleManifestOf(file: string): BundleManifest | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, "r");
    const h = Buffer.alloc(512);
    if (readSync(fd, h, 0, 512, 0) !== 512) return undefined;
    const name = h.subarray(0, 100).toString("latin1").replace(/\0.*$/s, "");
    const size = parseInt(h.subarray(124, 136).toString("latin1").replace(/\0.*$/s, "").trim() || "0", 8);
    if (name !== MANIFEST_NAME || !Number.isSafeInteger(size) || size <= 0 || size > 16 * 1024 * 1024) return undefined;
    const body = Buffer.alloc(size);
    if (readSync(fd, body, 0, size, 512) !== size) return undefined;
    const r = bundleManifest.safeParse(JSON.parse(body.toString("utf8")));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function printStatus(s: AgentStatus & { lastError?: string }): void {
  const st = s.state;
  console.log(`state: ${st.s}${"target" in st && st.target ? ` (${st.target.name} ${st.target.version})` : ""}${"reason" in st ? `: ${st.code} ${st.reason}` : ""}`);
  if (s.progress && ["downloading", "verifying", "installing"].includes(st.s)) console.log(`progress: ${describe({ phase: s.progress.phase, done: s.progress.received, total: s.progress.total }, 0).text.replace(/ at .*$/, "")} (${s.progress.received} of ${s.progress.total} bytes)`);
  const incoming = st.s === "pending" || st.s === "trial";
  // active = the slot running now (not the next in the boot order); attempts: of the slot on its way in, if any
  console.log(`active slot: ${s.active}, running ${s.runningVersion}, boot attempts left ${incoming ? "-" : (s.attemptsLeft ?? "?")}, anti-rollback floor ${s.floor ?? "none"}`);
  if (incoming) console.log(`${st.s === "pending" ? "pending" : "on trial"}: slot ${st.slot}, version ${st.target.version}, boot attempts left ${s.attemptsLeft ?? "?"}`);
  const lastFailure = s.history.find((h) => h.code);
  if (lastFailure) console.log(`last failure: ${new Date(lastFailure.at).toISOString()} ${lastFailure.state}${lastFailure.version ? ` ${lastFailure.version}` : ""}: ${lastFailure.code} ${lastFailure.reason}`);
  if (s.lastError) console.log(`last error: ${s.lastError}`);
  // older gateways answer without the list
  for (const f of s.failed ?? []) console.log(`never again: ${f.name} ${f.version} (sha256 ${f.sha256.slice(0, 12)}…) failed ${new Date(f.at).toISOString()}  ${f.code}: ${f.reason}`);
  for (const h of s.history) console.log(`  ${new Date(h.at).toISOString()}  ${h.state}${h.version ? ` ${h.version}` : ""}${h.code ? `  ${h.code}: ${h.reason}` : ""}`);
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === "--help" || sub === "-h" || sub === "help") {
    console.log(USAGE);
    return sub ? 0 : 64;
  }
  const c = commands[sub];
  if (!c) throw new RidgeError("E_USAGE", `unknown ota command "${sub}"\n${USAGE}`);
  return c(rest);
}

/** `ridge boot`: the runtime-level A/B launcher (the systemd unit's ExecStart). */
export async function boot(argv: string[]): Promise<number> {
  const a = parseCommand(argv, {
    usage: "ridge boot [--board NAME] [--data DIR] [-- RUN-ARGS…]",
    summary: "Start the runtime from the A/B slot that BootControl chooses (spending one boot attempt), and start again after a crash or a requested restart; a slot out of attempts is skipped (rollback).",
    details: [
      "  RUN-ARGS       passed to `ridge run` in the slot after --board and --data (e.g. --config /etc/ridgeline/gateway.yaml)",
      "  --pin FILE     only choose (spending the attempt), record it in FILE and point <slots>/running at the slot (the unit's ExecStartPre)",
      "  --pinned FILE  start the choice recorded in FILE, if it is there and still verified (else choose)",
      "",
      "Exit status: the runtime's (75: restart, maybe into the other slot; 2: the config is wrong, unless the slot was on trial:",
      "then it is rolled back and the status is 75); 78: the board lacks its boot control tool (E_BOARD_TOOL_MISSING).",
    ].join("\n"),
    options: { board: { type: "string" }, data: { type: "string" }, "max-starts": { type: "string" }, pin: { type: "string" }, pinned: { type: "string" } },
  });
  if (!a) return 0;
  const { board, dataDir } = boardAndData(a.values);
  const bc = bootControlFor(board, { dataDir });
  const factory = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "../entry.ts" : "./ridge.mjs", import.meta.url));
  const line = (_fields: Record<string, unknown>, m: string) => console.error(`ridge boot: ${m}`);
  const log: Logger = { ...silentLogger, info: line, warn: line, error: line };
  // The board is not set up for its boot control (fw_printenv/fw_setenv or nvbootctrl missing,
  // no /etc/fw_env.config): one error naming what to install, and a status systemd does not retry.
  const boardNotReady = (e: unknown): number | undefined => {
    const missing = bootToolMissing(board, e);
    if (!missing) return undefined;
    console.error(`error ${missing.code}: ${missing.message}`);
    writeLastExit(dataDir, { exit: EXIT_BOARD_SETUP, code: missing.code, message: missing.message });
    return EXIT_BOARD_SETUP;
  };
  if (a.values.pin) {
    let c: ReturnType<typeof pinLaunch>;
    try {
      c = pinLaunch({ bootControl: bc, slotDir: (slot) => slotDir(board, dataDir, slot), factoryEntry: factory, args: [], clock: systemClock, log }, a.values.pin);
    } catch (e) {
      // The unit's ExecStartPre: RestartPreventExitStatus= applies to the main process only, so the
      // pin step leaves no choice and succeeds; ExecStart then meets the same error and exits 78.
      if (boardNotReady(e) !== undefined) {
        rmSync(a.values.pin, { force: true });
        log.error({}, "nothing pinned: the start reports the missing boot control tool");
        return 0;
      }
      throw e;
    }
    if (!c) {
      log.error({}, "no slot holds a verified runtime: nothing to start (E_OTA_NO_BOOTABLE_SLOT)");
      return 1;
    }
    log.info({ slot: c.slot, attemptsLeft: c.attemptsLeft }, `slot ${c.slot} chosen (${c.attemptsLeft} attempts left)${c.lastResort ? ", as a last resort" : ""}`);
    return 0;
  }
  return runLauncher({
    bootControl: bc,
    ...(a.values.pinned ? { pinnedFile: a.values.pinned } : {}),
    slotDir: (slot) => slotDir(board, dataDir, slot),
    factoryEntry: factory,
    args: ["run", "--board", board.name, "--data", dataDir, ...a.positionals],
    nodeArgs: process.execArgv,
    clock: systemClock,
    log,
    slotOnTrial: (slot) => slotOnTrialIn(dataDir, slot),
    ...(a.values["max-starts"] ? { maxStarts: Number(a.values["max-starts"]) } : {}),
  }).catch((e: unknown) => {
    const code = boardNotReady(e);
    if (code !== undefined) return code;
    throw new RidgeError("E_OTA_LAUNCHER", errorMessage(e));
  });
}

/** Whether the update store in `dataDir` has `slot` on trial (read-only; no database or no OTA table yet: not on trial). */
export function slotOnTrialIn(dataDir: string, slot: "a" | "b"): boolean {
  if (!existsSync(join(dataDir, "ridgeline.db"))) return false;
  const db = openReadOnly(dataDir);
  try {
    return onTrial(readUpdateState(db), slot);
  } finally {
    db.close();
  }
}

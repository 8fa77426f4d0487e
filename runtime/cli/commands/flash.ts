/**
 * `ridge flash`: lay a complete device root for a board into a folder (a mounted SD card or eMMC
 * rootfs, or a plain directory). The work is flash/; this wires the runtime's config schema in
 * as the validator and finds the runtime to ship (this checkout, or the slot this runs from).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadBoard, listBoards } from "../../../boards/index.js";
import { RidgeError } from "../../../core/index.js";
import { flashDevice, formatStep, parseSecretOptions, secretsEnv, type ValidatedConfig } from "../../../flash/index.js";
import { loadConfig } from "../../config/load.js";
import { parseCommand } from "../args.js";

const spec = {
  usage: "ridge flash --board NAME --root DIR [--gateway-id ID] [--config FILE] [--secret NAME=VALUE …] [--secret-file NAME=FILE …] [--cloud URL] [--ota-root FILE] [--force] [--dry-run] [--with-node|--no-with-node] [--project DIR]",
  summary: "Lay a complete Ridgeline device root into DIR: runtime slot a (bundle, native addons and Node.js for the board's CPU), empty slot b, boot launcher, /etc/ridgeline/gateway.yaml (validated), /var/lib/ridgeline with the identity key, CSR, attestation key, OTA trust anchor and first measurement log, and the systemd unit with its enable link.",
  details: [
    "  --board NAME        board definition (boards/NAME.yaml)",
    "  --root DIR          the folder that becomes the device's /",
    "  --gateway-id ID     the gateway id (default: the config's gateway.id, the id of an earlier flash, else gw-<random>)",
    "  --config FILE       the gateway config to start from (board defaults apply underneath; re-flashing with --force:\n                      default the config already in the root); errors name FILE's own lines",
    "  --secret NAME=VALUE       a secret for ${NAME} in the config: /etc/ridgeline/credentials/NAME (0600), loaded by the unit",
    "  --secret-file NAME=FILE   the same, the value read from FILE (certificates, keys, tokens kept out of the shell history)",
    "                      ${NAME} is resolved on the device at start: it need not be set where you flash",
    "  --cloud URL         cloud broker (mqtts://host:8883): the identity key and id.crt are configured for mutual TLS",
    "  --ota-root FILE     TUF root.json: the OTA trust anchor",
    "  --force             re-flash a provisioned device. Kept: the identity and attestation keys, the data directory",
    "                      (queue, id.crt, OTA state), /etc/ridgeline/gateway.yaml unless --config is given (the",
    "                      earlier flash's config is the starting config), credentials not named again. Rewritten:",
    "                      slot a (slot b emptied, slot a active), the launcher, the unit and its system files, the",
    "                      CSR and first measurement log, the config's gateway id, board (and --cloud), and the",
    "                      secrets given. Adding one secret: ridge flash --board B --root DIR --force --secret NAME=VALUE",
    "  --dry-run           list what would be written; write nothing",
    "  --with-node         put Node.js for the board's CPU into the slot (default on for real boards)",
    "  --no-with-node      use the Node.js installed on the device",
    "  --project DIR       the runtime to ship: a checkout with dist/ridge.mjs and node_modules (default: this one)",
    "",
    "Cross-built addons and Node.js for each arch come from .cache/ (node scripts/prepare-target.mjs --arch arm64|riscv64).",
    `Boards: ${safeBoards()}`,
  ].join("\n"),
  options: {
    board: { type: "string", short: "b" },
    root: { type: "string", short: "r" },
    "gateway-id": { type: "string" },
    config: { type: "string", short: "c" },
    cloud: { type: "string" },
    "ota-root": { type: "string" },
    secret: { type: "string", multiple: true },
    "secret-file": { type: "string", multiple: true },
    force: { type: "boolean" },
    "dry-run": { type: "boolean", short: "n" },
    "with-node": { type: "boolean" },
    "no-with-node": { type: "boolean" },
    project: { type: "string" },
  },
} as const;

/** The last line of a flash: where the first boot is explained (docs/flashing.md). */
export const NEXT_STEPS = 'next: boot the board and follow docs/flashing.md, "After flashing: the first boot, step by step" (journalctl -u ridgeline -f, ridge status, id.crt for the cloud)';

function safeBoards(): string {
  try {
    return listBoards().join(", ");
  } catch {
    return "(boards/ not found)";
  }
}

/** The checkout (or slot) that holds dist/ridge.mjs, boards/, package.json and node_modules/. */
export function findProjectRoot(start = dirname(fileURLToPath(import.meta.url))): string {
  for (let d = start; ; d = dirname(d)) {
    if (existsSync(join(d, "package.json")) && existsSync(join(d, "boards", "sim.yaml")) && existsSync(join(d, "node_modules"))) return d;
    if (dirname(d) === d) throw new RidgeError("E_FLASH_RUNTIME_INPUT", "cannot find the runtime to ship (package.json, boards/, node_modules/): pass --project DIR");
  }
}

/** In a source checkout, rebuild dist/ridge.mjs when a source is newer (scripts/bundle.mjs --if-stale). */
function ensureBundle(projectRoot: string): void {
  const script = join(projectRoot, "scripts", "bundle.mjs");
  if (!existsSync(script)) return;
  const r = spawnSync(process.execPath, [script, "--if-stale"], { cwd: projectRoot, stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  if (r.status !== 0) throw new RidgeError("E_FLASH_RUNTIME_INPUT", `npm run bundle failed: ${r.stderr.slice(-2000)}`);
}

/** Serial ports and other device nodes a config names (driver `port:` keys). */
function devicePaths(drivers: readonly { config: Record<string, unknown> }[]): string[] {
  const out: string[] = [];
  for (const d of drivers) for (const v of Object.values(d.config)) if (typeof v === "string" && v.startsWith("/dev/")) out.push(v);
  return out;
}

/**
 * The flash-time check: exactly `ridge run`'s, except that `${NAME}` resolves only from `secrets`
 * (what --secret / --secret-file give the device), never this machine's environment, and a secret
 * not given is accepted (the device provides it at start; the plan notes it).
 */
export function validateGatewayConfig(text: string, board: string, label: string, secrets: Record<string, string> = {}): ValidatedConfig {
  const { config } = loadConfig({ text, board, file: label, env: secrets, deferSecrets: true });
  return { gatewayId: config.gateway.id, devicePaths: devicePaths(config.drivers), attest: config.attest, drivers: config.drivers.map((d) => ({ name: d.name, kind: d.kind })), cloudCert: config.cloud?.mqtt?.cert };
}

function readInput(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new RidgeError("E_FLASH_INPUT", `cannot read ${what} ${file}: ${(e as Error).message}`);
  }
}

export async function run(argv: string[]): Promise<number> {
  const a = parseCommand(argv, spec);
  if (!a) return 0;
  const v = a.values;
  if (!v.board || !v.root) throw new RidgeError("E_USAGE", `--board and --root are required\nusage: ${spec.usage}`);
  if (v["with-node"] && v["no-with-node"]) throw new RidgeError("E_USAGE", "--with-node and --no-with-node exclude each other");
  const board = loadBoard(v.board);
  const projectRoot = v.project ? resolve(v.project) : findProjectRoot();
  const dryRun = v["dry-run"] ?? false;
  // Progress on stderr (stdout keeps the plan): a flash copies a runtime and maybe Node.js, it takes a while.
  const progress = (line: string) => console.error(`flash: ${line}…`);
  progress("bundling the runtime when a source is newer than dist/ridge.mjs");
  ensureBundle(projectRoot);
  const root = resolve(v.root);
  const secrets = parseSecretOptions(v.secret, v["secret-file"]);
  const env = secretsEnv(secrets);
  const { plan, steps } = flashDevice({
    root,
    board,
    projectRoot,
    validate: (text, b, label) => validateGatewayConfig(text, b, label, env),
    secrets,
    gatewayId: v["gateway-id"],
    configText: v.config ? readInput(v.config, "config") : undefined,
    configLabel: v.config,
    cloudUrl: v.cloud,
    otaRootText: v["ota-root"] ? readInput(v["ota-root"], "OTA root") : undefined,
    otaRootLabel: v["ota-root"],
    withNode: v["with-node"] ? true : v["no-with-node"] ? false : undefined,
    force: v.force ?? false,
    dryRun,
    onProgress: progress,
  });
  const changed = steps.filter((s) => s.action !== "unchanged" && s.action !== "kept").length;
  console.log(`${dryRun ? "dry run: would flash" : "flashed"} board ${board.name} (${board.arch}) into ${root}: gateway ${plan.gatewayId}, ridgeline ${plan.slot.version}${plan.slot.node ? `, node ${plan.slot.node.version}` : ""}`);
  for (const s of steps) console.log(formatStep(s, dryRun));
  const addons = [...new Set(plan.slot.addons.map((x) => `${x.pkg} (${x.from})`))].join(", ") || "none";
  console.log(`slot a: ${plan.slot.files.length + 1} files, ${plan.slotBytes} bytes; native addons for ${board.arch}: ${addons}; ELF machine of every native file checked`);
  for (const n of plan.notes) console.log(`note: ${n}`);
  console.log(dryRun ? `${changed} change${changed === 1 ? "" : "s"} would be made; nothing written` : changed ? `${changed} change${changed === 1 ? "" : "s"} written` : "nothing to change: the root was already flashed this way");
  if (!dryRun) console.log(NEXT_STEPS);
  return 0;
}

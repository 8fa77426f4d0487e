import { RidgeError } from "../../../core/index.js";
import { parseCommand } from "../args.js";
import { loadMqttDriver } from "../../../drivers/index.js";

const spec = {
  usage: "ridge mqtt hash-password [--ln N] < password",
  summary: "Hash a device password for the embedded broker's `auth.users` (scrypt; the password is read from stdin, never from the command line).",
  details: "  --ln N   scrypt cost as log2(N) (default: the driver's default)",
  options: { ln: { type: "string" } },
} as const;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

export async function run(argv: string[]): Promise<number> {
  const a = parseCommand(argv, spec);
  if (!a) return 0;
  if (a.positionals[0] !== "hash-password") throw new RidgeError("E_USAGE", `usage: ${spec.usage}`);
  const password = await readStdin();
  if (!password) throw new RidgeError("E_USAGE", "no password on stdin");
  const ln = a.values.ln === undefined ? undefined : Number(a.values.ln);
  if (ln !== undefined && !(Number.isInteger(ln) && ln >= 10 && ln <= 20)) throw new RidgeError("E_USAGE", "--ln must be an integer from 10 to 20");
  const { hashPassword } = await loadMqttDriver();
  console.log(await hashPassword(password, ln === undefined ? {} : { ln }));
  return 0;
}

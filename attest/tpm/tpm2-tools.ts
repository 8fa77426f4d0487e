/**
 * Running tpm2-tools (5.x) against one TPM, chosen by a TCTI string ("device:/dev/tpmrm0",
 * "swtpm:host=127.0.0.1,port=2321"). Without a resource manager the TPM keeps every transient
 * object a tool leaves behind and has only ~3 slots, so every command is followed by a flush.
 */
import { execFile } from "node:child_process";
import { RidgeError } from "../../core/index.js";

export interface TpmToolRunner {
  run(tool: string, args: string[]): Promise<{ stdout: string; stderr: string }>;
}

export function tpm2Tools(tcti: string, timeoutMs = 20_000): TpmToolRunner {
  const env = { ...process.env, TPM2TOOLS_TCTI: tcti };
  const exec = (tool: string, args: string[], ms = timeoutMs) =>
    new Promise<{ stdout: string; stderr: string; code: number | null; err?: NodeJS.ErrnoException }>((resolve) => {
      execFile(tool, args, { env, timeout: ms, killSignal: "SIGKILL", maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: number | string }) | null;
        resolve({ stdout: String(stdout), stderr: String(stderr), code: e ? (typeof e.code === "number" ? e.code : -1) : 0, ...(e ? { err: e } : {}) });
      });
    });
  return {
    async run(tool, args) {
      const r = await exec(tool, args);
      if (r.err?.code === "ENOENT") {
        throw new RidgeError("E_ATTEST_TPM_TOOLS", `${tool} not found: install tpm2-tools (and libtss2-tcti-swtpm0 for swtpm)`);
      }
      // flush transient objects and sessions whatever happened (no resource manager in between),
      // unless the TPM itself is unreachable
      const unreachable = r.code !== 0 && (/tcti|connect|socket/i.test(r.stderr) || (r.err as { killed?: boolean } | undefined)?.killed === true);
      if (!unreachable) {
        await exec("tpm2_flushcontext", ["-t"], 5_000);
        await exec("tpm2_flushcontext", ["-s"], 5_000);
      }
      if (r.code !== 0) {
        throw new RidgeError("E_ATTEST_TPM", `${tool} ${args.join(" ")} failed: ${r.stderr.trim().split("\n").slice(-3).join(" | ") || `exit ${r.code}`}`);
      }
      return { stdout: r.stdout, stderr: r.stderr };
    },
  };
}

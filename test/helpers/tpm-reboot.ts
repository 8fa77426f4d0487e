/**
 * Power-cycle a test swtpm as an orderly reboot would (TPM Reset): TPM2_Shutdown(CLEAR) (so the
 * clock stays "safe"), swtpm_ioctl -i on its control port (TPM_Init), then TPM2_Startup(CLEAR). PCR 0-23 go back to their initial values and
 * clockInfo.resetCount rises by one. Also the tpm2-tools a forger would use, run as they are.
 */
import { spawnSync } from "node:child_process";
import type { Swtpm } from "./tpm.js";

export function tpmTool(tcti: string, tool: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(tool, args, { env: { ...process.env, TPM2TOOLS_TCTI: tcti }, encoding: "utf8", timeout: 20_000, killSignal: "SIGKILL" });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function rebootTpm(tpm: Swtpm): void {
  const sd = tpmTool(tpm.tcti, "tpm2_shutdown", ["-c"]);
  if (sd.status !== 0) throw new Error(`tpm2_shutdown -c failed: ${sd.stderr}`);
  const init = spawnSync("swtpm_ioctl", ["--tcp", `127.0.0.1:${tpm.port + 1}`, "-i"], { encoding: "utf8", timeout: 20_000, killSignal: "SIGKILL" });
  if (init.error || init.status !== 0) throw new Error(`swtpm_ioctl -i failed: ${init.stderr || String(init.error)}`);
  const st = tpmTool(tpm.tcti, "tpm2_startup", ["-c"]);
  if (st.status !== 0) throw new Error(`tpm2_startup -c failed: ${st.stderr}`);
}

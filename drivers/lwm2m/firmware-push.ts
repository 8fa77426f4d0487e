/**
 * Firmware pushes to LwM2M devices through Object 5 (OMA-TS-LightweightM2M-Core §E.6, pull
 * delivery): the artifact is verified, served from memory at a Package URI on the server socket
 * (block-wise, RFC 7959), the URI is written to /5/0/1, State (/5/0/3) is followed to Downloaded
 * (2), Update (/5/0/2) is executed and Update Result (/5/0/5) is followed to Success (1) or a
 * failure code. The bytes served are the bytes verified: a file changed on disk after
 * verification is never served, and an artifact that fails verification is never exposed.
 * The verifier is injected (the runtime builds it from the OTA target check): drivers know
 * nothing of ota/.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { errorCode, errorMessage, fail, ok, type Clock, type ErrorCode, type Result } from "../../core/index.js";

export interface FirmwareArtifact {
  /** local file (from the OTA cache: works while the cloud link is down) */
  file: string;
  /** signed length and sha256 (hex) from the repository's targets metadata */
  length: number;
  sha256: string;
  /** every signed hash of the TUF target (`{ sha256, sha512 }`); all that can be computed must match */
  hashes?: Record<string, string>;
  version?: string;
}

/** Verifies bytes against the artifact's signed description; never throws on hostile bytes. */
export type FirmwareVerifier = (artifact: FirmwareArtifact, bytes: Uint8Array) => Result<void, ErrorCode> | Promise<Result<void, ErrorCode>>;

/** A verifier for tools and tests without OTA metadata: the exact length and the sha256. */
export function verifyLengthAndSha256(artifact: FirmwareArtifact, bytes: Uint8Array): Result<void, ErrorCode> {
  if (bytes.length !== artifact.length) return fail("E_LWM2M_FIRMWARE_VERIFY", `length ${bytes.length}, signed ${artifact.length}`);
  const got = createHash("sha256").update(bytes).digest("hex");
  if (got !== artifact.sha256.toLowerCase()) return fail("E_LWM2M_FIRMWARE_VERIFY", `sha256 ${got}, signed ${artifact.sha256}`);
  return ok(undefined);
}

/** §E.6 Firmware Update State and Update Result values. */
export const FwState = { idle: 0, downloading: 1, downloaded: 2, updating: 3 } as const;
export const UPDATE_RESULT: Record<number, string> = {
  0: "initial",
  1: "success",
  2: "not enough flash",
  3: "out of RAM",
  4: "connection lost",
  5: "integrity check failure",
  6: "unsupported package type",
  7: "invalid URI",
  8: "update failed",
  9: "unsupported protocol",
};

export type PushPhase = "verifying" | "downloading" | "updating" | "succeeded" | "failed";

export interface PushStatus {
  endpoint: string;
  device: string;
  version?: string;
  phase: PushPhase;
  updateResult?: number;
  code?: string;
  reason?: string;
  startedAt: number;
  finishedAt?: number;
}

/** What a push needs from the server: small, so the flow is testable on its own. */
export interface PushPort {
  serve(bytes: Uint8Array): { uri: string; withdraw(): void };
  writeText(path: string, value: string): Promise<void>;
  readInt(path: string): Promise<number>;
  execute(path: string): Promise<void>;
}

export async function runFirmwarePush(
  status: PushStatus,
  artifact: FirmwareArtifact,
  port: PushPort,
  verify: FirmwareVerifier | undefined,
  clock: Clock,
  limits: { timeoutMs: number; pollEveryMs: number },
  onChange: (s: PushStatus) => void,
): Promise<PushStatus> {
  const set = (patch: Partial<PushStatus>) => {
    Object.assign(status, patch);
    onChange(status);
  };
  const failWith = (code: string, reason: string) => {
    set({ phase: "failed", code, reason, finishedAt: clock.now() });
    return status;
  };
  if (!verify) return failWith("E_LWM2M_FIRMWARE_VERIFY", "this driver was built without a firmware verifier: nothing is served unverified");
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(artifact.file));
  } catch (e) {
    return failWith("E_LWM2M_FIRMWARE_READ", `cannot read ${artifact.file}: ${errorMessage(e)}`);
  }
  let verdict: Result<void, ErrorCode>;
  try {
    verdict = await verify(artifact, bytes);
  } catch (e) {
    verdict = fail("E_LWM2M_FIRMWARE_VERIFY", `verifier threw: ${errorMessage(e)}`);
  }
  if (!verdict.ok) return failWith("E_LWM2M_FIRMWARE_VERIFY", `${verdict.code}: ${verdict.reason}`);
  const served = port.serve(bytes);
  const deadline = clock.monotonic() + limits.timeoutMs;
  // Reads during a device reboot fail; keep polling until the deadline.
  const poll = async (path: string, done: (v: number) => boolean): Promise<number | undefined> => {
    for (;;) {
      try {
        const v = await port.readInt(path);
        if (done(v)) return v;
      } catch {
        /* device busy or rebooting */
      }
      if (clock.monotonic() >= deadline) return undefined;
      await clock.sleep(limits.pollEveryMs);
    }
  };
  try {
    set({ phase: "downloading" });
    try {
      await port.writeText("/5/0/1", served.uri);
    } catch (e) {
      return failWith(errorCode(e), `writing Package URI: ${errorMessage(e)}`);
    }
    let result: number | undefined;
    // Downloaded (2) → go on; Idle with a failure Update Result (≥ 2) → the download failed.
    let failed: number | undefined;
    const downloaded = await (async () => {
      for (;;) {
        try {
          const st = await port.readInt("/5/0/3");
          if (st === FwState.downloaded) return true;
          if (st === FwState.idle) {
            const r = await port.readInt("/5/0/5");
            if (r >= 2) {
              failed = r;
              return false;
            }
          }
        } catch {
          /* busy */
        }
        if (clock.monotonic() >= deadline) return false;
        await clock.sleep(limits.pollEveryMs);
      }
    })();
    if (!downloaded) {
      if (failed !== undefined) {
        set({ updateResult: failed });
        return failWith("E_LWM2M_FIRMWARE_DEVICE", `download failed: ${UPDATE_RESULT[failed] ?? `result ${failed}`}`);
      }
      return failWith("E_LWM2M_FIRMWARE_TIMEOUT", "device did not reach Downloaded");
    }
    set({ phase: "updating" });
    try {
      await port.execute("/5/0/2");
    } catch (e) {
      return failWith(errorCode(e), `executing Update: ${errorMessage(e)}`);
    }
    result = await poll("/5/0/5", (v) => v !== 0);
    if (result === undefined) return failWith("E_LWM2M_FIRMWARE_TIMEOUT", "no final Update Result");
    if (result !== 1) {
      set({ updateResult: result });
      return failWith("E_LWM2M_FIRMWARE_DEVICE", `update failed: ${UPDATE_RESULT[result] ?? `result ${result}`}`);
    }
    set({ phase: "succeeded", updateResult: 1, finishedAt: clock.now() });
    return status;
  } finally {
    served.withdraw();
  }
}

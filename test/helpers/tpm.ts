/**
 * swtpm (libtpms TPM 2.0 simulator) on 127.0.0.1 for tests: a random free port pair (the swtpm
 * TCTI talks to PORT and PORT+1 for control), a temporary state directory, stopped by PID.
 */
import { createServer } from "node:net";
import { join } from "node:path";
import { mkdirSync } from "node:fs";
import { startPeer, tempDir, waitTcp } from "../../peers/process.js";
import type { Peer } from "../../peers/process.js";

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

async function freePortPair(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const p = 20_000 + Math.floor(Math.random() * 40_000);
    if ((await portFree(p)) && (await portFree(p + 1))) return p;
  }
  throw new Error("no free TCP port pair on 127.0.0.1");
}

export interface Swtpm {
  tcti: string;
  port: number;
  dir: string;
  peer: Peer;
  stop(): Promise<void>;
}

export async function startSwtpm(maxSeconds = 120): Promise<Swtpm> {
  const tmp = tempDir("ridge-swtpm-");
  const state = join(tmp.dir, "state");
  mkdirSync(state);
  const port = await freePortPair();
  const peer = startPeer(
    "swtpm",
    [
      "socket",
      "--tpm2",
      "--server", `type=tcp,port=${port},bindaddr=127.0.0.1`,
      "--ctrl", `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
      "--tpmstate", `dir=${state}`,
      "--flags", "not-need-init,startup-clear",
    ],
    { maxSeconds },
  );
  try {
    await waitTcp(port, 10_000);
  } catch (e) {
    await peer.stop();
    tmp.cleanup();
    throw new Error(`swtpm did not listen on ${port}: ${peer.output()} (${String(e)})`);
  }
  return {
    tcti: `swtpm:host=127.0.0.1,port=${port}`,
    port,
    dir: tmp.dir,
    peer,
    async stop() {
      await peer.stop();
      tmp.cleanup();
    },
  };
}

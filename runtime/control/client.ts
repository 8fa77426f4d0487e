/** A client for the control API over its Unix socket (`ridge status`, `ridge pipeline reload`, ...). */
import { request } from "node:http";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { RidgeError } from "../../core/index.js";

export interface ControlReply {
  status: number;
  body: unknown;
  text: string;
}

export function socketPathFor(dataDir: string, socket = "ridge.sock"): string {
  return socket.startsWith("/") ? socket : join(dataDir, socket);
}

export function controlRequest(dataDir: string, method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<ControlReply> {
  const socketPath = socketPathFor(dataDir);
  if (!existsSync(socketPath))
    return Promise.reject(new RidgeError("E_CONTROL_NOT_RUNNING", `no gateway control socket at ${socketPath}: is \`ridge run\` running with --data ${dataDir}?`));
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    const req = request({ socketPath, method, path, timeout: timeoutMs, headers: payload ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let parsed: unknown = text;
        if ((res.headers["content-type"] ?? "").includes("json")) {
          try {
            parsed = JSON.parse(text);
          } catch {
            /* keep text */
          }
        }
        resolve({ status: res.statusCode ?? 0, body: parsed, text });
      });
    });
    req.on("timeout", () => req.destroy(new RidgeError("E_CONTROL_TIMEOUT", `control API did not answer ${method} ${path} within ${timeoutMs} ms`)));
    req.on("error", (e) => reject(e instanceof RidgeError ? e : new RidgeError("E_CONTROL_UNREACHABLE", `cannot reach the gateway at ${socketPath}: ${e.message}`, { cause: e })));
    req.end(payload);
  });
}

/** The reason in an error reply (`{error: {code, message}}`), else its text. */
export function replyMessage(r: ControlReply): string {
  const e = (r.body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  return e && typeof e.message === "string" ? `${typeof e.code === "string" ? `${e.code}: ` : ""}${e.message}` : r.text;
}

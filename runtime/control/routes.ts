/**
 * Control API routing. Components add their endpoints at construction (`routes.add`); the server
 * (Unix socket, optional loopback TCP with a bearer token) dispatches to them.
 */
import type { IncomingHttpHeaders } from "node:http";
import { RidgeError } from "../../core/index.js";

export interface ControlRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The request body (bounded by the server's limit). */
  body(): Promise<Buffer>;
  /** The body parsed as JSON; a RidgeError E_API_BAD_JSON (400) when it is not. */
  json(): Promise<unknown>;
}

export interface ControlResponse {
  status?: number;
  /** Objects are sent as JSON; strings as text/plain unless `contentType` says otherwise. */
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
}

export type Handler = (req: ControlRequest) => ControlResponse | Promise<ControlResponse>;

export class Routes {
  private readonly table = new Map<string, Handler>();

  add(method: "GET" | "POST" | "PUT" | "DELETE", path: string, handler: Handler): void {
    const key = `${method} ${path}`;
    if (this.table.has(key)) throw new RidgeError("E_API_ROUTE_TAKEN", `control API route ${key} is registered twice`);
    this.table.set(key, handler);
  }

  match(method: string, path: string): Handler | undefined {
    return this.table.get(`${method} ${path}`);
  }

  paths(): string[] {
    return [...this.table.keys()].sort();
  }
}

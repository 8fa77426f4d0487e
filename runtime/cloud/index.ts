// Placeholder until the offline-first issue lands: a plain durable table as the `uplink` sink.
import type { Component } from "../component.js";
import type { Services } from "../services.js";

export async function createUplinkComponent(s: Services): Promise<Component> {
  s.db.exec("CREATE TABLE IF NOT EXISTS uplink_stub (id TEXT PRIMARY KEY, body TEXT NOT NULL)");
  const insert = s.db.prepare("INSERT OR IGNORE INTO uplink_stub (id, body) VALUES (?, ?)");
  const appendAll = s.db.transaction((batch: { id: string }[]) => {
    for (const e of batch) insert.run(e.id, JSON.stringify(e));
  });
  const depth = () => (s.db.prepare("SELECT count(*) AS n FROM uplink_stub").get() as { n: number }).n;
  s.sinks.set("uplink", { accept: async (batch) => appendAll(batch) });
  return {
    name: "uplink",
    async start() {},
    async stop() {},
    health: () => ({ up: true }),
    status: () => ({ depth: depth(), link: "offline" }),
  };
}

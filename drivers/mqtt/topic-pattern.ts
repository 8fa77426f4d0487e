/**
 * Topic patterns from config (`devices/{device}/telemetry`): match a concrete topic and capture
 * the device id, build a concrete topic for a device, and turn a pattern into an MQTT filter.
 * MQTT 3.1.1 §4.7: '/' separates levels, '+' matches one level, '#' the rest (last level only).
 */
export class TopicPattern {
  private readonly levels: string[];
  readonly source: string;
  constructor(pattern: string) {
    this.source = pattern;
    this.levels = pattern.split("/");
  }

  /** The device id captured by `{device}`, or undefined when the topic does not match. */
  match(topic: string): string | undefined {
    const parts = topic.split("/");
    let device: string | undefined;
    for (let i = 0; i < this.levels.length; i++) {
      const l = this.levels[i]!;
      if (l === "#") return device;
      const p = parts[i];
      if (p === undefined) return undefined;
      if (l === "{device}") {
        if (p === "") return undefined;
        device = p;
      } else if (l !== "+" && l !== p) return undefined;
    }
    return parts.length === this.levels.length ? device : undefined;
  }

  /** The MQTT filter for one device (or for all devices: `{device}` → `+`). */
  filter(device?: string): string {
    return this.levels.map((l) => (l === "{device}" ? (device ?? "+") : l)).join("/");
  }
}

/** Does the MQTT topic filter `filter` match the concrete topic `topic` (MQTT 3.1.1 §4.7)? */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  // §4.7.2: topics starting with '$' are not matched by filters starting with a wildcard
  if (topic.startsWith("$") && (f[0] === "+" || f[0] === "#")) return false;
  for (let i = 0; i < f.length; i++) {
    const l = f[i]!;
    if (l === "#") return true;
    if (i >= t.length) return false;
    if (l !== "+" && l !== t[i]) return false;
  }
  return f.length === t.length;
}

/** Is every topic matched by `inner` also matched by `outer`? (Used to check SUBSCRIBE filters against the ACL.) */
export function filterCovers(outer: string, inner: string): boolean {
  const o = outer.split("/");
  const n = inner.split("/");
  for (let i = 0; i < o.length; i++) {
    const l = o[i]!;
    if (l === "#") return true;
    const m = n[i];
    if (m === undefined || m === "#") return false;
    if (l === "+") continue;
    if (m === "+" || m !== l) return false;
  }
  return o.length === n.length;
}

/** Substitute `{device}` (and `{point}`, when given) in a topic template. */
export function fillTopic(template: string, device: string, point?: string): string {
  return template.split("/").map((l) => (l === "{device}" ? device : l === "{point}" ? (point ?? "") : l)).filter((l, i, a) => !(l === "" && i === a.length - 1 && template.endsWith("{point}"))).join("/");
}

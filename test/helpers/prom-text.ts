/**
 * A strict reader of the Prometheus text exposition format (0.0.4): `# HELP`, `# TYPE`, samples
 * with labels (escapes \\ \" \n), values and optional timestamps. It throws on any line it does not
 * understand, so a malformed `/metrics` fails the test that reads it.
 */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromFamily {
  name: string;
  type: string;
  help: string;
  samples: PromSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseLabels(text: string, line: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf("=", i);
    if (eq < 0) throw new Error(`labels: no '=' in ${line}`);
    const key = text.slice(i, eq).trim();
    if (!LABEL.test(key)) throw new Error(`label name "${key}" in ${line}`);
    if (key in out) throw new Error(`label "${key}" twice in ${line}`);
    if (text[eq + 1] !== '"') throw new Error(`label value not quoted in ${line}`);
    let v = "";
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === "\\") {
        const n = text[++j];
        v += n === "n" ? "\n" : n === "\\" ? "\\" : n === '"' ? '"' : (() => { throw new Error(`bad escape in ${line}`); })();
      } else v += text[j];
    }
    if (text[j] !== '"') throw new Error(`unterminated label value in ${line}`);
    out[key] = v;
    i = j + 1;
    if (text[i] === ",") i++;
    else if (i < text.length) throw new Error(`junk after label in ${line}`);
  }
  return out;
}

export function parsePromText(text: string): Map<string, PromFamily> {
  const fams = new Map<string, PromFamily>();
  const family = (name: string) => {
    let f = fams.get(name);
    if (!f) fams.set(name, (f = { name, type: "untyped", help: "", samples: [] }));
    return f;
  };
  const owner = (sample: string): PromFamily => {
    if (fams.has(sample)) return fams.get(sample)!;
    for (const suffix of ["_bucket", "_sum", "_count", "_total"]) {
      if (sample.endsWith(suffix) && fams.has(sample.slice(0, -suffix.length))) return fams.get(sample.slice(0, -suffix.length))!;
    }
    return family(sample);
  };
  for (const line of text.split("\n")) {
    if (line === "") continue;
    let m = /^# HELP (\S+) (.*)$/.exec(line);
    if (m) {
      if (!NAME.test(m[1]!)) throw new Error(`metric name ${m[1]}`);
      family(m[1]!).help = m[2]!;
      continue;
    }
    m = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (m) {
      family(m[1]!).type = m[2]!;
      continue;
    }
    if (line.startsWith("#")) continue;
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const value = m[4] === "+Inf" ? Infinity : m[4] === "-Inf" ? -Infinity : m[4] === "NaN" ? NaN : Number(m[4]);
    if (Number.isNaN(value) && m[4] !== "NaN") throw new Error(`value in ${line}`);
    owner(m[1]!).samples.push({ name: m[1]!, labels: m[3] ? parseLabels(m[3], line) : {}, value });
  }
  return fams;
}

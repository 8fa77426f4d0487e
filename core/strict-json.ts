/**
 * A strict JSON reader (RFC 8259) over UTF-8 bytes, for documents whose meaning must not depend
 * on which parser read them (signed metadata). Where JSON.parse is lenient it refuses, naming the
 * byte offset: a key repeated in one object (RFC 8259 §4 leaves "last wins" to the parser, so two
 * readers can see two documents under one signature), nesting deeper than a limit (JSON.parse
 * has none; a deep document exhausts the stack of whoever walks it next), and, when asked, a
 * number not written as a plain safe integer (`1.0`, `1e0`, `-0`, `9007199254740993`: TUF's
 * canonical JSON has integers only, and they must mean the value they spell). Everything it
 * accepts it reads as JSON.parse does. The caller chooses the error codes, so each reader of
 * hostile input keeps its own.
 */
import type { ErrorCode } from "./errors/index.js";
import { fail, ok, type Result } from "./result.js";
import type { JsonValue } from "./canonical-json.js";

export interface StrictJsonCodes<C extends ErrorCode> {
  /** Not JSON: a bad token, unterminated string, bad escape, invalid UTF-8, trailing data. */
  syntax: C;
  duplicateKey: C;
  depth: C;
  /** A number not written as a plain safe integer (only with `numbers: "integers"`). */
  number: C;
}

export interface StrictJsonOptions<C extends ErrorCode> {
  codes: StrictJsonCodes<C>;
  /** Containers (objects and arrays) nested at most this deep; default 32. */
  maxDepth?: number;
  /** "any" (default): every JSON number; "integers": only plain integers within ±(2^53 − 1). */
  numbers?: "any" | "integers";
}

export const DEFAULT_MAX_JSON_DEPTH = 32;

/** A refusal, thrown inside the reader and turned into a Failure at its edge. */
class Refusal {
  constructor(
    readonly kind: keyof StrictJsonCodes<ErrorCode>,
    readonly reason: string,
    readonly offset: number,
  ) {}
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const PLAIN_INTEGER = /^-?(0|[1-9][0-9]*)$/;
/** RFC 8259 §7: the two-character escapes. */
const SIMPLE_ESCAPES: Record<number, string> = { 0x22: '"', 0x5c: "\\", 0x2f: "/", 0x62: "\b", 0x66: "\f", 0x6e: "\n", 0x72: "\r", 0x74: "\t" };

function where(path: (string | number)[]): string {
  if (path.length === 0) return "the top level";
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i ? "." : ""}${p}`)).join("");
}

class Reader {
  private pos = 0;
  private readonly path: (string | number)[] = [];
  constructor(
    private readonly b: Uint8Array,
    private readonly maxDepth: number,
    private readonly integersOnly: boolean,
  ) {}

  private refuse(kind: Refusal["kind"], reason: string, at = this.pos): never {
    throw new Refusal(kind, reason, at);
  }

  private ws(): void {
    const b = this.b;
    while (this.pos < b.length) {
      const c = b[this.pos]!;
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
      this.pos++;
    }
  }

  private unexpected(): never {
    if (this.pos >= this.b.length) this.refuse("syntax", "ends early");
    this.refuse("syntax", `unexpected character ${JSON.stringify(String.fromCharCode(this.b[this.pos]!))}`);
  }

  document(): JsonValue {
    this.ws();
    const v = this.value(0);
    this.ws();
    if (this.pos !== this.b.length) this.refuse("syntax", "data after the end of the document");
    return v;
  }

  private value(depth: number): JsonValue {
    const c = this.b[this.pos];
    switch (c) {
      case 0x7b: // {
        return this.object(depth + 1);
      case 0x5b: // [
        return this.array(depth + 1);
      case 0x22: // "
        return this.string();
      case 0x74: // t
        return this.literal("true", true);
      case 0x66: // f
        return this.literal("false", false);
      case 0x6e: // n
        return this.literal("null", null);
      default:
        if (c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39)) return this.number();
        return this.unexpected();
    }
  }

  private literal<T extends JsonValue>(word: string, v: T): T {
    for (let i = 0; i < word.length; i++) if (this.b[this.pos + i] !== word.charCodeAt(i)) this.refuse("syntax", `expected ${word}`);
    this.pos += word.length;
    return v;
  }

  private enter(depth: number): void {
    if (depth > this.maxDepth) this.refuse("depth", `nests deeper than ${this.maxDepth} at ${where(this.path)}`);
  }

  private object(depth: number): Record<string, JsonValue> {
    this.enter(depth);
    this.pos++;
    const o: Record<string, JsonValue> = {};
    const seen = new Set<string>();
    this.ws();
    if (this.b[this.pos] === 0x7d) {
      this.pos++;
      return o;
    }
    for (;;) {
      if (this.b[this.pos] !== 0x22) this.unexpected();
      const at = this.pos;
      const k = this.string();
      if (seen.has(k)) this.refuse("duplicateKey", `key ${JSON.stringify(k)} appears twice in ${where(this.path)}`, at);
      seen.add(k);
      this.ws();
      if (this.b[this.pos] !== 0x3a) this.unexpected();
      this.pos++;
      this.ws();
      this.path.push(k);
      const v = this.value(depth);
      this.path.pop();
      // JSON.parse makes "__proto__" an own property; plain assignment would set the prototype.
      if (k === "__proto__") Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
      else o[k] = v;
      this.ws();
      const c = this.b[this.pos];
      if (c === 0x2c) {
        this.pos++;
        this.ws();
        continue;
      }
      if (c === 0x7d) {
        this.pos++;
        return o;
      }
      this.unexpected();
    }
  }

  private array(depth: number): JsonValue[] {
    this.enter(depth);
    this.pos++;
    const a: JsonValue[] = [];
    this.ws();
    if (this.b[this.pos] === 0x5d) {
      this.pos++;
      return a;
    }
    for (;;) {
      this.path.push(a.length);
      a.push(this.value(depth));
      this.path.pop();
      this.ws();
      const c = this.b[this.pos];
      if (c === 0x2c) {
        this.pos++;
        this.ws();
        continue;
      }
      if (c === 0x5d) {
        this.pos++;
        return a;
      }
      this.unexpected();
    }
  }

  private string(): string {
    const b = this.b;
    const start = ++this.pos;
    // Fast path: no escapes.
    let i = start;
    let ascii = true;
    while (i < b.length) {
      const c = b[i]!;
      if (c === 0x22 || c === 0x5c) break;
      if (c < 0x20) this.refuse("syntax", "a control character inside a string", i);
      if (c >= 0x80) ascii = false;
      i++;
    }
    if (i >= b.length) this.refuse("syntax", "a string that never ends", start - 1);
    if (b[i] === 0x22) {
      this.pos = i + 1;
      return ascii && i - start < 256 ? String.fromCharCode(...b.subarray(start, i)) : utf8.decode(b.subarray(start, i));
    }
    // With escapes: decode the raw runs between them.
    let out = utf8.decode(b.subarray(start, i));
    this.pos = i;
    for (;;) {
      const c = b[this.pos];
      if (c === undefined) this.refuse("syntax", "a string that never ends", start - 1);
      if (c === 0x22) {
        this.pos++;
        return out;
      }
      if (c === 0x5c) {
        const e = b[this.pos + 1];
        const simple = e === undefined ? undefined : SIMPLE_ESCAPES[e];
        if (simple !== undefined) {
          out += simple;
          this.pos += 2;
        } else if (e === 0x75) {
          let code = 0;
          for (let j = 2; j < 6; j++) {
            const h = b[this.pos + j];
            const d = h === undefined ? -1 : h >= 0x30 && h <= 0x39 ? h - 0x30 : h >= 0x61 && h <= 0x66 ? h - 0x57 : h >= 0x41 && h <= 0x46 ? h - 0x37 : -1;
            if (d < 0) this.refuse("syntax", "a \\u escape without four hex digits");
            code = code * 16 + d;
          }
          out += String.fromCharCode(code);
          this.pos += 6;
        } else this.refuse("syntax", "an unknown escape in a string");
        continue;
      }
      let j = this.pos;
      while (j < b.length && b[j] !== 0x22 && b[j] !== 0x5c) {
        if (b[j]! < 0x20) this.refuse("syntax", "a control character inside a string", j);
        j++;
      }
      out += utf8.decode(b.subarray(this.pos, j));
      this.pos = j;
    }
  }

  private number(): number {
    const b = this.b;
    const start = this.pos;
    const digits = (): number => {
      const s = this.pos;
      while (this.pos < b.length && b[this.pos]! >= 0x30 && b[this.pos]! <= 0x39) this.pos++;
      return this.pos - s;
    };
    if (b[this.pos] === 0x2d) this.pos++;
    if (b[this.pos] === 0x30) this.pos++;
    else if (digits() === 0) this.refuse("syntax", "a number without digits", start);
    if (b[this.pos] === 0x2e) {
      this.pos++;
      if (digits() === 0) this.refuse("syntax", "a number with no digits after '.'", start);
    }
    if (b[this.pos] === 0x65 || b[this.pos] === 0x45) {
      this.pos++;
      if (b[this.pos] === 0x2b || b[this.pos] === 0x2d) this.pos++;
      if (digits() === 0) this.refuse("syntax", "a number with no digits in its exponent", start);
    }
    const text = utf8.decode(b.subarray(start, this.pos));
    const v = Number(text);
    if (this.integersOnly && (!PLAIN_INTEGER.test(text) || text === "-0" || !Number.isSafeInteger(v)))
      this.refuse("number", `${where(this.path)} is ${text.length > 40 ? `${text.slice(0, 40)}…` : text}, not a plain integer between -(2^53-1) and 2^53-1`, start);
    return v;
  }
}

/**
 * Read one JSON document from bytes (or a string, read as its UTF-8). Never throws on any input;
 * a failure carries the caller's code for its kind and the byte offset where it was found.
 */
export function parseStrictJson<C extends ErrorCode>(input: Uint8Array | string, options: StrictJsonOptions<C>): Result<JsonValue, C> {
  const bytes = typeof input === "string" ? new TextEncoder().encode(input) : input;
  try {
    utf8.decode(bytes);
  } catch {
    return fail(options.codes.syntax, "not valid UTF-8", 0);
  }
  try {
    return ok(new Reader(bytes, options.maxDepth ?? DEFAULT_MAX_JSON_DEPTH, options.numbers === "integers").document());
  } catch (e) {
    if (!(e instanceof Refusal)) throw e;
    return fail(options.codes[e.kind], `${e.reason} (byte ${e.offset})`, e.offset);
  }
}

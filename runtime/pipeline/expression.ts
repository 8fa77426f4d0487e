/**
 * The pipeline's expression language, compiled once into closures: no `eval`, no `Function`, no
 * access to globals or prototypes (member access reads own properties only).
 *
 *   payload.altitude >= 500 and payload.altitude <= 4500
 *   payload.temp_c * 9 / 5 + 32
 *   kind in ["alarm", "state"] or not exists(payload.ok)
 *
 * Roots: `id`, `ts`, `device`, `kind`, `payload`, `meta`. Missing fields read as null; arithmetic on
 * anything but numbers yields null; ordering comparisons of mixed types are false. Every error
 * carries the 1-based column in the expression text.
 */
import { RidgeError, type ErrorCode, type Event } from "../../core/index.js";

export type Value = unknown;
export type Compiled = (e: Event) => Value;
export type StaticType = "number" | "string" | "bool" | "null" | "list" | "object" | "any";

/** A pipeline expression that does not compile: a config fault at a column of the expression. */
export class ExpressionError extends RidgeError {
  constructor(
    message: string,
    readonly column: number,
    code: Extract<ErrorCode, `E_EXPR_${string}`>,
  ) {
    super(code, message, { detail: { column } });
  }
}

// ---------------------------------------------------------------- lexer

type TokKind = "num" | "str" | "ident" | "op" | "eof";
interface Token {
  kind: TokKind;
  text: string;
  value?: number | string;
  col: number;
}

const OPS = ["==", "!=", "<=", ">=", "&&", "||", "<", ">", "+", "-", "*", "/", "%", "(", ")", "[", "]", ",", ".", "!"];

function lex(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      i++;
      continue;
    }
    const col = i + 1;
    if ((c >= "0" && c <= "9") || (c === "." && /[0-9]/.test(src[i + 1] ?? ""))) {
      const m = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(src.slice(i))!;
      out.push({ kind: "num", text: m[0], value: Number(m[0]), col });
      i += m[0].length;
      if (/[A-Za-z_]/.test(src[i] ?? "")) throw new ExpressionError(`unexpected "${src[i]}" after number`, i + 1, "E_EXPR_SYNTAX");
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      let s = "";
      for (;;) {
        if (j >= src.length) throw new ExpressionError("unterminated string", col, "E_EXPR_SYNTAX");
        const d = src[j]!;
        if (d === c) break;
        if (d === "\\") {
          const n = src[j + 1];
          if (n === undefined) throw new ExpressionError("unterminated string", col, "E_EXPR_SYNTAX");
          s += n === "n" ? "\n" : n === "t" ? "\t" : n;
          j += 2;
          continue;
        }
        s += d;
        j++;
      }
      out.push({ kind: "str", text: src.slice(i, j + 1), value: s, col });
      i = j + 1;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))!;
      out.push({ kind: "ident", text: m[0], col });
      i += m[0].length;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (!op) throw new ExpressionError(`unexpected character "${c}"`, col, "E_EXPR_SYNTAX");
    out.push({ kind: "op", text: op, col });
    i += op.length;
  }
  out.push({ kind: "eof", text: "end of expression", col: src.length + 1 });
  return out;
}

// ---------------------------------------------------------------- AST

export type Node =
  | { t: "lit"; v: number | string | boolean | null; col: number }
  | { t: "list"; items: Node[]; col: number }
  | { t: "root"; name: Root; col: number }
  | { t: "member"; obj: Node; key: Node; col: number }
  | { t: "unary"; op: "not" | "neg"; arg: Node; col: number }
  | { t: "bin"; op: BinOp; l: Node; r: Node; col: number }
  | { t: "call"; fn: string; args: Node[]; col: number };

type Root = "id" | "ts" | "device" | "kind" | "payload" | "meta";
type BinOp = "or" | "and" | "==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "+" | "-" | "*" | "/" | "%";
const ROOTS: Record<Root, StaticType> = { id: "string", ts: "number", device: "string", kind: "string", payload: "object", meta: "object" };

class Parser {
  private i = 0;
  constructor(private readonly toks: Token[]) {}
  private peek(): Token {
    return this.toks[this.i]!;
  }
  private next(): Token {
    return this.toks[this.i++]!;
  }
  private isOp(text: string): boolean {
    const t = this.peek();
    return t.kind === "op" && t.text === text;
  }
  private isWord(text: string): boolean {
    const t = this.peek();
    return t.kind === "ident" && t.text === text;
  }
  private expect(text: string): Token {
    const t = this.peek();
    if (t.kind !== "op" || t.text !== text) throw new ExpressionError(`expected "${text}", got ${describeTok(t)}`, t.col, "E_EXPR_SYNTAX");
    return this.next();
  }

  parseAll(): Node {
    const n = this.or();
    const t = this.peek();
    if (t.kind !== "eof") throw new ExpressionError(`unexpected ${describeTok(t)}`, t.col, "E_EXPR_SYNTAX");
    return n;
  }
  private or(): Node {
    let l = this.and();
    while (this.isWord("or") || this.isOp("||")) {
      const t = this.next();
      l = { t: "bin", op: "or", l, r: this.and(), col: t.col };
    }
    return l;
  }
  private and(): Node {
    let l = this.not();
    while (this.isWord("and") || this.isOp("&&")) {
      const t = this.next();
      l = { t: "bin", op: "and", l, r: this.not(), col: t.col };
    }
    return l;
  }
  private not(): Node {
    if (this.isWord("not") || this.isOp("!")) {
      const t = this.next();
      return { t: "unary", op: "not", arg: this.not(), col: t.col };
    }
    return this.cmp();
  }
  private cmp(): Node {
    const l = this.add();
    const t = this.peek();
    if ((t.kind === "op" && ["==", "!=", "<", "<=", ">", ">="].includes(t.text)) || (t.kind === "ident" && t.text === "in")) {
      this.next();
      const r = this.add();
      const n: Node = { t: "bin", op: t.text as BinOp, l, r, col: t.col };
      const u = this.peek();
      if (u.kind === "op" && ["==", "!=", "<", "<=", ">", ">="].includes(u.text))
        throw new ExpressionError(`comparisons do not chain: use "and" between them`, u.col, "E_EXPR_SYNTAX");
      return n;
    }
    return l;
  }
  private add(): Node {
    let l = this.mul();
    while (this.isOp("+") || this.isOp("-")) {
      const t = this.next();
      l = { t: "bin", op: t.text as BinOp, l, r: this.mul(), col: t.col };
    }
    return l;
  }
  private mul(): Node {
    let l = this.unary();
    while (this.isOp("*") || this.isOp("/") || this.isOp("%")) {
      const t = this.next();
      l = { t: "bin", op: t.text as BinOp, l, r: this.unary(), col: t.col };
    }
    return l;
  }
  private unary(): Node {
    if (this.isOp("-")) {
      const t = this.next();
      return { t: "unary", op: "neg", arg: this.unary(), col: t.col };
    }
    return this.postfix();
  }
  private postfix(): Node {
    let n = this.primary();
    for (;;) {
      if (this.isOp(".")) {
        const dot = this.next();
        const k = this.next();
        if (k.kind !== "ident") throw new ExpressionError(`expected a field name after ".", got ${describeTok(k)}`, k.col, "E_EXPR_SYNTAX");
        n = { t: "member", obj: n, key: { t: "lit", v: k.text, col: k.col }, col: dot.col };
      } else if (this.isOp("[")) {
        const b = this.next();
        const key = this.or();
        this.expect("]");
        n = { t: "member", obj: n, key, col: b.col };
      } else return n;
    }
  }
  private primary(): Node {
    const t = this.next();
    switch (t.kind) {
      case "num":
        return { t: "lit", v: t.value as number, col: t.col };
      case "str":
        return { t: "lit", v: t.value as string, col: t.col };
      case "ident": {
        if (t.text === "true" || t.text === "false") return { t: "lit", v: t.text === "true", col: t.col };
        if (t.text === "null") return { t: "lit", v: null, col: t.col };
        if (this.isOp("(")) {
          this.next();
          const args: Node[] = [];
          if (!this.isOp(")")) {
            do args.push(this.or());
            while (this.isOp(",") && this.next());
          }
          this.expect(")");
          return { t: "call", fn: t.text, args, col: t.col };
        }
        if (t.text in ROOTS) return { t: "root", name: t.text as Root, col: t.col };
        if (["and", "or", "not", "in"].includes(t.text)) throw new ExpressionError(`unexpected "${t.text}"`, t.col, "E_EXPR_SYNTAX");
        throw new ExpressionError(`unknown name "${t.text}": fields are read as payload.${t.text} (roots: ${Object.keys(ROOTS).join(", ")})`, t.col, "E_EXPR_UNKNOWN_NAME");
      }
      case "op":
        if (t.text === "(") {
          const n = this.or();
          this.expect(")");
          return n;
        }
        if (t.text === "[") {
          const items: Node[] = [];
          if (!this.isOp("]")) {
            do items.push(this.or());
            while (this.isOp(",") && this.next());
          }
          this.expect("]");
          return { t: "list", items, col: t.col };
        }
        throw new ExpressionError(`unexpected ${describeTok(t)}`, t.col, "E_EXPR_SYNTAX");
      case "eof":
        throw new ExpressionError("unexpected end of expression", t.col, "E_EXPR_SYNTAX");
    }
  }
}

function describeTok(t: Token): string {
  return t.kind === "eof" ? "end of expression" : `"${t.text}"`;
}

export function parseExpression(src: string): Node {
  if (src.trim() === "") throw new ExpressionError("empty expression", 1, "E_EXPR_SYNTAX");
  return new Parser(lex(src)).parseAll();
}

// ---------------------------------------------------------------- functions

interface FnSpec {
  args: StaticType[];
  /** Extra optional trailing args of the last type. */
  variadic?: boolean;
  min?: number;
  ret: StaticType;
  impl: (...a: Value[]) => Value;
}

const num = (v: Value): v is number => typeof v === "number" && Number.isFinite(v);
const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);

const FUNCTIONS: Record<string, FnSpec> = {
  abs: { args: ["number"], ret: "number", impl: (a) => (num(a) ? Math.abs(a) : null) },
  floor: { args: ["number"], ret: "number", impl: (a) => (num(a) ? Math.floor(a) : null) },
  ceil: { args: ["number"], ret: "number", impl: (a) => (num(a) ? Math.ceil(a) : null) },
  sqrt: { args: ["number"], ret: "number", impl: (a) => (num(a) && a >= 0 ? Math.sqrt(a) : null) },
  round: {
    args: ["number", "number"],
    min: 1,
    ret: "number",
    impl: (a, d) => {
      if (!num(a)) return null;
      const f = num(d) ? 10 ** Math.trunc(d) : 1;
      return Math.round(a * f) / f;
    },
  },
  min: { args: ["number"], variadic: true, ret: "number", impl: (...a) => (a.every(num) ? Math.min(...(a as number[])) : null) },
  max: { args: ["number"], variadic: true, ret: "number", impl: (...a) => (a.every(num) ? Math.max(...(a as number[])) : null) },
  exists: { args: ["any"], ret: "bool", impl: (a) => a !== undefined && a !== null },
  coalesce: { args: ["any"], variadic: true, ret: "any", impl: (...a) => a.find((x) => x !== undefined && x !== null) ?? null },
  if: { args: ["bool", "any", "any"], ret: "any", impl: (c, a, b) => (truthy(c) ? a : b) },
  len: { args: ["any"], ret: "number", impl: (a) => (typeof a === "string" || Array.isArray(a) ? a.length : null) },
  lower: { args: ["string"], ret: "string", impl: (a) => (typeof a === "string" ? a.toLowerCase() : null) },
  upper: { args: ["string"], ret: "string", impl: (a) => (typeof a === "string" ? a.toUpperCase() : null) },
  contains: { args: ["any", "any"], ret: "bool", impl: (a, b) => (typeof a === "string" && typeof b === "string" ? a.includes(b) : Array.isArray(a) ? a.includes(b) : false) },
  startsWith: { args: ["string", "string"], ret: "bool", impl: (a, b) => typeof a === "string" && typeof b === "string" && a.startsWith(b) },
  endsWith: { args: ["string", "string"], ret: "bool", impl: (a, b) => typeof a === "string" && typeof b === "string" && a.endsWith(b) },
  number: {
    args: ["any"],
    ret: "number",
    impl: (a) => {
      if (typeof a === "number") return finite(a);
      if (typeof a === "boolean") return a ? 1 : 0;
      if (typeof a === "string" && a.trim() !== "") return finite(Number(a));
      return null;
    },
  },
  string: { args: ["any"], ret: "string", impl: (a) => (a === undefined || a === null ? null : typeof a === "object" ? JSON.stringify(a) : String(a)) },
};

export const functionNames = Object.keys(FUNCTIONS);

// ---------------------------------------------------------------- type check

function compatible(want: StaticType, got: StaticType): boolean {
  return want === "any" || got === "any" || got === want || got === "null";
}

export function typeOf(n: Node): StaticType {
  switch (n.t) {
    case "lit":
      return n.v === null ? "null" : typeof n.v === "number" ? "number" : typeof n.v === "string" ? "string" : "bool";
    case "list":
      n.items.forEach(typeOf);
      return "list";
    case "root":
      return ROOTS[n.name];
    case "member": {
      const o = typeOf(n.obj);
      const k = typeOf(n.key);
      if (o !== "object" && o !== "any" && o !== "list") throw new ExpressionError(`cannot read a field of a ${o}`, n.col, "E_EXPR_TYPE");
      if (k !== "string" && k !== "number" && k !== "any") throw new ExpressionError(`a field name must be a string or number, got ${k}`, n.key.col, "E_EXPR_TYPE");
      return "any";
    }
    case "unary": {
      const a = typeOf(n.arg);
      if (n.op === "neg") {
        if (!compatible("number", a)) throw new ExpressionError(`"-" needs a number, got ${a}`, n.arg.col, "E_EXPR_TYPE");
        return "number";
      }
      return "bool";
    }
    case "bin": {
      const l = typeOf(n.l);
      const r = typeOf(n.r);
      switch (n.op) {
        case "and":
        case "or":
        case "==":
        case "!=":
          return "bool";
        case "in":
          if (r !== "list" && r !== "any" && r !== "string") throw new ExpressionError(`"in" needs a list on its right, got ${r}`, n.r.col, "E_EXPR_TYPE");
          return "bool";
        case "<":
        case "<=":
        case ">":
        case ">=":
          for (const [side, ty] of [[n.l, l], [n.r, r]] as const)
            if (ty !== "number" && ty !== "string" && ty !== "any") throw new ExpressionError(`"${n.op}" compares numbers or strings, got ${ty}`, side.col, "E_EXPR_TYPE");
          if (l !== "any" && r !== "any" && l !== r) throw new ExpressionError(`"${n.op}" between a ${l} and a ${r} is always false`, n.col, "E_EXPR_TYPE");
          return "bool";
        default:
          if (n.op === "+" && (l === "string" || r === "string")) {
            if (!compatible("string", l) || !compatible("string", r)) throw new ExpressionError(`"+" joins two strings or adds two numbers, got ${l} and ${r}`, n.col, "E_EXPR_TYPE");
            return "string";
          }
          for (const [side, ty] of [[n.l, l], [n.r, r]] as const)
            if (!compatible("number", ty) || ty === "null") throw new ExpressionError(`"${n.op}" needs numbers, got ${ty}`, side.col, "E_EXPR_TYPE");
          return n.op === "+" && (l === "any" || r === "any") ? "any" : "number";
      }
    }
    case "call": {
      const spec = FUNCTIONS[n.fn];
      if (!spec) throw new ExpressionError(`unknown function "${n.fn}" (known: ${functionNames.join(", ")})`, n.col, "E_EXPR_UNKNOWN_FUNCTION");
      const min = spec.min ?? spec.args.length;
      const max = spec.variadic ? Infinity : spec.args.length;
      if (n.args.length < min || n.args.length > max)
        throw new ExpressionError(`${n.fn}() takes ${min === max ? min : spec.variadic ? `at least ${min}` : `${min} to ${max}`} argument(s), got ${n.args.length}`, n.col, "E_EXPR_ARITY");
      n.args.forEach((a, i) => {
        const want = spec.args[Math.min(i, spec.args.length - 1)]!;
        const got = typeOf(a);
        if (!compatible(want, got)) throw new ExpressionError(`${n.fn}() argument ${i + 1} must be a ${want}, got ${got}`, a.col, "E_EXPR_TYPE");
      });
      return spec.ret;
    }
  }
}

// ---------------------------------------------------------------- compile

export function truthy(v: Value): boolean {
  return v !== undefined && v !== null && v !== false && v !== 0 && v !== "" && !(typeof v === "number" && Number.isNaN(v));
}

function field(o: Value, k: Value): Value {
  if (o === null || typeof o !== "object") return undefined;
  const key = typeof k === "number" ? k : typeof k === "string" ? k : undefined;
  if (key === undefined) return undefined;
  // own properties only: no prototype, constructor or __proto__ reachable from user text
  return Object.prototype.hasOwnProperty.call(o, key) ? (o as Record<string | number, Value>)[key] : undefined;
}

function eq(a: Value, b: Value): boolean {
  if ((a === undefined || a === null) && (b === undefined || b === null)) return true;
  return a === b;
}

/**
 * `<expr> <op> <number literal>` (`payload.altitude >= 500`, `payload.temp_c * 9`): the same
 * result as the general closure with one call fewer per evaluation. Undefined for other operators
 * and for a division by a literal 0 (the general closure yields null).
 */
function withNumber(op: string, l: Compiled, c: number): Compiled | undefined {
  switch (op) {
    case "<":
      return (e) => {
        const a = l(e);
        return typeof a === "number" ? a < c : false;
      };
    case "<=":
      return (e) => {
        const a = l(e);
        return typeof a === "number" ? a <= c : false;
      };
    case ">":
      return (e) => {
        const a = l(e);
        return typeof a === "number" ? a > c : false;
      };
    case ">=":
      return (e) => {
        const a = l(e);
        return typeof a === "number" ? a >= c : false;
      };
    case "+":
      return (e) => {
        const a = l(e);
        return typeof a === "number" ? finite(a + c) : null;
      };
    case "-":
      return (e) => {
        const a = l(e);
        return typeof a === "number" ? finite(a - c) : null;
      };
    case "*":
      return (e) => {
        const a = l(e);
        return typeof a === "number" ? finite(a * c) : null;
      };
    case "/":
      if (c === 0) return undefined;
      return (e) => {
        const a = l(e);
        return typeof a === "number" ? finite(a / c) : null;
      };
    case "%":
      if (c === 0) return undefined;
      return (e) => {
        const a = l(e);
        return typeof a === "number" ? finite(a % c) : null;
      };
  }
  return undefined;
}

function compileNode(n: Node): Compiled {
  switch (n.t) {
    case "lit": {
      const v = n.v;
      return () => v;
    }
    case "list": {
      const items = n.items.map(compileNode);
      return (e) => items.map((f) => f(e));
    }
    case "root":
      switch (n.name) {
        case "id":
          return (e) => e.id;
        case "ts":
          return (e) => e.ts;
        case "device":
          return (e) => e.device;
        case "kind":
          return (e) => e.kind;
        case "payload":
          return (e) => e.payload;
        case "meta":
          return (e) => e.meta;
      }
    // eslint-disable-next-line no-fallthrough
    case "member": {
      // the common case, payload.x / meta.x with a literal name, gets a direct closure
      if (n.key.t === "lit" && typeof n.key.v === "string" && n.obj.t === "root" && (n.obj.name === "payload" || n.obj.name === "meta")) {
        const k = n.key.v;
        // a name Object.prototype lacks can only be an own property of a plain payload (JSON or a
        // literal), so it is read without the own-property check (a hot path: every event, every field)
        if (n.obj.name === "payload" && !(k in Object.prototype)) return (e) => e.payload[k];
        if (n.obj.name === "payload") return (e) => (Object.prototype.hasOwnProperty.call(e.payload, k) ? e.payload[k] : undefined);
        return (e) => (e.meta && Object.prototype.hasOwnProperty.call(e.meta, k) ? e.meta[k] : undefined);
      }
      const o = compileNode(n.obj);
      if (n.key.t === "lit") {
        const k = n.key.v;
        return (e) => field(o(e), k);
      }
      const k = compileNode(n.key);
      return (e) => field(o(e), k(e));
    }
    case "unary": {
      const a = compileNode(n.arg);
      if (n.op === "not") return (e) => !truthy(a(e));
      return (e) => {
        const v = a(e);
        return num(v) ? -v : null;
      };
    }
    case "bin": {
      const l = compileNode(n.l);
      if (n.r.t === "lit" && typeof n.r.v === "number") {
        const fast = withNumber(n.op, l, n.r.v);
        if (fast) return fast;
      }
      const r = compileNode(n.r);
      switch (n.op) {
        case "and":
          return (e) => truthy(l(e)) && truthy(r(e));
        case "or":
          return (e) => truthy(l(e)) || truthy(r(e));
        case "==":
          return (e) => eq(l(e), r(e));
        case "!=":
          return (e) => !eq(l(e), r(e));
        case "in":
          return (e) => {
            const b = r(e);
            const a = l(e);
            if (Array.isArray(b)) return b.some((x) => eq(x, a));
            if (typeof b === "string" && typeof a === "string") return b.includes(a);
            return false;
          };
        case "<":
          return (e) => {
            const a = l(e);
            const b = r(e);
            return (typeof a === "number" && typeof b === "number") || (typeof a === "string" && typeof b === "string") ? a < b : false;
          };
        case "<=":
          return (e) => {
            const a = l(e);
            const b = r(e);
            return (typeof a === "number" && typeof b === "number") || (typeof a === "string" && typeof b === "string") ? a <= b : false;
          };
        case ">":
          return (e) => {
            const a = l(e);
            const b = r(e);
            return (typeof a === "number" && typeof b === "number") || (typeof a === "string" && typeof b === "string") ? a > b : false;
          };
        case ">=":
          return (e) => {
            const a = l(e);
            const b = r(e);
            return (typeof a === "number" && typeof b === "number") || (typeof a === "string" && typeof b === "string") ? a >= b : false;
          };
        case "+":
          return (e) => {
            const a = l(e);
            const b = r(e);
            if (typeof a === "number" && typeof b === "number") return finite(a + b);
            if (typeof a === "string" && typeof b === "string") return a + b;
            return null;
          };
        case "-":
          return (e) => {
            const a = l(e);
            const b = r(e);
            return typeof a === "number" && typeof b === "number" ? finite(a - b) : null;
          };
        case "*":
          return (e) => {
            const a = l(e);
            const b = r(e);
            return typeof a === "number" && typeof b === "number" ? finite(a * b) : null;
          };
        case "/":
          return (e) => {
            const a = l(e);
            const b = r(e);
            return typeof a === "number" && typeof b === "number" && b !== 0 ? finite(a / b) : null;
          };
        case "%":
          return (e) => {
            const a = l(e);
            const b = r(e);
            return typeof a === "number" && typeof b === "number" && b !== 0 ? finite(a % b) : null;
          };
      }
    }
    // eslint-disable-next-line no-fallthrough
    case "call": {
      const spec = FUNCTIONS[n.fn]!;
      const args = n.args.map(compileNode);
      const impl = spec.impl;
      if (args.length === 1) {
        const a0 = args[0]!;
        return (e) => impl(a0(e));
      }
      if (args.length === 2) {
        const a0 = args[0]!;
        const a1 = args[1]!;
        return (e) => impl(a0(e), a1(e));
      }
      return (e) => impl(...args.map((f) => f(e)));
    }
  }
}

export interface CompiledExpression {
  source: string;
  type: StaticType;
  fn: Compiled;
}

/** Parse, type-check and compile. Throws ExpressionError (with column) on bad text. */
export function compileExpression(src: string): CompiledExpression {
  const ast = parseExpression(src);
  const type = typeOf(ast);
  return { source: src, type, fn: compileNode(ast) };
}

/** A filter/route condition: must be able to yield a boolean. */
export function compilePredicate(src: string): (e: Event) => boolean {
  const c = compileExpression(src);
  if (c.type !== "bool" && c.type !== "any") throw new ExpressionError(`a condition must be true or false, but this expression yields a ${c.type}`, 1, "E_EXPR_TYPE");
  const f = c.fn;
  return (e) => truthy(f(e));
}

// ---------------------------------------------------------------- aggregates

export const AGGREGATES = ["count", "sum", "min", "max", "avg", "first", "last", "stddev", "p50", "p95", "p99"] as const;
export type AggregateFn = (typeof AGGREGATES)[number];
export interface AggregateSpec {
  fn: AggregateFn;
  /** The value to aggregate; absent for count(). */
  arg: Compiled | undefined;
  source: string;
}

/** `avg(payload.altitude)`, `count()`, `p99(payload.latency_ms)`. */
export function compileAggregate(src: string): AggregateSpec {
  const ast = parseExpression(src);
  if (ast.t !== "call" || !(AGGREGATES as readonly string[]).includes(ast.fn))
    throw new ExpressionError(`an aggregate is one of ${AGGREGATES.map((a) => `${a}(…)`).join(", ")}`, ast.col, "E_EXPR_AGGREGATE");
  const fn = ast.fn as AggregateFn;
  if (fn === "count") {
    if (ast.args.length > 1) throw new ExpressionError("count() takes at most one argument", ast.col, "E_EXPR_ARITY");
    const a = ast.args[0];
    if (a) typeOf(a);
    return { fn, arg: a ? compileNode(a) : undefined, source: src };
  }
  if (ast.args.length !== 1) throw new ExpressionError(`${fn}() takes one argument, got ${ast.args.length}`, ast.col, "E_EXPR_ARITY");
  const a = ast.args[0]!;
  const ty = typeOf(a);
  if (fn !== "first" && fn !== "last" && !compatible("number", ty)) throw new ExpressionError(`${fn}() needs a number, got ${ty}`, a.col, "E_EXPR_TYPE");
  return { fn, arg: compileNode(a), source: src };
}

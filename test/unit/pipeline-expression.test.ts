import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { compileAggregate, compileExpression, compilePredicate, ExpressionError } from "../../runtime/pipeline/expression.js";
import type { Event } from "../../core/event.js";

const e: Event = { id: "t-1/9", ts: 1_000, device: "t-1", kind: "telemetry", payload: { altitude: 1200, temp_c: 25, name: "ridge", tags: ["a", "b"], nested: { x: 3 } }, meta: { site: "n" } };
const val = (src: string) => compileExpression(src).fn(e);

function throwsAt(src: string, code: string, column: number) {
  try {
    compileExpression(src);
  } catch (err) {
    assert.instance(err, ExpressionError, src);
    assert.is((err as ExpressionError).code, code, `${src}: ${(err as Error).message}`);
    assert.is((err as ExpressionError).column, column, `${src}: ${(err as Error).message}`);
    return;
  }
  assert.unreachable(`${src} compiled`);
}

test("the issue's examples", () => {
  assert.is(val("payload.altitude >= 500 and payload.altitude <= 4500"), true);
  assert.is(val("payload.temp_c * 9 / 5 + 32"), 77);
  assert.is(val("payload.altitude > 5000 or payload.altitude < 500"), false);
});

test("precedence, unary, parentheses", () => {
  assert.is(val("1 + 2 * 3"), 7);
  assert.is(val("(1 + 2) * 3"), 9);
  assert.is(val("-payload.temp_c + 5"), -20);
  assert.is(val("10 % 4"), 2);
  assert.is(val("not payload.altitude > 2000 and true"), true);
  assert.is(val("!(1 == 1) || 2 != 2"), false);
  assert.is(val("1.5e3"), 1500);
});

test("roots, members, brackets, lists, in", () => {
  assert.is(val("device"), "t-1");
  assert.is(val("ts + 1"), 1001);
  assert.is(val("meta.site"), "n");
  assert.is(val("payload.nested.x"), 3);
  assert.is(val('payload["temp_c"]'), 25);
  assert.is(val("payload.tags[1]"), "b");
  assert.is(val('kind in ["alarm", "telemetry"]'), true);
  assert.is(val("'dge' in payload.name"), true);
  assert.is(val("payload.missing"), undefined);
  assert.is(val("payload.missing == null"), true);
});

test("functions", () => {
  assert.is(val("abs(-3) + floor(2.7) + ceil(0.2) + round(2.345, 2)"), 3 + 2 + 1 + 2.35);
  assert.is(val("min(3, 1, 2) + max(3, 1, 2)"), 4);
  assert.is(val("exists(payload.altitude) and not exists(payload.nope)"), true);
  assert.is(val("coalesce(payload.nope, 7)"), 7);
  assert.is(val("if(payload.temp_c > 20, 'warm', 'cold')"), "warm");
  assert.is(val("upper(payload.name) + lower('X')"), "RIDGEx");
  assert.is(val("len(payload.tags)"), 2);
  assert.is(val("startsWith(device, 't-') and endsWith(device, '1') and contains(payload.tags, 'a')"), true);
  assert.is(val("number('12.5') + 1"), 13.5);
  assert.is(val("string(payload.temp_c)"), "25");
  assert.is(val("sqrt(-1)"), null);
});

test("nulls and mixed types never throw at run time", () => {
  assert.is(val("payload.name * 2"), null);
  assert.is(val("payload.missing + 1"), null);
  assert.is(val("payload.name < 3"), false);
  assert.is(val("1 / 0"), null);
  assert.is(compilePredicate("payload.missing > 3")(e), false);
});

test("no prototype or global access", () => {
  assert.is(val("payload.constructor"), undefined);
  assert.is(val("payload.__proto__"), undefined);
  assert.is(val('payload["constructor"]'), undefined);
  assert.is(val("payload.toString"), undefined);
  throwsAt("process.exit(1)", "E_EXPR_UNKNOWN_NAME", 1);
  throwsAt("globalThis", "E_EXPR_UNKNOWN_NAME", 1);
  throwsAt("eval('1')", "E_EXPR_UNKNOWN_FUNCTION", 1);
});

test("errors carry a stable code and the column", () => {
  throwsAt("payload.altitude >= ", "E_EXPR_SYNTAX", 21);
  throwsAt("payload.altitude >== 3", "E_EXPR_SYNTAX", 20);
  throwsAt("altitude > 3", "E_EXPR_UNKNOWN_NAME", 1);
  throwsAt("payload.a > 3 and foo(1)", "E_EXPR_UNKNOWN_FUNCTION", 19);
  throwsAt("abs(1, 2)", "E_EXPR_ARITY", 1);
  throwsAt('payload.a + "x" * 2', "E_EXPR_TYPE", 13);
  throwsAt("1 < 2 < 3", "E_EXPR_SYNTAX", 7);
  throwsAt("'open", "E_EXPR_SYNTAX", 1);
  throwsAt("payload.a # 1", "E_EXPR_SYNTAX", 11);
  throwsAt("1 < 'a'", "E_EXPR_TYPE", 3);
  throwsAt("", "E_EXPR_SYNTAX", 1);
  throwsAt("(payload.a", "E_EXPR_SYNTAX", 11);
  try {
    compilePredicate("payload.a * 2");
    assert.unreachable();
  } catch (err) {
    assert.is((err as ExpressionError).code, "E_EXPR_TYPE");
  }
});

test("aggregates", () => {
  assert.is(compileAggregate("count()").fn, "count");
  assert.is(compileAggregate("avg(payload.altitude)").arg!(e), 1200);
  assert.is(compileAggregate("p99(payload.altitude / 2)").arg!(e), 600);
  for (const bad of ["payload.a", "median(payload.a)", "avg()", "avg('x')", "sum(payload.a, 2)"])
    assert.throws(() => compileAggregate(bad), (err: unknown) => err instanceof ExpressionError, bad);
});

test("property: an operator with a number literal on the right (its own fast closure) agrees with the general one", () => {
  const value = fc.oneof(fc.double(), fc.integer(), fc.constantFrom(0, -0, Number.NaN, Infinity, -Infinity, null, true, "", "5", "abc"), fc.string());
  const op = fc.constantFrom("<", "<=", ">", ">=", "+", "-", "*", "/", "%", "==", "!=");
  const literal = fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.constantFrom(0, 0.5, 1e308, 2.5e-3));
  fc.assert(
    fc.property(value, op, literal, (a, o, c) => {
      const ev: Event = { id: "x", ts: 0, device: "d", kind: "k", payload: { a, c } };
      const fast = compileExpression(`payload.a ${o} ${c}`).fn(ev);
      const general = compileExpression(`payload.a ${o} payload.c`).fn(ev);
      return Object.is(fast, general);
    }),
    { numRuns: 2000 },
  );
});

test("property: compiling arbitrary text throws only ExpressionError, and compiled code never throws", () => {
  const alphabet = fc.constantFrom(..."payload.ab()[]'\"+-*/%<>=!&| 0123456789,.andornotin_xyz".split(""));
  fc.assert(
    fc.property(fc.array(alphabet, { maxLength: 40 }).map((a) => a.join("")), fc.dictionary(fc.string({ maxLength: 3 }), fc.oneof(fc.integer(), fc.string(), fc.constant(null))), (src, payload) => {
      let fn;
      try {
        fn = compileExpression(src).fn;
      } catch (err) {
        return err instanceof ExpressionError && err.column >= 1 && err.column <= src.length + 1;
      }
      fn({ ...e, payload });
      return true;
    }),
    { numRuns: 3000 },
  );
});

test.run();

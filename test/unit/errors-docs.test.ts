// docs/errors.md's error list is the table in core/errors/codes.ts: this fails when the table changed
// and docs/errors.md was not regenerated.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { README, BEGIN, END, renderErrorList, withErrorList } from "../../scripts/error-docs.js";
import { ERROR_CODES } from "../../core/index.js";

test("docs/errors.md's error list is generated from the current table", () => {
  const readme = readFileSync(README, "utf8");
  assert.ok(readme.includes(BEGIN) && readme.includes(END), `docs/errors.md lacks the ${BEGIN} / ${END} markers`);
  assert.ok(withErrorList(readme) === readme, "docs/errors.md's error list is out of date: run `npm run errors:docs` and commit docs/errors.md");
});

test("the list has one row per code, grouped by prefix", () => {
  const list = renderErrorList();
  const rows = list.split("\n").filter((l) => l.startsWith("| `E_"));
  assert.is(rows.length, Object.keys(ERROR_CODES).length);
  assert.match(list, /\*\*OTA\*\*\n\n\| code \| category \| meaning \|/);
  assert.ok(rows.includes(`| \`E_MODBUS_CRC\` | peer | ${ERROR_CODES.E_MODBUS_CRC.doc} |`));
});

test("withErrorList replaces only what lies between the markers", () => {
  const doc = `intro\n${BEGIN}\nold list\n${END}\nafter\n`;
  assert.is(withErrorList(doc, "new list\n"), `intro\n${BEGIN}\nnew list\n${END}\nafter\n`);
  assert.throws(() => withErrorList("no markers here", "x"));
});

test.run();

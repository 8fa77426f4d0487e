/**
 * `npm run errors:docs`: writes docs/errors.md's list of error codes, between `<!-- errors:begin -->`
 * and `<!-- errors:end -->`, from the table in core/errors/codes.ts (one table per code prefix:
 * code | category | meaning), so the list a person reads is the one the runtime raises.
 * test/unit/errors-docs.test.ts fails when docs/errors.md is behind the table.
 *
 *   node --import tsx scripts/error-docs.ts           # what `npm run errors:docs` runs
 */
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ERROR_CODES, type ErrorCode } from "../core/index.js";

export const BEGIN = "<!-- errors:begin -->";
export const END = "<!-- errors:end -->";
export const README = fileURLToPath(new URL("../docs/errors.md", import.meta.url));

/** A code's group: its first word after `E_` (E_OTA_BUNDLE_HASH is in OTA). */
function prefixOf(code: string): string {
  return code.split("_")[1] ?? code;
}

/** The generated Markdown between the markers (without them). */
export function renderErrorList(): string {
  const groups = new Map<string, ErrorCode[]>();
  for (const code of (Object.keys(ERROR_CODES) as ErrorCode[]).sort()) {
    const p = prefixOf(code);
    groups.set(p, [...(groups.get(p) ?? []), code]);
  }
  const out: string[] = [];
  for (const [prefix, codes] of groups) {
    out.push(`**${prefix}**`, "", "| code | category | meaning |", "| --- | --- | --- |");
    for (const c of codes) out.push(`| \`${c}\` | ${ERROR_CODES[c].category} | ${ERROR_CODES[c].doc.replace(/\|/g, "\\|")} |`);
    out.push("");
  }
  return out.join("\n");
}

/** `readme` with its error list replaced by `list`. */
export function withErrorList(readme: string, list: string = renderErrorList()): string {
  const b = readme.indexOf(BEGIN);
  const e = readme.indexOf(END);
  if (b < 0 || e < b) throw new Error(`docs/errors.md has no ${BEGIN} … ${END} section to write the error list into`);
  return `${readme.slice(0, b + BEGIN.length)}\n${list}${readme.slice(e)}`;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const before = readFileSync(README, "utf8");
  const after = withErrorList(before);
  if (after !== before) writeFileSync(README, after);
  console.log(`docs/errors.md: ${Object.keys(ERROR_CODES).length} error codes${after === before ? ", already up to date" : " written"}`);
}

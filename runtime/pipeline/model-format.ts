/**
 * The built-in model format (JSON, runs everywhere): linear, logistic, decision tree and z-score
 * thresholds over named features. Parsing a model file is verification of outside input: it returns
 * a `Failure` (E_MODEL_FORMAT) and never throws.
 *
 *   { "type": "logistic", "features": ["alt", "hr"], "weights": [0.01, 0.2], "bias": -3 }
 *   { "type": "tree", "features": ["alt"], "root": { "feature": "alt", "threshold": 4000,
 *       "left": { "value": 0 }, "right": { "value": 1 } } }
 *   { "type": "zscore", "features": ["hr"], "mean": [80], "std": [12], "threshold": 3 }
 */
import { fail, ok, type Result } from "../../core/index.js";

export type TreeNode = { value: number } | { feature: string; threshold: number; left: TreeNode; right: TreeNode };

export type JsonModel =
  | { type: "linear" | "logistic"; features: string[]; weights: number[]; bias: number }
  | { type: "tree"; features: string[]; root: TreeNode }
  | { type: "zscore"; features: string[]; mean: number[]; std: number[]; threshold: number };

export type ParseResult<T> = Result<T, "E_MODEL_FORMAT">;

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isNumArr = (v: unknown, n: number): v is number[] => Array.isArray(v) && v.length === n && v.every(isNum);

function checkTree(n: unknown, features: Set<string>, depth: number): string | undefined {
  if (depth > 64) return "tree deeper than 64";
  if (!n || typeof n !== "object") return "tree node is not an object";
  const o = n as Record<string, unknown>;
  if ("value" in o) return isNum(o.value) ? undefined : "leaf value is not a number";
  if (typeof o.feature !== "string" || !features.has(o.feature)) return `tree splits on an undeclared feature ${JSON.stringify(o.feature)}`;
  if (!isNum(o.threshold)) return "tree threshold is not a number";
  return checkTree(o.left, features, depth + 1) ?? checkTree(o.right, features, depth + 1);
}

export function parseJsonModel(bytes: Uint8Array): ParseResult<JsonModel> {
  let m: unknown;
  try {
    m = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return fail("E_MODEL_FORMAT", "not UTF-8 JSON");
  }
  if (!m || typeof m !== "object" || Array.isArray(m)) return fail("E_MODEL_FORMAT", "a model is a JSON object");
  const o = m as Record<string, unknown>;
  const f = o.features;
  if (!Array.isArray(f) || f.length === 0 || f.length > 4096 || !f.every((x) => typeof x === "string")) return fail("E_MODEL_FORMAT", "features must be a non-empty list of names");
  const features = f as string[];
  switch (o.type) {
    case "linear":
    case "logistic":
      if (!isNumArr(o.weights, features.length)) return fail("E_MODEL_FORMAT", `weights must be ${features.length} numbers`);
      if (!isNum(o.bias ?? 0)) return fail("E_MODEL_FORMAT", "bias must be a number");
      return ok({ type: o.type, features, weights: o.weights, bias: (o.bias as number | undefined) ?? 0 });
    case "tree": {
      const err = checkTree(o.root, new Set(features), 0);
      return err ? fail("E_MODEL_FORMAT", err) : ok({ type: "tree", features, root: o.root as TreeNode });
    }
    case "zscore":
      if (!isNumArr(o.mean, features.length) || !isNumArr(o.std, features.length)) return fail("E_MODEL_FORMAT", `mean and std must be ${features.length} numbers each`);
      if ((o.std as number[]).some((s) => s <= 0)) return fail("E_MODEL_FORMAT", "std must be above 0");
      if (!isNum(o.threshold)) return fail("E_MODEL_FORMAT", "threshold must be a number");
      return ok({ type: "zscore", features, mean: o.mean as number[], std: o.std as number[], threshold: o.threshold });
    default:
      return fail("E_MODEL_FORMAT", `unknown model type ${JSON.stringify(o.type)} (linear, logistic, tree, zscore)`);
  }
}

/** Score one feature vector (missing features are NaN → the score is null). */
export function scoreJsonModel(m: JsonModel, x: Float64Array): number | null {
  let s: number;
  switch (m.type) {
    case "linear":
    case "logistic": {
      s = m.bias;
      for (let i = 0; i < x.length; i++) s += m.weights[i]! * x[i]!;
      if (m.type === "logistic") s = 1 / (1 + Math.exp(-s));
      break;
    }
    case "tree": {
      let n: TreeNode = m.root;
      while (!("value" in n)) {
        const v = x[m.features.indexOf(n.feature)]!;
        if (Number.isNaN(v)) return null;
        n = v <= n.threshold ? n.left : n.right;
      }
      s = n.value;
      break;
    }
    case "zscore": {
      s = 0;
      for (let i = 0; i < x.length; i++) s = Math.max(s, Math.abs((x[i]! - m.mean[i]!) / m.std[i]!));
      break;
    }
  }
  return Number.isFinite(s) ? s : null;
}

/**
 * `model: { name, file?, features?, output }`: scores each event with the provider's current model
 * and writes the score to `payload.<output>` (z-score models also set `<output>_alert`). Built-in JSON
 * models score synchronously; ONNX models run through onnxruntime-web's WASM backend, one tensor
 * per batch. The model is looked up per batch, so a switch takes effect between batches and never
 * drops an event; with no usable model, events pass with a null score (counted as `unscored`).
 */
import { compileExpression, type Compiled } from "../expression.js";
import { parseJsonModel, scoreJsonModel, type JsonModel } from "../model-format.js";
import type { LoadedModel, ModelProvider } from "../model-provider.js";
import type { Envelope, Operator, Outputs } from "../operator.js";
import type { ModelSpec } from "../config.js";
import { createOnnxScorer, type OnnxScorer } from "../onnx-scorer.js";

type Compiledmodel = { kind: "json"; model: JsonModel; features: string[] } | { kind: "onnx"; scorer: OnnxScorer; features: string[] } | { kind: "bad"; reason: string };

export class ModelOperator implements Operator {
  dropped = 0;
  late = 0;
  unscored = 0;
  private readonly compiled = new Map<string, Compiledmodel | Promise<Compiledmodel>>();
  private readonly featureExprs = new Map<string, Compiled>();
  lastDigest: string | undefined;
  lastError: string | undefined;

  constructor(
    private readonly spec: ModelSpec,
    private readonly provider: ModelProvider,
  ) {
    for (const [f, src] of Object.entries(spec.features ?? {})) this.featureExprs.set(f, compileExpression(src).fn);
  }

  private compile(m: LoadedModel): Compiledmodel | Promise<Compiledmodel> {
    let c = this.compiled.get(m.digest);
    if (c) return c;
    if (m.format === "json") {
      const r = parseJsonModel(m.bytes);
      c = r.ok ? { kind: "json", model: r.value, features: r.value.features } : { kind: "bad", reason: r.reason };
    } else {
      c = createOnnxScorer(m.bytes).then(
        (r): Compiledmodel => (r.ok ? { kind: "onnx", scorer: r.value, features: this.spec.features ? Object.keys(this.spec.features) : [] } : { kind: "bad", reason: r.reason }),
      );
      c.then((v) => this.compiled.set(m.digest, v));
    }
    this.compiled.set(m.digest, c);
    return c;
  }

  private vector(env: Envelope, features: string[]): Float64Array {
    const x = new Float64Array(features.length);
    for (let i = 0; i < features.length; i++) {
      const f = features[i]!;
      const ex = this.featureExprs.get(f);
      const v = ex ? ex(env.e) : Object.prototype.hasOwnProperty.call(env.e.payload, f) ? env.e.payload[f] : undefined;
      x[i] = typeof v === "number" ? v : typeof v === "boolean" ? Number(v) : NaN;
    }
    return x;
  }

  private emit(env: Envelope, score: number | null, alert: boolean | undefined, out: Outputs): void {
    const payload: Record<string, unknown> = Object.assign({}, env.e.payload); // not a spread: see map.ts
    payload[this.spec.output] = score;
    if (alert !== undefined) payload[`${this.spec.output}_alert`] = alert;
    if (score === null) this.unscored++;
    out.main.push({ e: Object.assign({}, env.e, { payload }), t: env.t });
  }

  process(batch: Envelope[], out: Outputs): void | Promise<void> {
    const m = this.provider.current(this.spec.name);
    if (!m) {
      this.lastError = `no model named ${this.spec.name}`;
      for (const env of batch) this.emit(env, null, undefined, out);
      return;
    }
    this.lastDigest = m.digest;
    const c = this.compile(m);
    if (c instanceof Promise) return c.then((cc) => this.run(cc, batch, out));
    return this.run(c, batch, out);
  }

  private run(c: Compiledmodel, batch: Envelope[], out: Outputs): void | Promise<void> {
    if (c.kind === "bad") {
      this.lastError = c.reason;
      for (const env of batch) this.emit(env, null, undefined, out);
      return;
    }
    if (c.kind === "json") {
      const z = c.model.type === "zscore" ? c.model.threshold : undefined;
      for (const env of batch) {
        const s = scoreJsonModel(c.model, this.vector(env, c.features));
        this.emit(env, s, z === undefined ? undefined : s !== null && s > z, out);
      }
      return;
    }
    const features = c.features.length ? c.features : c.scorer.inputNames;
    const xs = batch.map((env) => this.vector(env, features));
    return c.scorer.score(xs, features.length).then(
      (scores) =>
        batch.forEach((env, i) => {
          // a row with a missing feature has no score (NaN in, NaN out)
          const v = xs[i]!.some(Number.isNaN) ? NaN : scores[i];
          this.emit(env, v !== undefined && Number.isFinite(v) ? v : null, undefined, out);
        }),
      (err: unknown) => {
        this.lastError = String(err);
        for (const env of batch) this.emit(env, null, undefined, out);
      },
    );
  }

  status(): Record<string, unknown> {
    return { model: this.spec.name, digest: this.lastDigest, unscored: this.unscored, ...(this.lastError ? { error: this.lastError } : {}) };
  }
}

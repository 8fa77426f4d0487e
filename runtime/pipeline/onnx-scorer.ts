/**
 * ONNX models through onnxruntime-web's WASM backend (single-threaded, runs wherever Node runs:
 * ARM64 and RISC-V included). A model takes one float32 input of shape [batch, features] and gives
 * one output whose first value per row is the score. Loaded lazily: the runtime is never imported
 * when no ONNX model is configured.
 */
import { fail, ok, type Result } from "../../core/index.js";

export interface OnnxScorer {
  inputNames: string[];
  score(rows: Float64Array[], width: number): Promise<number[]>;
}

export async function createOnnxScorer(bytes: Uint8Array): Promise<Result<OnnxScorer, "E_MODEL_FORMAT" | "E_MODEL_RUNTIME">> {
  let ort: typeof import("onnxruntime-web");
  try {
    ort = await import("onnxruntime-web");
    ort.env.wasm.numThreads = 1;
  } catch (e) {
    return fail("E_MODEL_RUNTIME", `onnxruntime-web is not available: ${(e as Error).message}`);
  }
  let session: import("onnxruntime-web").InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
  } catch (e) {
    return fail("E_MODEL_FORMAT", `not a loadable ONNX model: ${(e as Error).message}`);
  }
  const input = session.inputNames[0];
  const output = session.outputNames[0];
  if (!input || !output) return fail("E_MODEL_FORMAT", "the ONNX model has no input or no output");
  return ok<OnnxScorer>({
    inputNames: [],
    async score(rows, width) {
      const data = new Float32Array(rows.length * width);
      rows.forEach((r, i) => data.set(r, i * width));
      const res = await session.run({ [input]: new ort.Tensor("float32", data, [rows.length, width]) });
      const t = res[output];
      if (!t) return rows.map(() => NaN);
      const vals = t.data as Float32Array;
      const per = Math.max(1, Math.floor(vals.length / rows.length));
      return rows.map((_, i) => {
        const v = Number(vals[i * per]);
        return Number.isFinite(v) ? v : NaN;
      });
    },
  });
}

/**
 * A minimal ONNX (protobuf) writer for tests: a linear scorer y = x·w + b, optionally through a
 * sigmoid, with input "x" of shape [N, features] and output "y" of shape [N, 1]. Field numbers
 * from onnx/onnx.proto (ModelProto, GraphProto, NodeProto, TensorProto, ValueInfoProto, TypeProto).
 */
function varint(n: number): number[] {
  const out: number[] = [];
  let v = BigInt(n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}
const key = (field: number, wire: number) => varint((field << 3) | wire);
const vint = (field: number, n: number) => [...key(field, 0), ...varint(n)];
const bytes = (field: number, b: number[] | Uint8Array) => [...key(field, 2), ...varint(b.length), ...b];
const str = (field: number, s: string) => bytes(field, [...new TextEncoder().encode(s)]);

function tensor(name: string, dims: number[], values: number[]): number[] {
  const raw = new Uint8Array(new Float32Array(values).buffer);
  return [...dims.flatMap((d) => vint(1, d)), ...vint(2, 1), ...str(8, name), ...bytes(9, raw)];
}
function valueInfo(name: string, dims: (number | string)[]): number[] {
  const shape = dims.flatMap((d) => bytes(1, typeof d === "number" ? vint(1, d) : str(2, d)));
  const tensorType = [...vint(1, 1), ...bytes(2, shape)];
  return [...str(1, name), ...bytes(2, bytes(1, tensorType))];
}
function node(op: string, inputs: string[], outputs: string[], name: string): number[] {
  return [...inputs.flatMap((i) => str(1, i)), ...outputs.flatMap((o) => str(2, o)), ...str(3, name), ...str(4, op)];
}

export function linearOnnx(weights: number[], bias: number, sigmoid = false): Uint8Array {
  const n = weights.length;
  const nodes = [bytes(1, node("MatMul", ["x", "w"], ["xw"], "mm")), bytes(1, node("Add", ["xw", "b"], [sigmoid ? "z" : "y"], "add"))];
  if (sigmoid) nodes.push(bytes(1, node("Sigmoid", ["z"], ["y"], "sig")));
  const graph = [
    ...nodes.flat(),
    ...str(2, "linear"),
    ...bytes(5, tensor("w", [n, 1], weights)),
    ...bytes(5, tensor("b", [1], [bias])),
    ...bytes(11, valueInfo("x", ["N", n])),
    ...bytes(12, valueInfo("y", ["N", 1])),
  ];
  const model = [...vint(1, 8), ...str(2, "ridge-test"), ...bytes(7, graph), ...bytes(8, [...str(1, ""), ...vint(2, 13)])];
  return new Uint8Array(model);
}

/**
 * Pure payload codecs shared by the device drivers: SenML (RFC 8428, JSON and CBOR) and the CBOR
 * subset beneath it (RFC 8949). No I/O, no clock; hostile input ends in a result with a stable code.
 */
export {
  SENML_VERSION,
  SENML_NAME,
  SENML_ANY_NAME,
  SENML_RELATIVE_TIME_LIMIT,
  base64urlEncode,
  base64urlDecode,
  decodeSenmlJson,
  decodeSenmlCbor,
  encodeSenmlJson,
  encodeSenmlCbor,
  resolveSenml,
  type SenmlRecord,
  type ResolvedSenmlRecord,
  type UnclockedSenmlRecord,
  type SenmlExtraValue,
  type SenmlErrorCode,
  type SenmlFailure,
  type SenmlResult,
  type SenmlDecodeOptions,
  type ResolveOptions,
} from "./senml.js";
export { decodeCbor, encodeCbor, type CborValue, type CborMap, type CborTagged, type CborResult, type CborErrorCode } from "./cbor.js";

/**
 * Mutual-TLS material for the cloud link, read again before every connection attempt so that a
 * renewed certificate is picked up without a restart. Files that cannot be read or parsed are config
 * errors with the file named; a certificate that is expired (or not yet valid) or does not match its
 * key is reported as a problem, and the link keeps retrying (the file may be replaced).
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { RidgeError } from "../../core/index.js";
import type { MqttLinkConfig } from "./config.js";

export interface TlsProblem {
  code: "E_CLOUD_CERT_EXPIRED" | "E_CLOUD_CERT_NOT_YET_VALID" | "E_CLOUD_CERT_KEY_MISMATCH";
  message: string;
}

export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  problems: TlsProblem[];
  /** The client certificate's subject and expiry, for status. */
  client?: { subject: string; validTo: string };
}

function readPem(field: "ca" | "cert" | "key", file: string, dataDir: string): { path: string; data: Buffer } {
  const path = isAbsolute(file) ? file : join(dataDir, file);
  try {
    return { path, data: readFileSync(path) };
  } catch (e) {
    const code = e && typeof e === "object" && "code" in e ? String((e as { code: unknown }).code) : "?";
    throw new RidgeError("E_CLOUD_TLS_FILE", `cloud.mqtt.${field}: cannot read ${path} (${code})`, { cause: e, detail: { field, path } });
  }
}

export function loadTlsMaterial(cfg: MqttLinkConfig, dataDir: string, now: number): TlsMaterial {
  const out: TlsMaterial = { problems: [] };
  if (cfg.ca) {
    const { path, data } = readPem("ca", cfg.ca, dataDir);
    try {
      new X509Certificate(data);
    } catch (e) {
      throw new RidgeError("E_CLOUD_TLS_FILE", `cloud.mqtt.ca: ${path} is not a PEM certificate (${e instanceof Error ? e.message : String(e)})`, { detail: { field: "ca", path } });
    }
    out.ca = data;
  }
  if (cfg.cert && cfg.key) {
    const c = readPem("cert", cfg.cert, dataDir);
    const k = readPem("key", cfg.key, dataDir);
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(c.data);
    } catch (e) {
      throw new RidgeError("E_CLOUD_TLS_FILE", `cloud.mqtt.cert: ${c.path} is not a PEM certificate (${e instanceof Error ? e.message : String(e)})`, { detail: { field: "cert", path: c.path } });
    }
    let key;
    try {
      key = createPrivateKey(k.data);
    } catch (e) {
      throw new RidgeError("E_CLOUD_TLS_FILE", `cloud.mqtt.key: ${k.path} is not a PEM private key (${e instanceof Error ? e.message : String(e)})`, { detail: { field: "key", path: k.path } });
    }
    const from = Date.parse(x509.validFrom);
    const to = Date.parse(x509.validTo);
    if (now > to) out.problems.push({ code: "E_CLOUD_CERT_EXPIRED", message: `the client certificate ${c.path} (${x509.subject.replace(/\n/g, ", ")}) expired on ${new Date(to).toISOString()}: the broker will refuse it; renew it (the link keeps retrying)` });
    if (now < from) out.problems.push({ code: "E_CLOUD_CERT_NOT_YET_VALID", message: `the client certificate ${c.path} is valid only from ${new Date(from).toISOString()}: check the gateway clock` });
    if (!x509.checkPrivateKey(key)) out.problems.push({ code: "E_CLOUD_CERT_KEY_MISMATCH", message: `cloud.mqtt.key ${k.path} is not the key of the certificate ${c.path}` });
    out.cert = c.data;
    out.key = k.data;
    out.client = { subject: x509.subject.replace(/\n/g, ", "), validTo: new Date(to).toISOString() };
  }
  return out;
}

/** A connection failure in words an operator can act on, with a stable code. */
export function classifyConnectError(e: unknown, cfg: MqttLinkConfig): { code: string; message: string } {
  const code = e && typeof e === "object" && "code" in e ? String((e as { code: unknown }).code) : "";
  const msg = e instanceof Error ? e.message : String(e);
  if (code === "ECONNREFUSED") return { code: "E_CLOUD_REFUSED", message: `nothing accepts connections at ${cfg.url} (${msg})` };
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return { code: "E_CLOUD_DNS", message: `cannot resolve the host of ${cfg.url} (${code})` };
  if (code === "ETIMEDOUT" || /timeout/i.test(msg)) return { code: "E_CLOUD_TIMEOUT", message: `no answer from ${cfg.url} within ${cfg.connectTimeout} ms` };
  if (/UNABLE_TO_VERIFY|SELF_SIGNED|UNABLE_TO_GET_ISSUER|CERT_SIGNATURE_FAILURE/.test(code))
    return { code: "E_CLOUD_TLS_UNTRUSTED", message: `the broker's certificate is not trusted by cloud.mqtt.ca${cfg.ca ? ` (${cfg.ca})` : " (system CAs)"}: ${code}` };
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") return { code: "E_CLOUD_TLS_NAME", message: `the broker's certificate does not name the host of ${cfg.url}; set cloud.mqtt.servername if it is known by another name (${msg})` };
  if (code === "CERT_HAS_EXPIRED") return { code: "E_CLOUD_TLS_SERVER_EXPIRED", message: `the broker's certificate has expired (${msg})` };
  if (/alert|SSL|TLS/i.test(code + " " + msg))
    return { code: "E_CLOUD_TLS_REJECTED", message: `the TLS handshake failed: the broker refused the client certificate${cfg.cert ? ` (${cfg.cert})` : " (none configured)"} or the protocol (${msg})` };
  if (/Not authorized|Bad username|Bad User Name|Connection refused/i.test(msg)) return { code: "E_CLOUD_AUTH", message: `the broker refused the connection: ${msg}` };
  if (code === "ECONNRESET" || /closed before CONNACK/.test(msg))
    return { code: "E_CLOUD_CLOSED", message: `the broker closed the connection before accepting it${cfg.cert ? " (if it requires a client certificate, it may have refused " + cfg.cert + ")" : ""}: ${msg}` };
  return { code: "E_CLOUD_CONNECT", message: msg };
}

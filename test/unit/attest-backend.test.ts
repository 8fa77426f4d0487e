/** The AttestBackend contract on the software backends (the TPM backend runs it in attest-tpm). */
import { test } from "uvu";
import { FakeClock } from "../../core/clock.js";
import { generateKeyPair, softwareBackend, softwareSigner } from "../../attest/index.js";
import { attestBackendContract } from "../helpers/attest-backend-contract.js";

for (const alg of ["sm2-sm3", "ecdsa-p256-sha256"] as const) {
  attestBackendContract(test, `software ${alg}`, async () => {
    const kp = generateKeyPair(alg);
    return { backend: softwareBackend({ signer: softwareSigner(alg, kp.privateKey, kp.publicKey), clock: new FakeClock(1000), resetCount: 3, runtimeVersion: "1.2.3" }) };
  });
}

test.run();

/**
 * Published known-answer vectors for attest/crypto. Sources are named beside each block; every
 * value was copied from the named standard (or its reference test file), not produced by our code.
 */

/** GB/T 32905-2016 Appendix A (SM3); also OpenSSL test/recipes/30-test_evp_data/evpmd_sm3.txt. */
export const SM3_KAT = [
  { input: "616263", digest: "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0" },
  { input: "61626364".repeat(16), digest: "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732" },
  // Z_A input of GB/T 32918.2 example (vector B) as an SM3 KAT (evpmd_sm3.txt)
  {
    input:
      "0090414c494345313233405941484f4f2e434f4d787968b4fa32c3fd2417842e73bbfeff2f3c848b6831d7e0ec65228b3937e49863e4c6d3b23b0c849cf84241484bfe48f61d59a5b16ba06e6e12d1da27c5249a421debd61b62eab6746434ebc3cc315e32220b3badd50bdc4c4e6c147fedd43d0680512bcbb42c07d47349d2153b70c4e5d7fdfcbfa36ea1a85841b9e46e09a20ae4c7798aa0f119471bee11825be46202bb79e2a5844495e97c04ff4df2548a7c0240f88f1cd4e16352a73c17b7f16f07353e53a176d684a9fe0c6bb798e857",
    digest: "f4a38489e32b45b6f876e3ac2168ca392362dc8f23459c1d1146fc3dbfb7bc9a",
  },
];

/** GB/T 32907-2016 Appendix A example 1 and OpenSSL evpciph_sm4.txt (draft-ribose-cfrg-sm4). */
export const SM4_KAT = {
  ecb: { key: "0123456789abcdeffedcba9876543210", pt: "0123456789abcdeffedcba9876543210", ct: "681edf34d206965e86b3e94f536e4246" },
  cbc: {
    key: "0123456789abcdeffedcba9876543210",
    iv: "0123456789abcdeffedcba9876543210",
    pt: "0123456789abcdeffedcba98765432100123456789abcdeffedcba9876543210",
    ct: "2677f46b09c122cc975533105bd4a22af6125f7275ce552c3a2bbcf533de8a3b",
  },
  ctr: {
    key: "0123456789abcdeffedcba9876543210",
    iv: "0123456789abcdeffedcba9876543210",
    pt: "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccddddddddddddddddeeeeeeeeeeeeeeeeffffffffffffffffeeeeeeeeeeeeeeeeaaaaaaaaaaaaaaaa",
    ct: "c2b4759e78ac3cf43d0852f4e8d5f9fd7256e8a5fcb65a350ee00630912e44492a0b17e1b85b060d0fba612d8a95831638b361fd5ffacd942f081485a83ca35d",
  },
};

/** SM2 vector A: GB/T 32918.5-2017 / GM/T 0003.5 on sm2p256v1 (as in OpenSSL test/sm2_internal_test.c). */
export const SM2_VECTOR_A = {
  id: "1234567812345678",
  msg: "message digest",
  d: "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8",
  pub: "0409f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13",
  za: "b2e14c5c79c6df5b85f4fe7ed8db7a262b9da7e07ccb0ea9f4747b8ccda8a4f3",
  e: "f0b43e94ba45accaace692ed534382eb17e6ab5a19ce7b31f4486fdfc0d28640",
  k: "59276e27d506861a16680f3ad9c02dccef3cc1fa3cdbe4ce6d54b80deac1bc21",
  r: "f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3",
  s: "b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa",
  der: "3046022100f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3022100b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa",
  privatePem: `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQgOUUgj3shRLE/NuOK
xtOflYiTk2koYLUaQvuB7033xbihRANCAAQJ+d8xHlQhoVDdfRYeS8XGchefrRgz
/AdrsI/zVvNQIMzqSQziZ3WlLcbqcYzBqmAK7QX7814ISmYy9gctqa0T
-----END PRIVATE KEY-----
`,
  publicPem: `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAECfnfMR5UIaFQ3X0WHkvFxnIXn60Y
M/wHa7CP81bzUCDM6kkM4md1pS3G6nGMwapgCu0F+/NeCEpmMvYHLamtEw==
-----END PUBLIC KEY-----
`,
};

/** SM2 vector B: GM/T 0003.2 example curve (draft-shen-sm2-ecdsa-02; Bouncy Castle SM2SignerTest). */
export const SM2_VECTOR_B = {
  curve: {
    p: 0x8542d69e4c044f18e8b92435bf6ff7de457283915c45517d722edb8b08f1dfc3n,
    a: 0x787968b4fa32c3fd2417842e73bbfeff2f3c848b6831d7e0ec65228b3937e498n,
    b: 0x63e4c6d3b23b0c849cf84241484bfe48f61d59a5b16ba06e6e12d1da27c5249an,
    Gx: 0x421debd61b62eab6746434ebc3cc315e32220b3badd50bdc4c4e6c147fedd43dn,
    Gy: 0x0680512bcbb42c07d47349d2153b70c4e5d7fdfcbfa36ea1a85841b9e46e09a2n,
    n: 0x8542d69e4c044f18e8b92435bf6ff7dd297720630485628d5ae74ee7c32e79b7n,
    h: 1n,
  },
  id: "ALICE123@YAHOO.COM",
  msg: "message digest",
  d: "128b2fa8bd433c6c068c8d803dff79792a519a55171b1b650c23661d15897263",
  pub: "040ae4c7798aa0f119471bee11825be46202bb79e2a5844495e97c04ff4df2548a7c0240f88f1cd4e16352a73c17b7f16f07353e53a176d684a9fe0c6bb798e857",
  za: "f4a38489e32b45b6f876e3ac2168ca392362dc8f23459c1d1146fc3dbfb7bc9a",
  k: "6cb28d99385c175c94f94e934817663fc176d925dd72b727260dbaae1fb2f96f",
  r: "40f1ec59f793d9f49e09dcef49130d4194f79fb1eed2caa55bacdb49c4e755d1",
  s: "6fc6dac32c5d5cf10c77dfb20f7c2eb667a457872fb09ec56327a67ec7deebe7",
};

/** RFC 6979 A.2.5, P-256 with SHA-256, message "sample" (s is high: > n/2). */
export const P256_RFC6979 = {
  d: "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721",
  pub: "0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb67903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299",
  msg: "sample",
  r: "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716",
  s: "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8",
  lowS: "0834e36ad29a83bf2bc9385e491d6099c8fdf9d1ed67aa7ea5f51f93782857a9",
};

/** RFC 8032 §7.1 TEST 1 (empty message) and TEST 2 (one byte 0x72). */
export const ED25519_RFC8032 = [
  {
    secret: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    pub: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    msg: "",
    sig: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  },
  {
    secret: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    pub: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    msg: "72",
    sig: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
  },
];

/** Extend vectors: TCG PC Client extend rule, checked against swtpm tpm2_pcrextend (shared notes §2.2). */
export const EXTEND = {
  sha256ZeroZero: "f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb4b",
  sha256Abc: "589f9ffed4c477966bfb8d41f37895b08c69047df8f911d6f3b57fbe08faee8d",
  sm3Abc: "ee1ade12bac480c9bc7aff12f344bf9cdd92324fc83f7d79386f3c5426185506",
  chain: ["bootloader", "kernel", "gateway-runtime"],
  sm3Chain: "5795f546028ecc87c53e31348bce95ad24e20c0a6d1b047ced296d2ec6e1846d",
  sha256Chain: "50e47ff8785d2726f748f34330aa5ed74a845640c58ee63526153ede516c1dc6",
};

/** Synthetic SM2 TPMS_ATTEST over an SM3 bank, signed with vector A's d and k (both modes checked by OpenSSL). */
export const SM2_SYNTHETIC_QUOTE = {
  attest:
    "ff544347801800220012111111111111111111111111111111111111111111111111111111111111111100144169354d35536a596a6e6b79763450376974483100000000000010000000000100000000012019102300163636000000010012030104000020dea00bd7fa2a58a95b23a3fbf327e31deb6652ec20bf39cdb8315a121c218cfb",
  nonceAscii: "Ai5M5SjYjnkyv4P7itH1",
  pcr0: "3e4b7ea5169e167099cc4233b5e2a77672d7206075528c2b7cec48ea80a5ee23",
  pcr10: "83a3523a79d0e109d6001ef11d6d95782a57ddd9a2e436be37ca507f3953bb5b",
  pcrDigest: "dea00bd7fa2a58a95b23a3fbf327e31deb6652ec20bf39cdb8315a121c218cfb",
  sm3Attest: "dc72944c3b86f87e9542f4498915b00c992f4b8825fe6a9af2461f56e2bd4215",
  tpmMode: {
    r: "e15e90bdca141016f7472670178daec2da8d7a663405a6aa41aa2e2410d1dc88",
    s: "625427ff13e4492c71df7530479e942e49c6c0d5fc0145bacfea432d32f8075a",
    tpmtSignature:
      "001b00120020e15e90bdca141016f7472670178daec2da8d7a663405a6aa41aa2e2410d1dc880020625427ff13e4492c71df7530479e942e49c6c0d5fc0145bacfea432d32f8075a",
  },
  gmMode: {
    e: "221b6f98bb5a8cef1cb28d6bbc4f944dc397f7c75b3f62b966d0617ccf395788",
    r: "27076c0a49e7a4877eb6bf924ac7930404f626a569469ec8b6347049fd4df1fb",
    s: "a79a82e46e1f499e254489d20df02a59234ec02f25784c6a1247bc01aa84df3d",
  },
};

/** A real swtpm 0.7.1 ECDSA P-256 quote (tpm2-tools 5.4), PCR 0,16,23 in the sha256 bank. */
export const SWTPM_ECDSA_QUOTE = {
  akPem: `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEXpQeZGvtamgw+WvzMB4i2nQZDYe2
SwsLv3Qb5QJD5B3+8iukiQbmsJnu462eJ4uO/MIE5c8d4IwC0l/vLF/yZg==
-----END PUBLIC KEY-----
`,
  nonce: "19988c389bf7c34dc24f3a3ece7efdcce624d899",
  attest:
    "ff54434780180022000b9feed690a7d5a41935f76935e9a6f714ab8a4e954eae9e345d635db0d323e8e4001419988c389bf7c34dc24f3a3ece7efdcce624d8990000000000001825000000010000000001201910230016363600000001000b030100810020026dc4bde630840ee29d63b8e116a71ecd4f75d2912c95a6c52b96ce90ad5085",
  signature:
    "0018000b0020a8bd8adb4566242656e5c987cf014f775a76fb89bad975d995d1af82d964a4fa00205999dcb1d350941fa200c5d8937b0d1aafbe382ea05cd1ae67035020dbef1cc0",
  pcrs: {
    0: "0000000000000000000000000000000000000000000000000000000000000000",
    16: "f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb4b",
    23: "589f9ffed4c477966bfb8d41f37895b08c69047df8f911d6f3b57fbe08faee8d",
  } as Record<number, string>,
  pcrDigest: "026dc4bde630840ee29d63b8e116a71ecd4f75d2912c95a6c52b96ce90ad5085",
};

/** A real swtpm SM2 (SHA-256 scheme hash) quote: verifies only in TPM mode (e = SHA256(attest), no Z_A). */
export const SWTPM_SM2_QUOTE = {
  akPem: `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAEidCFyQmPRDzVjLErSescShKWHRna
csz6AwnfwpBM8lilO+AsK6uSugagqjSdpcyuCCol2gJXHQtH7n/hlaSqow==
-----END PUBLIC KEY-----
`,
  x: "89d085c9098f443cd58cb12b49eb1c4a12961d19da72ccfa0309dfc2904cf258",
  y: "a53be02c2bab92ba06a0aa349da5ccae082a25da02571d0b47ee7fe195a4aaa3",
  nonce: "19988c389bf7c34dc24f3a3ece7efdcce624d899",
  attest:
    "ff54434780180022000b7ee245c5d2a6530b438c97024a53fbc75ef1b1fd13a1a494ddfb9a0d6a5e9503001419988c389bf7c34dc24f3a3ece7efdcce624d899000000000000710e000000010000000001201910230016363600000001000b030100810020026dc4bde630840ee29d63b8e116a71ecd4f75d2912c95a6c52b96ce90ad5085",
  sha256Attest: "c31792b53642d3fa4d839b397affead94ac8419a89e96f5c1c336b283a0cec8b",
  signature:
    "001b000b0020ac326845bbf7fd282457658b890b09fe5960da8e884b1f999e63f2128af7f0d8002012a103b50b284189b6b1dbb2440a6872721b50c5f4cacc6803138ab24a0da3fd",
};

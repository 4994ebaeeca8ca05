// Cross-check helper for sdk/dstu's tests: runs the independent DSTU 4145
// implementation (the jkurwa npm package, with gost89) on requests read as
// a JSON array from standard input and writes a JSON array of results.
// Byte strings are hex. Requests:
//   {op: "hash", data}                                  -> {digest}
//   {op: "keygen", curve}                               -> {d, pub}
//   {op: "sign", curve, d, digest}                      -> {sig, pub}
//   {op: "verify", curve, pub, digest, sig}             -> {ok}
//   {op: "load", store, password}                       -> {keys: [{curve, d, pub}]}
//   {op: "cms", curve, d, cert, data}                   -> {cms}  attached SignedData
//   {op: "cmsverify", cms, cert}                        -> {ok}
//   {op: "bench", curve, d, digest, n}                  -> {signNs, verifyNs} per operation
// curve is jkurwa's name (DSTU_PB_257, DSTU_PB_431) or explicit parameters
// (see curveOf); d is the private
// scalar big-endian; pub the compressed key as certificates carry it
// (little-endian, inside its OCTET STRING header 04 len).
"use strict";

const jk = require("jkurwa");
const gost89 = require("gost89");

const algo = gost89.compat.algos();
const hex = (b) => Buffer.from(b).toString("hex");
const buf = (h) => Buffer.from(h, "hex");

// curveOf returns a named curve, or builds one from explicit parameters
// {m, ks, a, b, gx, gy, n, h} (hex strings for the big values).
const built = {};
function curveOf(curve) {
  if (typeof curve === "string") return jk.std_curve(curve);
  const key = JSON.stringify(curve);
  if (!built[key]) {
    built[key] = new jk.Curve({
      m: curve.m,
      ks: curve.ks,
      a: curve.a,
      b: curve.b,
      base: { x: curve.gx, y: curve.gy },
      order: curve.n,
      kofactor: [curve.h],
    });
  }
  return built[key];
}

function priv(curve, d) {
  return curveOf(curve).pkey(d, "hex");
}

const ops = {
  hash: (r) => ({ digest: hex(algo.hash(buf(r.data))) }),
  keygen: (r) => {
    const key = jk.std_curve(r.curve).keygen();
    return { d: hex(key.d.buf8()), pub: hex(key.pub().serialize()) };
  },
  sign: (r) => {
    const key = priv(r.curve, r.d);
    return { sig: hex(key.sign(buf(r.digest), "le")), pub: hex(key.pub().serialize()) };
  },
  verify: (r) => {
    const pub = curveOf(r.curve).pubkey(hex(buf(r.pub).subarray(2).reverse()), "hex");
    return { ok: pub.verify(buf(r.digest), buf(r.sig), "le") };
  },
  load: (r) => {
    const store = jk.Priv.from_protected(buf(r.store), r.password, algo);
    return {
      keys: store.keys.map((k) => ({ curve: k.curve.name(), d: hex(k.d.buf8()), pub: hex(k.pub().serialize()) })),
    };
  },
  cms: (r) => {
    const key = priv(r.curve, r.d);
    const cert = jk.Certificate.from_asn1(buf(r.cert));
    const msg = new jk.models.Message({
      type: "signedData",
      cert,
      data: buf(r.data),
      signer: key,
      hash: algo.hash,
      signTime: 1700000000,
    });
    return { cms: hex(msg.as_asn1()) };
  },
  bench: (r) => {
    const key = priv(r.curve, r.d);
    const pub = key.pub();
    const digest = buf(r.digest);
    let sig;
    let t = process.hrtime.bigint();
    for (let i = 0; i < r.n; i++) sig = key.sign(digest, "le");
    const signNs = Number(process.hrtime.bigint() - t) / r.n;
    t = process.hrtime.bigint();
    for (let i = 0; i < r.n; i++) {
      if (!pub.verify(digest, sig, "le")) throw new Error("own signature does not verify");
    }
    const verifyNs = Number(process.hrtime.bigint() - t) / r.n;
    return { signNs, verifyNs };
  },
  cmsverify: (r) => {
    const msg = new jk.models.Message(buf(r.cms));
    const cert = jk.Certificate.from_asn1(buf(r.cert));
    return { ok: msg.verify(algo.hash, () => cert) === true };
  },
};

let input = "";
process.stdin.on("data", (c) => (input += c));
process.stdin.on("end", () => {
  const out = JSON.parse(input).map((r) => {
    try {
      if (!ops[r.op]) throw new Error("unknown op " + r.op);
      return ops[r.op](r);
    } catch (e) {
      return { error: String(e && e.stack ? e.stack : e) };
    }
  });
  process.stdout.write(JSON.stringify(out));
});

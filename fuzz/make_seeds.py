#!/usr/bin/env python3
"""Writes the committed seed corpora, fuzz/corpus/<target>/seed-*, from the published
vectors in ../shared/vectors (Project Wycheproof, Apache-2.0; the RFC 7520 JOSE cookbook,
Unlicense) and from hand-written cases. Run once from anywhere; the fuzz targets never read
../shared. Deterministic: same vectors, same seeds.

    python3 fuzz/make_seeds.py [path/to/shared/vectors]
"""

import base64
import hashlib
import hmac
import json
import pathlib
import shutil
import struct
import sys

FUZZ = pathlib.Path(__file__).resolve().parent
VECTORS = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else FUZZ.parent.parent / "shared" / "vectors"
CORPUS = FUZZ / "corpus"

# tests/it/support's SECRET_A (the targets' secret) and SECRET_B (a wrong key).
SECRET_A = b"test-secret-a-0123456789abcdef0123456789abcdef0123456789abcdef!!"
SECRET_B = b"test-secret-b-0123456789abcdef0123456789abcdef0123456789abcdef!!"
FAR = 4102444800  # 2100-01-01


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(header: bytes, payload: bytes, secret: bytes) -> str:
    signing_input = f"{b64(header)}.{b64(payload)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def load(relative: str):
    return json.loads((VECTORS / relative).read_text())


def write(target: str, seeds: list) -> None:
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("seed-*"):
        old.unlink()
    for name, data in seeds:
        if isinstance(data, str):
            data = data.encode()
        (folder / f"seed-{name}").write_bytes(data)
    print(f"{target}: {len(seeds)} seeds")


def wycheproof_tokens():
    """The first compact case of each JWS group, plus every named kind of malformation
    once: about thirty tokens."""
    doc = load("wycheproof/json_web_signature_test.json")
    picked, comments = [], set()
    for group in doc["testGroups"]:
        first = True
        for test in group["tests"]:
            jws = test["jws"]
            if not isinstance(jws, str):
                continue  # JSON serialization: not a compact token
            if first or test["comment"] not in comments:
                picked.append((f"wycheproof-jws-{test['tcId']}", jws))
                comments.add(test["comment"])
                first = False
    return picked[:30]


def cookbook_tokens():
    out = []
    for path in sorted((VECTORS / "jose-cookbook" / "jws").glob("*.json")):
        compact = json.loads(path.read_text()).get("output", {}).get("compact")
        if compact:
            out.append((f"cookbook-{path.name.split('.')[0]}", compact))
    return out


def header_payload(token: str):
    header, payload, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)
    return base64.urlsafe_b64decode(pad(header)), base64.urlsafe_b64decode(pad(payload))


def validator_tokens():
    hand = [
        ("none", b64(b'{"alg":"none"}') + "." + b64(b'{"sub":"x","exp":%d}' % FAR) + "."),
        ("wrong-secret", hs256(b'{"alg":"HS256","typ":"JWT"}', b'{"sub":"x","exp":%d}' % FAR, SECRET_B)),
        ("crit", hs256(b'{"alg":"HS256","crit":["exp"]}', b'{"exp":%d}' % FAR, SECRET_B)),
        ("kid-rsa", b64(b'{"alg":"RS256","kid":"rsa"}') + "." + b64(b'{"exp":1}') + ".AAAA"),
        ("kid-ed", b64(b'{"alg":"EdDSA","kid":"ed"}') + "." + b64(b"{}") + "." + "A" * 86),
        ("kid-ec", b64(b'{"alg":"ES256","kid":"ec"}') + "." + b64(b"{}") + "." + "A" * 86),
        ("four-parts", "a.b.c.d"),
        ("empty-signature", b64(b'{"alg":"HS256"}') + "." + b64(b"{}") + "."),
    ]
    return wycheproof_tokens() + cookbook_tokens() + hand


def signed_claims():
    seeds = []
    for name, token in wycheproof_tokens()[:8] + cookbook_tokens():
        if token.count(".") == 2 and not token.split(".")[1] == "":
            try:
                header, payload = header_payload(token)
            except ValueError:
                continue
            seeds.append((name, header + b"\xff" + payload))
    claims = lambda **kw: json.dumps(dict(kw)).encode()
    hand = [
        ("valid", b'{"alg":"HS256","typ":"JWT"}', claims(sub="ada", exp=FAR)),
        ("configured", b'{"alg":"HS256","typ":"at+jwt"}',
         claims(sub="ada", exp=FAR, iss="https://issuer.example", aud="api", scope="read write")),
        ("scp-array", b'{"alg":"HS256","typ":"application/at+jwt","kid":"k"}',
         claims(sub="ada", exp=FAR, iss="https://issuer.example", aud=["x", "api"], scp=["read"])),
        ("expired", b'{"alg":"HS256"}', claims(sub="ada", exp=1)),
        ("nbf-future", b'{"alg":"HS256"}', claims(exp=FAR, nbf=FAR - 1)),
        ("exp-float", b'{"alg":"HS256"}', b'{"exp":4102444800.75,"iat":1.5}'),
        ("exp-negative", b'{"alg":"HS256"}', b'{"exp":-1}'),
        ("refresh", b'{"alg":"HS256"}', claims(exp=FAR, token_type="refresh", jti="j", sid="s")),
        ("duplicate-exp", b'{"alg":"HS256"}', b'{"exp":1,"exp":4102444800}'),
        ("duplicate-alg", b'{"alg":"HS256","alg":"none"}', claims(exp=FAR)),
        ("crit", b'{"alg":"HS256","crit":[]}', claims(exp=FAR)),
        ("hs384", b'{"alg":"HS384"}', claims(exp=FAR)),
        ("aud-empty", b'{"alg":"HS256"}', b'{"exp":4102444800,"aud":[]}'),
        ("not-object", b'{"alg":"HS256"}', b'[4102444800]'),
    ]
    return seeds + [(name, h + b"\xff" + p) for name, h, p in hand]


def record(name: int, prefix: int, value: bytes) -> bytes:
    """One header record of request_headers: selector (name | prefix << 3), length, value."""
    return bytes([name | prefix << 3, len(value)]) + value


AUTHZ, COOKIE, CTYPE, ORIGIN, ACRM, XTOKEN, CLEN, TE = range(8)
GET, POST, OPTIONS = 0, 1, 2
WIDE = 0x80


def request_headers():
    # A real HS256 token (Wycheproof tcId 1, another key): short enough for one record.
    cookbook = wycheproof_tokens()[0][1].encode()
    preflight = record(ORIGIN, 0, b"https://app.example") + record(ACRM, 0, b"POST")
    seeds = [
        ("no-credentials", bytes([GET])),
        ("valid-bearer", bytes([GET]) + record(AUTHZ, 3, b"")),
        ("valid-bearer-wide", bytes([GET | WIDE]) + record(AUTHZ, 3, b"")),
        ("bad-bearer", bytes([GET]) + record(AUTHZ, 1, cookbook)),
        ("empty-bearer", bytes([POST]) + record(AUTHZ, 1, b"")),
        ("basic", bytes([GET]) + record(AUTHZ, 0, b"Basic dXNlcjpwYXNz")),
        ("two-authorization", bytes([GET]) + record(AUTHZ, 3, b"") + record(AUTHZ, 1, b"x")),
        ("cookie", bytes([GET | WIDE]) + record(COOKIE, 2, cookbook)),
        ("cookie-and-bearer", bytes([GET | WIDE]) + record(COOKIE, 2, b"a.b.c") + record(AUTHZ, 3, b"")),
        ("x-api-token", bytes([GET | WIDE]) + record(XTOKEN, 0, cookbook)),
        ("preflight", bytes([OPTIONS]) + preflight),
        ("preflight-wide", bytes([OPTIONS | WIDE]) + preflight),
        ("preflight-with-body", bytes([OPTIONS | WIDE]) + preflight + record(CLEN, 0, b"5")),
        ("preflight-grpc", bytes([OPTIONS | WIDE]) + preflight + record(CTYPE, 0, b"application/grpc")),
        ("preflight-chunked", bytes([OPTIONS | WIDE]) + preflight + record(TE, 0, b"chunked")),
        ("grpc", bytes([POST]) + record(CTYPE, 0, b"application/grpc+proto") + record(AUTHZ, 1, b"abc")),
        ("non-ascii", bytes([GET]) + record(AUTHZ, 1, "tökén".encode())),
    ]
    return seeds


def jwks_documents():
    seeds = []
    for path in sorted((VECTORS / "jose-cookbook" / "jwk").glob("*.json")):
        jwk = json.loads(path.read_text())
        name = path.name.split(".")[0]
        seeds.append((f"cookbook-jwk-{name}", json.dumps(jwk)))
        seeds.append((f"cookbook-jwks-{name}", json.dumps({"keys": [jwk]})))
    for group in load("wycheproof/json_web_key_test.json")["testGroups"]:
        key = group.get("public") or group["private"]
        tc = group["tests"][0]["tcId"]
        seeds.append((f"wycheproof-jwk-{tc}", json.dumps({"keys": [key]})))
    hand = [
        ("empty", '{"keys":[]}'),
        ("oct-short", '{"keys":[{"kty":"oct","k":"AAAA"}]}'),
        ("oct-hs512-short", json.dumps({"keys": [{"kty": "oct", "alg": "HS512", "k": b64(b"x" * 48)}]})),
        ("oct-ok", json.dumps({"keys": [{"kty": "oct", "kid": "a", "use": "sig", "k": b64(SECRET_A)}]})),
        ("mixed", '{"keys":[{"kty":"nope"},5,{"kty":"oct","key_ops":["sign"],"k":"' + b64(SECRET_A) + '"}]}'),
        ("array", "[[]]"),
    ]
    return seeds + hand


def cache_control():
    values = [
        "max-age=600", "public, max-age=600", 'Max-Age="60", must-revalidate', "no-store",
        "no-cache", 'no-cache="set-cookie", max-age=60', "max-age=60, no-store",
        "max-age=-1", "max-age=+5", "max-age=1.5", "max-age=99999999999999999999999",
        "max-age=0", "s-maxage=10, max-age=20, max-age=5", 'private="a, no-store", max-age=9',
        'x="\\"", no-cache', 'x="unterminated, no-store', " max-age = 7 ", "\tno-store\t",
        "MAX-AGE=3600,STALE-WHILE-REVALIDATE=60", "", ",,,", "max-age",
    ]
    return [(f"{i:02}", v) for i, v in enumerate(values)]


def revocation_messages():
    values = [
        "r 1764653000 sid:abc", "r 1.5 jti:with space", "h 0a1b2c3d4e5f6071 1764653000123",
        "h me 99999999999999999999999", "r  sid:x", "q 1 2",
    ]
    return [(f"{i:02}", v) for i, v in enumerate(values)]


def claim_answers():
    # Byte 0 even: roles, "path\npayload"; odd: an introspection answer body.
    roles = [
        ("roles-entra", "roles", '{"sub":"a","roles":["Reports.Read","auditor"]}'),
        ("roles-string", "groups", '{"groups":"staff"}'),
        ("roles-keycloak", "realm_access.roles", '{"realm_access":{"roles":["offline_access","auditor"]}}'),
        ("roles-client", "resource_access.api.roles", '{"resource_access":{"api":{"roles":["viewer"]},"x":{}}}'),
        ("roles-duplicate", "roles", '{"roles":["a"],"roles":["admin"]}'),
        ("roles-mixed", "roles", '{"roles":[1,"a",null,["b"],{"c":1},"d"]}'),
        ("roles-escaped", "roles", '{"ro\\u006ces":["\\u0061"]}'),
        ("roles-empty-segment", "a..b", '{"a":{"":{"b":["x"]}}}'),
        ("roles-truncated", "roles", '{"roles":["a"]'),
    ]
    answers = [
        ("answer-active", '{"active":true,"sub":"ada","scope":"read","exp":1764653000}'),
        ("answer-inactive", '{"active":false}'),
        ("answer-string-true", '{"active":"true"}'),
        ("answer-duplicate", '{"active":false,"active":true}'),
        ("answer-fractional-exp", '{"active":true,"exp":1764653000.75}'),
        ("answer-array", '[{"active":true}]'),
        ("answer-cnf", '{"active":true,"cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}'),
    ]
    return [(n, "\x00" + p + "\n" + j) for n, p, j in roles] + [(n, "\x01" + b) for n, b in answers]


def dpop_proofs():
    # Byte 0: the shape (0x80: the rest is the proof itself; 0x40: header JSON 0xFF payload
    # JSON, signed with the bound key; neither: chosen members), its low two bits the number
    # of DPoP headers (0 and 2: one, 1: two, 3: none). Chosen members: bytes 1-9 (typ, alg,
    # jwk, jti, htm, htu, iat offset in 10 s steps, iat present, ath), then free text; all
    # zero is a valid proof.
    valid = bytes(10)

    def change(index, value):
        b = bytearray(valid)
        b[index] = value
        return bytes(b)

    # Signed JSON: $x, $y (the bound key), $ath, $iat (now) and $jti (fresh) are filled in.
    jwk = '{"kty":"EC","crv":"P-256","x":"$x","y":"$y"}'
    header = '{"typ":"dpop+jwt","alg":"ES256","jwk":%s}' % jwk
    payload = '{"jti":"$jti","htm":"GET","htu":"https://api.example.test/orders","iat":$iat,"ath":"$ath"}'

    def signed(h, p):
        return b"\x40" + h.encode() + b"\xff" + p.encode()

    return [
        ("valid", valid),
        ("valid-query-in-htu", change(6, 1)),
        ("valid-iat-a-minute-ago", change(7, (-6) & 0xFF)),
        ("wrong-typ", change(1, 2)),
        ("hs256", change(2, 1)),
        ("alg-none", change(2, 2)),
        ("other-key", change(3, 1)),
        ("private-d", change(3, 2)),
        ("no-jwk", change(3, 3)),
        ("bound-to-other-key", change(3, 4)),
        ("empty-jti", change(4, 1)),
        ("wrong-htm", change(5, 1)),
        ("http-htu", change(6, 3)),
        ("other-host", change(6, 5)),
        ("iat-too-old", change(7, (-40) & 0xFF)),
        ("no-iat", change(8, 3)),
        ("no-ath", change(9, 2)),
        ("text-htu", change(6, 6) + b"https://api.example.test/%6Frders"),
        ("text-htu-dot-segments", change(6, 6) + b"HTTPS://api.example.test:443/a/../orders"),
        ("two-proofs", change(0, 1)),
        ("no-proof", change(0, 3)),
        ("raw", b"\x80eyJhbGciOiJFUzI1NiJ9.e30.c2ln"),
        ("json-valid", signed(header, payload)),
        ("json-typ-application", signed(header.replace("dpop+jwt", "application/DPoP+JWT"), payload)),
        ("json-crit", signed(header[:-1] + ',"crit":["exp"],"exp":1}', payload)),
        ("json-private-d", signed(header.replace('"$y"', '"$y","d":"$x"'), payload)),
        ("json-jwk-extra-members", signed(header.replace('"$y"', '"$y","kid":"k","alg":"ES256","use":"sig"'), payload)),
        ("json-duplicate-htm", signed(header, payload.replace('"htm":"GET"', '"htm":"POST","htm":"GET"'))),
        ("json-duplicate-typ", signed(header.replace('"typ":"dpop+jwt"', '"typ":"dpop+jwt","typ":"JWT"'), payload)),
        ("json-iat-string", signed(header, payload.replace(":$iat", ':"$iat"'))),
        ("json-iat-fraction", signed(header, payload.replace(":$iat", ":$iat.75"))),
        ("json-jti-number", signed(header, payload.replace('"$jti"', "7"))),
        ("json-htu-normalised", signed(header, payload.replace("https://api.example.test/orders", "https://API.Example.TEST:0443/./%6frders?x#y"))),
        ("json-htu-userinfo", signed(header, payload.replace("https://", "https://user@"))),
        ("json-nonce", signed(header, payload[:-1] + ',"nonce":"n-1"}')),
        ("json-not-utf8", b"\x40" + header.encode()[:-1] + b',"x":"\xc3"}\xff' + payload.encode()),
    ]


def forwarded_headers():
    """Peer byte (0 127.0.0.1, 1 ::ffff:127.0.0.2, 2 192.0.2.1, 3 none), flags byte (bit 0:
    htu from the forwarded values), then Host, X-Forwarded-Proto, X-Forwarded-Host, htu and
    X-Forwarded-For lines, separated by newlines."""

    def case(peer, flags, host, proto, fwd_host, htu, *forwarded_for):
        fields = [host, proto, fwd_host, htu, *forwarded_for]
        return bytes([peer, flags]) + "\n".join(fields).encode()

    public = "https://api.example.test:8443/orders"
    return [
        ("trusted", case(0, 0, "127.0.0.1:8001", "https", "api.example.test:8443", public, "198.51.100.4")),
        ("trusted-derived", case(0, 1, "127.0.0.1:8001", "https", "API.example.test:443", "")),
        ("trusted-mapped", case(1, 0, "api.example.test", "", "", "http://api.example.test/orders")),
        ("trusted-appended", case(0, 0, "x", "http, https", "evil.example, api.example.test:8443", public,
                                  "1.1.1.1, 127.0.0.1", "203.0.113.9, 127.0.0.5")),
        ("trusted-ftp", case(0, 1, "h", "ftp", "api.example.test", "")),
        ("trusted-userinfo", case(0, 1, "h", "https", "user@api.example.test", "")),
        ("trusted-bad-port", case(0, 1, "h", "https", "api.example.test:84x3", "")),
        ("trusted-xff-unknown", case(0, 0, "h", "https", "api.example.test", public, "unknown")),
        ("trusted-xff-ports", case(0, 0, "h", "", "", "", "[2001:db8::1]:4711, 127.0.0.1:80")),
        ("untrusted-spoof", case(2, 0, "api.example.test", "https", "evil.example", "https://evil.example/orders",
                                 "127.0.0.1")),
        ("untrusted-own-host", case(2, 0, "api.example.test", "https", "evil.example", "http://api.example.test/orders")),
        ("no-peer", case(3, 1, "api.example.test", "https", "api.example.test", "", "10.0.0.1")),
        ("non-ascii", case(0, 1, "h", "https", "api.exämple.test", "", "198.51.100.\u00ff")),
    ]


def main() -> None:
    write("validator_tokens", validator_tokens())
    write("signed_claims", signed_claims())
    write("request_headers", request_headers())
    write("jwks_documents", jwks_documents())
    write("cache_control", cache_control())
    write("revocation_messages", revocation_messages())
    write("dpop_proofs", dpop_proofs())
    write("claim_answers", claim_answers())
    write("forwarded_headers", forwarded_headers())
    for name in ("wycheproof", "jose-cookbook"):
        shutil.copyfile(VECTORS / name / "LICENSE", CORPUS / f"LICENSE-{name}")


if __name__ == "__main__":
    main()

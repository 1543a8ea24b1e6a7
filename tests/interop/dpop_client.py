#!/usr/bin/env python3
"""A DPoP client made with PyJWT and cryptography (RFC 9449), for the README walkthrough
and for the interop tests: proofs made by another library than the crate's.

    python3 tests/interop/dpop_client.py demo http://127.0.0.1:3000/me
        Makes a P-256 key, mints a development access token bound to it (HS256 with
        JWT_SECRET, or the examples' public development secret), then calls the URL with
        `Authorization: DPoP` and a fresh proof, then replays that proof.

    python3 tests/interop/dpop_client.py keygen ALG KEY.pem
        Writes a new private key for ALG (ES256, ES384, EdDSA, RS256, PS256, ...) to KEY.pem
        and prints {"jwk": <public JWK>, "jkt": <RFC 7638 thumbprint>} as JSON.

    python3 tests/interop/dpop_client.py proof ALG KEY.pem METHOD HTU TOKEN [IAT_OFFSET]
        Prints a proof by that key for METHOD HTU, carrying TOKEN's hash.

Needs: python3 -m pip install pyjwt cryptography
"""
import base64
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_key(alg: str):
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg[:2] in ("RS", "PS"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise SystemExit(f"no key type for {alg}")


def public_jwk(alg: str, key) -> dict:
    algorithm = jwt.get_algorithm_by_name(alg)
    jwk = json.loads(algorithm.to_jwk(key.public_key()))
    # The key alone: a proof's jwk needs no alg, use or kid.
    return {k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y", "n", "e")}


def thumbprint(jwk: dict) -> str:
    """RFC 7638: the required members, sorted, no whitespace, SHA-256, base64url."""
    required = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}
    canonical = json.dumps({m: jwk[m] for m in required[jwk["kty"]]}, separators=(",", ":"), sort_keys=True)
    return b64(hashlib.sha256(canonical.encode()).digest())


def proof(alg: str, key, method: str, htu: str, token: str, iat_offset: int = 0) -> str:
    claims = {
        "jti": str(uuid.uuid4()),
        "htm": method,
        "htu": htu,
        "iat": int(time.time()) + iat_offset,
        "ath": b64(hashlib.sha256(token.encode()).digest()),
    }
    headers = {"typ": "dpop+jwt", "jwk": public_jwk(alg, key)}
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def call(url: str, token: str, dpop_proof: str):
    request = urllib.request.Request(url, headers={"Authorization": f"DPoP {token}", "DPoP": dpop_proof})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read().decode(), None
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers.get("WWW-Authenticate")


def demo(url: str) -> int:
    alg, key = "ES256", new_key("ES256")
    jkt = thumbprint(public_jwk(alg, key))
    now = int(time.time())
    secret = os.environ.get("JWT_SECRET", DEV_SECRET)
    claims = {"sub": "demo-user", "scope": "read", "iat": now, "exp": now + 300, "cnf": {"jkt": jkt}}
    token = jwt.encode(claims, secret, algorithm="HS256")
    print(f"key thumbprint (cnf.jkt): {jkt}")
    # htu is the URL without query and fragment.
    first = proof(alg, key, "GET", url.split("?")[0].split("#")[0], token)
    status, body, challenge = call(url, token, first)
    print(f"with a fresh proof: {status} {body}")
    replay_status, _, replay_challenge = call(url, token, first)
    print(f"the same proof again: {replay_status} {replay_challenge}")
    return 0 if status == 200 and replay_status == 401 else 1


def main(argv) -> int:
    command = argv[1] if len(argv) > 1 else ""
    if command == "demo" and len(argv) == 3:
        return demo(argv[2])
    if command == "keygen" and len(argv) == 4:
        alg, path = argv[2], argv[3]
        key = new_key(alg)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        with open(path, "wb") as out:
            out.write(pem)
        jwk = public_jwk(alg, key)
        print(json.dumps({"jwk": jwk, "jkt": thumbprint(jwk)}))
        return 0
    if command == "proof" and len(argv) in (7, 8):
        alg, path, method, htu, token = argv[2:7]
        offset = int(argv[7]) if len(argv) == 8 else 0
        with open(path, "rb") as pem:
            key = serialization.load_pem_private_key(pem.read(), password=None)
        print(proof(alg, key, method, htu, token, offset))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

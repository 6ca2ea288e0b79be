"""Python's side of the Fernet interop test (test/unit/fernet.test.ts).

Reads one JSON request on stdin, answers one JSON object on stdout, using the reference
implementation, `cryptography.fernet`, so the test can check that tokens travel both ways.

  {"op": "version"}                                        -> {"version": "..."}
  {"op": "generate_key"}                                   -> {"key": "..."}
  {"op": "encrypt", "keys": [...], "plaintext_b64": "...", "at": seconds?}
                                                           -> {"token": "..."}
  {"op": "decrypt", "keys": [...], "token": "...", "ttl": seconds?, "now": seconds?}
                                                           -> {"plaintext_b64": "..."} | {"invalid": true}

Several keys go through MultiFernet: the first encrypts, any decrypts.
Exits 3 with a message on stderr when the library is missing, so the test can say so plainly.
"""

import base64
import json
import sys

try:
    import cryptography
    from cryptography.fernet import Fernet, InvalidToken, MultiFernet
except ImportError as error:
    sys.stderr.write(
        f"Python's 'cryptography' package is not importable ({error}); "
        "install it with: apt-get install python3-cryptography\n"
    )
    sys.exit(3)


def fernet(keys):
    return MultiFernet([Fernet(key) for key in keys])


def main():
    request = json.load(sys.stdin)
    op = request["op"]
    if op == "version":
        return {"version": cryptography.__version__}
    if op == "generate_key":
        return {"key": Fernet.generate_key().decode("ascii")}
    if op == "encrypt":
        plaintext = base64.b64decode(request["plaintext_b64"])
        f = fernet(request["keys"])
        at = request.get("at")
        token = f.encrypt(plaintext) if at is None else f.encrypt_at_time(plaintext, at)
        return {"token": token.decode("ascii")}
    if op == "decrypt":
        f = fernet(request["keys"])
        token = request["token"].encode("ascii")
        ttl = request.get("ttl")
        try:
            if request.get("now") is not None:
                plaintext = f.decrypt_at_time(token, ttl, request["now"])
            else:
                plaintext = f.decrypt(token, ttl)
        except InvalidToken:
            return {"invalid": True}
        return {"plaintext_b64": base64.b64encode(plaintext).decode("ascii")}
    raise SystemExit(f"unknown op {op!r}")


json.dump(main(), sys.stdout)

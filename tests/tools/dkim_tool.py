#!/usr/bin/python3
"""Test helper: DKIM keys and signatures made at test time with dkimpy (python3-dkim).

  dkim_tool.py keygen DIR [BITS]      writes DIR/key.pem, prints the key's TXT record
  dkim_tool.py sign KEY SELECTOR DOMAIN [--length] < message > signed message

Never used outside tests; keys live in the test's temporary directory.
"""
import base64
import os
import subprocess
import sys

import dkim

# RFC 8460 §5.3: the TLS-Report-* headers SHOULD be signed.
SIGNED_HEADERS = [b"from", b"to", b"subject", b"date", b"message-id", b"mime-version",
                  b"content-type", b"tls-report-domain", b"tls-report-submitter"]


def keygen(folder, bits="2048"):
    key = os.path.join(folder, "key.pem")
    subprocess.run(["openssl", "genrsa", "-out", key, bits], check=True, capture_output=True)
    der = subprocess.run(["openssl", "rsa", "-in", key, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    print("v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode())


def sign(key, selector, domain, length=False):
    message = sys.stdin.buffer.read()
    with open(key, "rb") as f:
        private = f.read()
    present = {line.split(b":", 1)[0].strip().lower()
               for line in message.split(b"\n\n", 1)[0].replace(b"\r", b"").split(b"\n") if b":" in line}
    headers = [h for h in SIGNED_HEADERS if h in present]
    sig = dkim.sign(message, selector.encode(), domain.encode(), private,
                    include_headers=headers, length=length, canonicalize=(b"relaxed", b"relaxed"))
    sys.stdout.buffer.write(sig + message)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "keygen":
        keygen(*sys.argv[2:4])
    elif len(sys.argv) >= 5 and sys.argv[1] == "sign":
        sign(sys.argv[2], sys.argv[3], sys.argv[4], "--length" in sys.argv[5:])
    else:
        sys.exit(__doc__)

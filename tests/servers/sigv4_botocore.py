#!/usr/bin/python3
# sigv4_botocore.py: sign requests with botocore's S3 SigV4 signer (Debian's
# python3-botocore) so tests/unit/test_sigv4.c can compare shelf's
# Authorization headers with it byte for byte.
#
# Input on stdin, one request per line, fields separated by tabs:
#   METHOD URL REGION ACCESS SECRET TOKEN DATE PAYLOAD [HEADER...]
# URL is the whole URL as sent (path and query already percent-encoded);
# TOKEN is "-" when there is no session token; DATE is x-amz-date
# (YYYYMMDDTHHMMSSZ); PAYLOAD is x-amz-content-sha256 (a hex hash or
# UNSIGNED-PAYLOAD); each HEADER is "Name: value" and the list must hold
# every header the request signs except x-amz-date, x-amz-content-sha256 and
# x-amz-security-token, which are added from the fields above.
#
# Output on stdout, one line per request:
#   AUTHORIZATION<TAB>CANONICAL-REQUEST
# with the canonical request's newlines written as the two characters "\n".
# Exits 0 when every line was signed, 2 on a malformed line.
#
# botocore's signer is driven step by step (canonical_request, then
# string_to_sign, signature, _inject_signature_to_request) instead of
# add_auth, which would stamp the current time and hash the body itself.
import sys

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def sign(fields):
    method, url, region, access, secret, token, date, payload = fields[:8]
    creds = Credentials(access, secret, None if token == "-" else token)
    auth = S3SigV4Auth(creds, "s3", region)
    req = AWSRequest(method=method, url=url)
    for h in fields[8:]:
        name, sep, value = h.partition(":")
        if not sep:
            raise ValueError("header without ':': %r" % h)
        req.headers.add_header(name, value.strip())
    req.headers["X-Amz-Date"] = date
    req.headers["X-Amz-Content-SHA256"] = payload
    if creds.token:
        req.headers["X-Amz-Security-Token"] = creds.token
    req.context["timestamp"] = date
    creq = auth.canonical_request(req)
    sts = auth.string_to_sign(req, creq)
    auth._inject_signature_to_request(req, auth.signature(sts, req))
    return req.headers["Authorization"], creq


def main():
    out = []
    for n, line in enumerate(sys.stdin, 1):
        line = line.rstrip("\n")
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) < 8:
            sys.stderr.write("sigv4_botocore.py: line %d: %d fields\n" % (n, len(fields)))
            return 2
        try:
            authz, creq = sign(fields)
        except ValueError as e:
            sys.stderr.write("sigv4_botocore.py: line %d: %s\n" % (n, e))
            return 2
        out.append(authz + "\t" + creq.replace("\n", "\\n"))
    sys.stdout.write("".join(o + "\n" for o in out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

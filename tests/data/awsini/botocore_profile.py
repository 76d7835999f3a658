#!/usr/bin/python3
"""botocore_profile.py FILE CONFIG PROFILE...: what botocore (awscli's library)
reads from an AWS shared credentials (CONFIG 0) or config file (CONFIG 1)
for each PROFILE, as one JSON line each: {"access_key", "secret_key",
"session_token", "region"} (null when absent), "NOTFOUND" or "ERROR".
test_creds compares shelf's reader with it."""
import json
import sys

import botocore.configloader as cl

path, config, wanted = sys.argv[1], sys.argv[2] == "1", sys.argv[3:]
try:
    if config:
        profiles = cl.build_profile_map(cl.raw_config_parse(path, parse_subsections=False))["profiles"]
    else:
        profiles = cl.raw_config_parse(path, parse_subsections=False)
except Exception:  # botocore refuses the file
    for _ in wanted:
        print(json.dumps("ERROR"))
    sys.exit(0)
for profile in wanted:
    if profile not in profiles:
        print(json.dumps("NOTFOUND"))
        continue
    p = profiles[profile]
    print(json.dumps({
        "access_key": p.get("aws_access_key_id"),
        "secret_key": p.get("aws_secret_access_key"),
        "session_token": p.get("aws_session_token", p.get("aws_security_token")),
        "region": p.get("region"),
    }, sort_keys=True))

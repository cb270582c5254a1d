"""Run a stage command and log when it started and ended (used by bench_growth.py).

Usage: ``python stamp_cmd.py LOG STAGE COMMAND...``; appends one JSON line
``{"stage", "start", "end", "returncode"}`` to LOG and exits with the command's status.
"""

import json
import subprocess
import sys
import time

log, stage, *command = sys.argv[1:]
start = time.time()
returncode = subprocess.call(command)
with open(log, "a", encoding="utf-8") as out:
    out.write(json.dumps({"stage": stage, "start": start, "end": time.time(), "returncode": returncode}) + "\n")
sys.exit(returncode)

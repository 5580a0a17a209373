"""The request loop shared by the Python sides of Research.Benchmarks (mixture_bench.py,
shapiro_bench.py): one request per line on stdin, one JSON reply per line on stdout, so that the
.NET side can interleave its timings with Python's on a shared machine.

Every worker answers `versions` (the versions it was given) and `quit`; any other request is
looked up by its first word in `handlers`, each a (number of arguments, function) pair whose
function takes the arguments as strings and returns a JSON-serialisable reply.
"""
import json
import sys


def serve(versions, handlers):
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "quit":
            break
        if parts[0] == "versions":
            reply = dict(versions, python=sys.version.split()[0])
        elif parts[0] in handlers and len(parts) - 1 == handlers[parts[0]][0]:
            reply = handlers[parts[0]][1](*parts[1:])
        else:
            reply = {"error": f"unknown request: {line.strip()}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()

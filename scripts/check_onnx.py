#!/usr/bin/python3
"""Independent validity check of emitted models: onnx.checker with full_check (shape inference, strict)."""
import sys

import onnx

failed = 0
for path in sys.argv[1:]:
    try:
        onnx.checker.check_model(path, full_check=True)
        print(f"ok {path}")
    except Exception as e:  # noqa: BLE001 - report every failure, keep checking the rest
        failed += 1
        print(f"FAIL {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
        print(str(e)[:2000], file=sys.stderr)
sys.exit(1 if failed else 0)

"""Run a module as `python -m` would, on a Python where TensorFlow is not importable.

    python tests/without_tensorflow.py pipeline.train --data ... --params ...

The GPU machine has JAX and no TensorFlow; this makes the CPU test machine look the same to the
code under test: `import tensorflow` fails and `importlib.util.find_spec` finds nothing.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

BLOCKED = ("tensorflow", "tf_keras", "tensorflow_model_optimization", "tf2onnx")

if __name__ == "__main__":
    for name in BLOCKED:
        sys.modules[name] = None  # type: ignore[assignment]  # import raises ModuleNotFoundError
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    module, sys.argv = sys.argv[1], sys.argv[1:]
    runpy.run_module(module, run_name="__main__", alter_sys=True)

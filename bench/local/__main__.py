"""Entry point: `python -m bench.local` (or `python bench/local` from the repo root).

`python -m bench.local grammar|lookup|generate` runs one part of ``bench/local/speed.py``.
"""

import sys
from pathlib import Path

if not __package__:  # run as a path: put the repo root on sys.path so `bench` imports
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

if {"grammar", "lookup", "generate"} & set(sys.argv[1:]):
    from bench.local.speed import main
else:
    from bench.local.run import main

raise SystemExit(main())

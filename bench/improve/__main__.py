"""Entry point: `python -m bench.improve` (or `python bench/quality` from the repo root)."""

import sys
from pathlib import Path

if not __package__:  # run as a path: put the repo root on sys.path so `bench` imports
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.improve.run import main

raise SystemExit(main())

"""Every command starts without loading the heavy libraries only a few of them use (scipy, statsmodels with
pandas, presidio with spaCy: together about 2 s before the first line of output)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("scipy", "statsmodels", "pandas", "presidio_analyzer", "spacy")


def test_the_cli_loads_no_heavy_library_at_start() -> None:
    code = "import sys, tokentrail.cli; print(' '.join(sorted(m for m in sys.modules if '.' not in m)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert set(loaded.stdout.split()) & set(HEAVY) == set()


def test_the_heavy_libraries_still_load_when_used() -> None:
    code = (
        "import sys\n"
        "from tokentrail.experiments.stats import t_interval\n"
        "from tokentrail.replay.similarity import jaccard\n"
        "print(t_interval(1.0, 4.0, 10).high, jaccard('a b', 'a c'))\n"
        "print(' '.join(m for m in ('scipy', 'presidio_analyzer') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    bound, similarity = out.stdout.splitlines()[0].split()
    assert float(bound) > 1.0 and float(similarity) == 1 / 3
    assert out.stdout.splitlines()[1] == "scipy presidio_analyzer"

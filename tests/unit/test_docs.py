"""docs/pool_types.md is made from the backend registry; keep them in step."""

import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_pool_types_doc_matches_backends():
    spec = importlib.util.spec_from_file_location('pool_types_doc', os.path.join(REPO, 'scripts', 'pool_types_doc.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with open(os.path.join(REPO, 'docs', 'pool_types.md')) as handle:
        assert handle.read() == module.render(), 'run: python scripts/pool_types_doc.py > docs/pool_types.md'

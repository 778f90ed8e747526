"""docs/pool_types.md and the per-type prose of storage_pool's DOCUMENTATION are made from the backend
registry and the options' table (module_utils/pool_options.py); keep them in step."""

import importlib.util
import os
import re

import pytest
import yaml

from ansible_collections.kvmops.storage.plugins.module_utils import pool_options
from ansible_collections.kvmops.storage.plugins.module_utils.backends import BACKENDS
from ansible_collections.kvmops.storage.plugins.module_utils.pool_options import TYPED_OPTIONS
from ansible_collections.kvmops.storage.plugins.modules import storage_pool

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_pool_types_doc_matches_backends():
    spec = importlib.util.spec_from_file_location('pool_types_doc', os.path.join(REPO, 'scripts', 'pool_types_doc.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with open(os.path.join(REPO, 'docs', 'pool_types.md')) as handle:
        assert handle.read() == module.render(), 'run: python scripts/pool_types_doc.py > docs/pool_types.md'


def _doc_tool():
    spec = importlib.util.spec_from_file_location('pool_types_doc', os.path.join(REPO, 'scripts', 'pool_types_doc.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _text(description):
    return ' '.join(' '.join(description) if isinstance(description, list) else description.split())


@pytest.mark.parametrize('option', TYPED_OPTIONS)
def test_each_typed_option_documents_the_types_that_take_it(option):
    """The last paragraph of a typed option's docs is made from the backends; no other type is named in them."""
    documented = yaml.safe_load(storage_pool.DOCUMENTATION)['options'][option]
    paragraph = _doc_tool().option_types_paragraph(option)
    assert _text(documented['description'][-1]) == paragraph, 'the docs of %s end with: %s' % (option, paragraph)
    named = set(re.findall(r'V\(([a-z-]+)\)', _text(documented['description']))) & set(BACKENDS)
    takes = set(name for name, cls in BACKENDS.items() if option in cls.options)
    assert named <= takes, '%s: the docs name %s, which do not take it' % (option, sorted(named - takes))
    assert documented['type'] == pool_options.BY_NAME[option].spec['type']
    assert documented.get('elements') == pool_options.BY_NAME[option].spec.get('elements')


def test_source_format_docs_list_each_types_formats():
    description = yaml.safe_load(storage_pool.DOCUMENTATION)['options']['source_format']['description']
    listed = {}
    for line in description:
        found = re.match(r'V\(([a-z-]+)\) - (.*)$', _text(line))
        if found:
            listed[found.group(1)] = re.findall(r'V\(([^)]+)\)', found.group(2))
    assert listed == dict((name, list(cls.source_formats)) for name, cls in BACKENDS.items() if cls.source_formats)


def test_pool_record_source_keys_are_documented():
    """The record keys of the options' table (pool.source.*) are what the RETURN of storage_pool names."""
    keys = set(option.record[1] for option in pool_options.POOL_OPTIONS if option.record[0] == 'source')
    described = yaml.safe_load(storage_pool.RETURN)['pool']['contains']['source']['description']
    assert set(re.findall(r'C\(([a-z_]+)\)', _text(described))) == keys
    target = set(option.record[1] for option in pool_options.POOL_OPTIONS if option.record[0] == 'target')
    assert target == {'path', 'permissions'}

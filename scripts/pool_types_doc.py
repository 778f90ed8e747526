"""Print docs/pool_types.md from the backend registry (tests/unit checks that the file matches)."""

import ast
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(os.path.dirname(HERE), 'tests', 'integration')
# what a module's pytestmark says about where its tests run
WHERE = {'lab': 'lab VM (Debian 12, over SSH)', 'ceph': 'host, one-node Ceph', 'tgtd': 'host, tgtd iSCSI target',
         'libvirt': 'host'}


def _marks(node):
    """The names of the pytest.mark.NAME expressions in ``node`` (a decorator, a pytestmark value)."""
    found = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Attribute) and sub.value.attr == 'mark':
            found.append(sub.attr)
    return found


def tested_types():
    """pool type -> [(where, test file, test function)] from the pool_type marks of tests/integration, and
    the types test_pool_define_only.py defines (where: 'define only')."""
    found = {}
    for filename in sorted(os.listdir(TESTS)):
        if not (filename.startswith('test_') and filename.endswith('.py')):
            continue
        with open(os.path.join(TESTS, filename)) as handle:
            tree = ast.parse(handle.read())
        module_marks = [mark for node in tree.body if isinstance(node, ast.Assign)
                        and any(getattr(t, 'id', None) == 'pytestmark' for t in node.targets) for mark in _marks(node)]
        where = next((WHERE[mark] for mark in module_marks if mark in WHERE), 'host')
        for node in tree.body:
            if isinstance(node, ast.Assign) and filename == 'test_pool_define_only.py' and \
                    any(getattr(t, 'id', None) == 'CASES' for t in node.targets):
                for key in node.value.keys:
                    found.setdefault(key.value, []).append(('define only', filename, 'test_define_diff_undefine'))
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and _marks(decorator.func) == ['pool_type']:
                    for arg in decorator.args:
                        found.setdefault(arg.value, []).append((where, filename, node.name))
    return found


def option_types_paragraph(option):
    """The paragraph that ends the DOCUMENTATION of a typed option of storage_pool: the pool types that take
    it and those whose new pools need it, from the backends (tests/unit/test_docs.py checks the module)."""
    from ansible_collections.kvmops.storage.plugins.module_utils.backends import BACKENDS

    def names(types):
        return ', '.join('V(%s)' % name for name in types)

    takes = [name for name, cls in BACKENDS.items() if option in cls.options]
    needs = [name for name, cls in BACKENDS.items() if option in cls.required]
    text = 'Pool types that take it - %s.' % names(takes)
    if needs:
        text += ' A new pool of type %s needs it.' % names(needs)
    return text


def render():
    from ansible_collections.kvmops.storage.plugins.module_utils.backends import BACKENDS, REMOVED_TYPES
    from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import CAPABILITIES

    lines = [
        '# Pool types',
        '',
        'What `kvmops.storage.storage_pool` takes for each libvirt pool type, and what libvirt 9 can do',
        'with pools and volumes of that type. The collection refuses an operation a type cannot do before',
        'it changes anything. This page is made from `plugins/module_utils/backends/` by',
        '`scripts/pool_types_doc.py`; a unit test keeps the two in step.',
        '',
        '## Options per type',
        '',
        '| type | what it is | options | required for a new pool | source_format | default target |',
        '| --- | --- | --- | --- | --- | --- |',
    ]
    for name, cls in BACKENDS.items():
        lines.append('| `%s` | %s | %s | %s | %s | %s |' % (
            name, cls.summary, ', '.join('`%s`' % o for o in cls.options) or '-',
            ', '.join('`%s`' % o for o in cls.required) or '-',
            ', '.join(cls.source_formats) or '-', cls.default_target or '-'))
    lines += ['', '## Capabilities', '', '| type | ' + ' | '.join(CAPABILITIES) + ' |',
              '| --- |' + ' --- |' * len(CAPABILITIES)]
    for name, cls in BACKENDS.items():
        cells = ['yes' if c in cls.capabilities else '-' for c in CAPABILITIES]
        lines.append('| `%s` | ' % name + ' | '.join(cells) + ' |')
    lines += ['', '`build` is `virsh pool-build`; `delete` is `virsh pool-delete` (used by `state: deleted`);',
              '`volume_backing` is a new volume over a backing store (qcow2 overlay, LVM snapshot).', '',
              '## Volumes per type', '',
              'What `kvmops.storage.storage_volume` accepts as `format` (the first is the default), and how far',
              'above a requested capacity the type may round a new volume (a capacity within it is no change),',
              'and whether its volumes are thin (they take space as data is written, so their capacities may add',
              'up to more than the pool holds: `thin_provisioned` in the pool records of `storage_pool` and',
              '`storage_facts`).', '',
              '| type | format | capacity rounding | thin |', '| --- | --- | --- | --- |']
    for name, cls in BACKENDS.items():
        granularity = cls.volume_granularity
        rounding = '-' if granularity <= 1 else '%d MiB' % (granularity // (1024 * 1024))
        if cls.granularity_note:
            rounding = cls.granularity_note
        thin = 'yes' if cls.thin_provisioned else '-'
        lines.append('| `%s` | %s | %s | %s |' % (name, ', '.join(cls.volume_formats) or '-', rounding, thin))
    lines += ['', 'Image formats round too: qcow2 and qed to 512 bytes, vmdk to 64 KiB, vdi to 1 MiB, vpc to',
              'its disk geometry (up to 16 MiB).', '', '## Where each type is tested', '',
              'Where the integration tests (`tests/integration/`) run a pool of each type for real - defined,',
              'built where the type builds, started, with volumes where it has them, each step in check mode and',
              'for real and a second run that changes nothing - and where a type is only defined, compared and',
              'undefined on the host\'s libvirtd (its storage is not there); there a type whose storage driver the',
              'daemon lacks (Debian 12\'s libvirt has none for `vstorage`) is refused before anything is defined, as',
              'the test checks. Made from the tests\' `pool_type` marks.',
              '', '| type | for real on | tests |', '| --- | --- | --- |']
    tested = tested_types()
    for name in BACKENDS:
        runs = tested.get(name, [])
        real = [run for run in runs if run[0] != 'define only']
        places = sorted(set(run[0] for run in real)) or ['define only' if runs else 'not tested']
        names = ', '.join('`%s::%s`' % (filename, func) for _where, filename, func in (real or runs))
        lines.append('| `%s` | %s | %s |' % (name, '; '.join(places), names or '-'))
    lines += ['', '## Removed types', '']
    for name, why in REMOVED_TYPES.items():
        lines.append('- `%s`: %s.' % (name, why))
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    sys.stdout.write(render())

"""Print docs/pool_types.md from the backend registry (tests/unit checks that the file matches)."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


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
              'its disk geometry (up to 16 MiB).', '', '## Removed types', '']
    for name, why in REMOVED_TYPES.items():
        lines.append('- `%s`: %s.' % (name, why))
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    sys.stdout.write(render())

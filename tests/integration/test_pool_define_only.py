"""Define-level checks on the real libvirtd for pool types whose storage runs elsewhere
(define, no-op, diff of a changed option, undefine)."""

import os

import pytest
from lxml import etree

from helpers import pool_defined, run_module, virsh

pytestmark = pytest.mark.libvirt

CASES = {
    'logical': ({'source_name': 'vg_it', 'source_dev': ['/dev/vdb']}, {'source_dev': ['/dev/vdb', '/dev/vdc']},
                '/dev/vdc'),
    'netfs': ({'source_host': ['127.0.0.1'], 'source_path': '/srv/nfs/share', 'source_format': 'nfs',
               'target': '/tmp/it-netfs'}, {'mount_opts': ['nfsvers=4.2']}, 'nfsvers=4.2'),
    'iscsi': ({'source_host': ['127.0.0.1:3260'], 'source_dev': ['iqn.2026-11.io.kvmops:test']},
              {'source_initiator': 'iqn.2026-11.io.kvmops:hv9'}, 'iqn.2026-11.io.kvmops:hv9'),
    'scsi': ({'source_adapter': {'type': 'scsi_host', 'name': 'host0'}},
             {'source_adapter': {'type': 'scsi_host', 'name': 'host1'}}, 'host1'),
    'mpath': ({}, {'target': '/dev/disk/by-id'}, '/dev/disk/by-id'),
    'rbd': ({'source_name': 'vms', 'source_host': ['127.0.0.1:6789']},
            {'source_host': ['127.0.0.1:6789', '127.0.0.2:6789']}, '127.0.0.2'),
    'gluster': ({'source_host': ['127.0.0.1'], 'source_name': 'gv0', 'source_path': '/'},
                {'source_path': '/vms'}, '/vms'),
    'zfs': ({'source_name': 'tank'}, {'source_dev': ['/dev/vdd']}, '/dev/vdd'),
    'vstorage': ({'source_name': 'VZ7-CLUSTER', 'target': '/mnt/vstorage'}, {'target': '/mnt/vz2'}, '/mnt/vz2'),
}


def supported_types():
    """The pool types this libvirtd has a storage backend for (virsh pool-capabilities)."""
    caps = etree.fromstring(virsh('pool-capabilities').encode())
    return set(pool.get('type') for pool in caps.findall('pool') if pool.get('supported') == 'yes')


@pytest.mark.parametrize('pool_type', sorted(CASES))
def test_define_diff_undefine(pool_type):
    name = 'it-def-%s-%d' % (pool_type, os.getpid())
    options, change, marker = CASES[pool_type]
    args = dict(options, name=name, type=pool_type, state='present')
    if pool_type not in supported_types():
        # libvirt was built without this backend: refused before the define, in check mode too, naming the type
        for check in (True, False):
            failed = run_module('storage_pool', args, check=check)
            assert failed['failed'] is True and failed['error'] == 'UnsupportedError', failed
            assert failed['msg'].startswith("type %s: the libvirt daemon has no storage driver for %s pools (its "
                                            "pool capabilities say supported='no'), so it cannot define pool %s; "
                                            % (pool_type, pool_type, name)), failed['msg']
            assert not pool_defined(name)
        return
    try:
        planned = run_module('storage_pool', args, check=True, diff=True)
        assert planned['actions'] == ['define']
        assert not pool_defined(name)
        applied = run_module('storage_pool', args, diff=True)
        assert applied['actions'] == ['define'], applied
        assert applied['pool']['state'] == 'inactive'
        assert run_module('storage_pool', args, check=True)['changed'] is False
        assert run_module('storage_pool', args)['changed'] is False

        changed = dict(args, **change)
        planned = run_module('storage_pool', changed, check=True, diff=True)
        assert planned['actions'] == ['redefine']
        assert marker in planned['diff']['after'] and marker not in planned['diff']['before']
        done = run_module('storage_pool', changed)
        assert done['actions'] == ['redefine']
        assert marker in virsh('pool-dumpxml', '--inactive', name)
        assert run_module('storage_pool', changed)['changed'] is False

        removed = run_module('storage_pool', {'name': name, 'state': 'absent'})
        assert removed['actions'] == ['undefine']
        assert not pool_defined(name)
    finally:
        virsh('pool-undefine', name, check=False)

"""The options' table of storage_pool (module_utils/pool_options.py): the argument spec, the writer and the
reader made from it agree, on the pool documents of libvirt's own test suite as libvirt's parser stores them."""

import glob
import os

import pytest

from ansible_collections.kvmops.storage.plugins.module_utils import canon
from ansible_collections.kvmops.storage.plugins.module_utils import pool_options
from ansible_collections.kvmops.storage.plugins.module_utils import xml as xmlu
from ansible_collections.kvmops.storage.plugins.module_utils.backends import BACKENDS
from ansible_collections.kvmops.storage.plugins.module_utils.errors import ValidationError
from ansible_collections.kvmops.storage.plugins.module_utils.pool import pool_argument_spec

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.environ.get('KVMOPS_XML_CORPUS') or os.path.join(REPO, '..', 'shared', 'corpus', 'libvirt-xml')
DOCUMENTS = sorted(glob.glob(os.path.join(CORPUS, 'pool', '*.xml')))


# libvirt keeps <target><permissions> in the definition of every type that has a target, and uses them only
# where the target is a directory (dir, fs, netfs, vstorage); the other types refuse the options
PERMISSIONS = {'target_mode', 'target_owner', 'target_group', 'target_label'}
# targets libvirt fills in itself: a zfs pool's is /dev/zvol/<zpool>
COMPUTED = {'zfs': {'target'}}


def managed(path):
    return xmlu.parse(open(path).read()).get('type') in BACKENDS


def test_the_corpus_is_there():
    assert len(DOCUMENTS) >= 30, 'libvirt\'s pool documents are read from %s (or set KVMOPS_XML_CORPUS)' % CORPUS


def test_argument_spec_and_containers_come_from_the_table():
    spec = pool_argument_spec()
    for option in pool_options.POOL_OPTIONS:
        assert spec[option.name] == option.spec
    assert set(option.path.split('/')[0] for option in pool_options.POOL_OPTIONS) == set(pool_options.CONTAINERS)
    for name, cls in BACKENDS.items():
        assert set(cls.options) <= set(pool_options.TYPED_OPTIONS), name


@pytest.mark.parametrize('path', [p for p in DOCUMENTS if managed(p)], ids=lambda p: os.path.basename(p)[:-4])
def test_libvirt_documents_read_write_and_read_back(path):
    """A libvirt test document as libvirt stores it, read into typed options, written by the backend of its
    type and stored by libvirt's parser again, reads back as the same options; and every option read is one
    that its type takes."""
    stored = canon.pool_document(xmlu.parse(open(path).read()))
    type_name = stored.get('type')
    options = pool_options.read(stored)
    assert options, 'nothing read from %s' % path
    cls = BACKENDS[type_name]
    untaken = set(options) - set(cls.options)
    assert untaken <= PERMISSIONS | COMPUTED.get(type_name, set()), 'options libvirt stores for %s that the type does not take: %s' % (
        type_name, sorted(untaken))
    options = dict((key, value) for key, value in options.items() if key not in untaken)
    written = cls(dict(options, name=stored.findtext('name'))).to_xml()
    again = dict((key, value) for key, value in pool_options.read(canon.pool_document(written)).items()
                 if key not in untaken)
    expected = dict(options)
    if getattr(cls, 'default_port', None) and 'source_host' in expected:
        # a portal without a port is written with the iSCSI port libvirt puts in when it starts the pool
        expected['source_host'] = [host if ':' in host else '%s:%d' % (host, cls.default_port)
                                   for host in expected['source_host']]
    assert again == expected


@pytest.mark.parametrize('name, value, text', [
    ('target', '/var//lib/./images/', '/var/lib/images'),
    ('target_mode', '0070', '070'),
    ('source_path', '///export//vms/', '/export/vms'),
    ('secret_uuid', '0D4F7C2A8A1E4C559D2B5F3E1A7B9C01', '0d4f7c2a-8a1e-4c55-9d2b-5f3e1a7b9c01'),
    ('source_host', ['[fe80::1]:6789', 'mon2'], ['[fe80::1]:6789', 'mon2']),
    ('source_adapter', {'type': 'fc_host', 'managed': True, 'wwnn': '20000000c9831b4b'},
     {'type': 'fc_host', 'wwnn': '20000000c9831b4b', 'managed': 'yes'}),
    ('mount_opts', ['nfsvers=4.2', 'noatime'], ['nfsvers=4.2', 'noatime']),
])
def test_write_then_read_gives_the_stored_form(name, value, text):
    root = pool_options.write(xmlu.element('pool', nsmap=pool_options.NAMESPACES, type='netfs'), {name: value})
    assert pool_options.read(root) == {name: text}


def test_minus_one_owner_writes_nothing_and_an_empty_list_its_container():
    root = pool_options.write(xmlu.element('pool', nsmap=pool_options.NAMESPACES, type='netfs'),
                              {'target_owner': '-1', 'mount_opts': []})
    assert [xmlu.local_name(child) for child in root] == ['fs:mount_opts']
    assert pool_options.read(root) == {}


def test_record_places_each_option_at_its_key():
    root = pool_options.write(xmlu.element('pool', type='rbd'), {
        'source_host': ['mon1:6789'], 'source_name': 'rbd', 'auth_type': 'ceph', 'auth_username': 'libvirt',
        'secret_usage': 'client.libvirt secret', 'target_mode': '0711'})
    assert pool_options.record(root) == {
        'target': {'path': None, 'permissions': {'mode': '0711'}},
        'source': {'hosts': ['mon1:6789'], 'name': 'rbd',
                   'auth': {'type': 'ceph', 'username': 'libvirt', 'usage': 'client.libvirt secret'}}}


@pytest.mark.parametrize('type_name', sorted(BACKENDS))
def test_every_list_option_is_replaced_as_a_whole(type_name):
    """A list a task gives replaces the live one (merge's atomic paths): each list option's elements, or the
    container that holds them, is an atomic path of every backend."""
    atomic = set(BACKENDS[type_name].atomic_paths)
    for option in pool_options.POOL_OPTIONS:
        if pool_options.is_list(option):
            parts = option.path.split('/')
            assert option.path in atomic or '/'.join(parts[:-1]) in atomic, (type_name, option.name)


@pytest.mark.parametrize('address', ['0000:00:1f.2', '00:1f.2', {'domain': 0, 'bus': 0, 'slot': 31, 'function': 2},
                                     {'domain': '0x0', 'bus': '0x00', 'slot': '0x1F', 'function': '2'}])
def test_a_scsi_host_found_by_its_pci_address(address):
    adapter = {'type': 'scsi_host', 'parentaddr': {'unique_id': 5, 'address': address}}
    backend = BACKENDS['scsi'](dict(dict.fromkeys(pool_options.TYPED_OPTIONS), name='hba0', source_adapter=adapter))
    backend.validate(True)
    stored = canon.pool_document(backend.to_xml(defining=True))
    assert pool_options.read(stored)['source_adapter'] == {'type': 'scsi_host', 'parentaddr': {
        'unique_id': '5', 'address': {'domain': '0x0000', 'bus': '0x00', 'slot': '0x1f', 'function': '0x2'}}}


BAD_SLOT = {'domain': 0, 'bus': 0, 'slot': 32, 'function': 0}


@pytest.mark.parametrize('adapter, words', [
    ({'type': 'scsi_host', 'name': 'host0', 'parentaddr': {'unique_id': 1, 'address': '00:05.0'}}, 'no name'),
    ({'type': 'fc_host', 'parentaddr': {'unique_id': 1, 'address': '00:05.0'}}, 'type scsi_host'),
    ({'type': 'scsi_host', 'parentaddr': {'address': '00:05.0'}}, 'unique_id'),
    ({'type': 'scsi_host', 'parentaddr': {'unique_id': 1, 'address': '00:05'}}, 'not a PCI address'),
    ({'type': 'scsi_host', 'parentaddr': {'unique_id': 1, 'address': BAD_SLOT}}, 'parentaddr.address.slot'),
])
def test_a_bad_parentaddr_is_refused_naming_it(adapter, words):
    backend = BACKENDS['scsi'](dict(dict.fromkeys(pool_options.TYPED_OPTIONS), name='hba0', source_adapter=adapter))
    with pytest.raises(ValidationError) as failure:
        backend.validate(True)
    assert 'source_adapter' in str(failure.value) and words in str(failure.value)

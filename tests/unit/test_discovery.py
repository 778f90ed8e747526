"""Unit tests of pool source discovery (storage_facts ``discover``): input checks, libvirt's <sources>
read into storage_pool options, errors."""

import libvirt
import pytest

from fake_libvirt import FakeConn, libvirt_error, pool_params
from test_facts import params
from ansible_collections.kvmops.storage.plugins.module_utils import discovery
from ansible_collections.kvmops.storage.plugins.module_utils import facts as factsu
from ansible_collections.kvmops.storage.plugins.module_utils.backends import backend_class
from ansible_collections.kvmops.storage.plugins.module_utils.errors import OperationError, ValidationError

# what libvirt 9 answers (virsh find-storage-pool-sources-as prints the same)
NETFS = """<sources>
  <source>
    <host name='nfs1'/>
    <dir path='/srv/nfs/vms'/>
    <format type='nfs'/>
  </source>
  <source>
    <host name='nfs1'/>
    <dir path='/srv/nfs/iso'/>
    <format type='nfs'/>
  </source>
</sources>
"""
LOGICAL = """<sources>
  <source>
    <device path='/dev/vdb'/>
    <device path='/dev/vdc'/>
    <name>vg_kvm</name>
    <format type='lvm2'/>
  </source>
</sources>
"""
ISCSI_DIRECT = """<sources>
  <source>
    <host name='127.0.0.1' port='3260'/>
    <device path='iqn.2026-11.io.kvmops:test'/>
    <initiator>
      <iqn name='iqn.2026-11.io.kvmops:hv1'/>
    </initiator>
  </source>
</sources>
"""


def finder(conn, answer=None, error=None):
    """conn.findStoragePoolSources answering ``answer`` (or raising ``error``), recording its calls."""
    def find(type_name, spec, flags):
        conn.record('findStoragePoolSources', type_name, spec, flags)
        if error is not None:
            raise error
        return answer
    conn.findStoragePoolSources = find


@pytest.mark.parametrize('value, option, words', [
    ({'host': 'nfs1'}, 'discover.type', ['required', 'netfs', 'logical', 'iscsi-direct']),
    ({'type': 'dir'}, 'discover.type', ["'dir'", 'gluster, iscsi, iscsi-direct, logical, netfs']),
    ({'type': 'netfs'}, 'discover.host', ['required for netfs']),
    ({'type': 'netfs', 'host': '  '}, 'discover.host', ['empty']),
    ({'type': 'logical', 'host': 'nfs1'}, 'discover.host', ['logical discovery takes no host']),
    ({'type': 'netfs', 'host': 'nfs1', 'port': 2049}, 'discover.port', ['netfs discovery takes no port']),
    ({'type': 'iscsi', 'host': 'san', 'port': 70000}, 'discover.port', ['70000', '1 to 65535']),
    ({'type': 'iscsi-direct', 'host': 'san'}, 'discover.initiator', ['required for iscsi-direct', 'IQN']),
    ({'type': 'netfs', 'host': 'nfs1', 'initiator': 'iqn.x'}, 'discover.initiator', ['takes no initiator']),
    ({'type': 'netfs', 'host': 'nfs1', 'path': '/x'}, 'discover', ['path not known', 'type, host, port, initiator']),
    ('netfs', 'discover', ['must be a dict']),
])
def test_bad_discover_is_refused_before_libvirt_is_asked(value, option, words):
    conn = FakeConn()
    with pytest.raises(ValidationError) as info:
        factsu.FactsManager(conn, params(discover=value))
    assert info.value.option == option
    for word in words:
        assert word in info.value.msg
    assert conn.calls == []


def test_source_spec():
    assert discovery.parse_discover({'type': 'logical'}) == ('logical', None)
    assert discovery.parse_discover({'type': 'netfs', 'host': 'nfs1', 'port': None}) == (
        'netfs', '<source><host name="nfs1"/></source>')
    assert discovery.parse_discover({'type': 'iscsi-direct', 'host': '127.0.0.1', 'port': '3260',
                                     'initiator': 'iqn.2026-11.io.kvmops:hv1'}) == (
        'iscsi-direct', '<source><host name="127.0.0.1" port="3260"/><initiator><iqn name="iqn.2026-11.io.kvmops:hv1"/>'
                        '</initiator></source>')


@pytest.mark.parametrize('type_name, text, expected', [
    ('netfs', NETFS, [{'type': 'netfs', 'source_host': ['nfs1'], 'source_path': '/srv/nfs/vms', 'source_format': 'nfs'},
                      {'type': 'netfs', 'source_host': ['nfs1'], 'source_path': '/srv/nfs/iso', 'source_format': 'nfs'}]),
    ('logical', LOGICAL, [{'type': 'logical', 'source_dev': ['/dev/vdb', '/dev/vdc'], 'source_name': 'vg_kvm',
                           'source_format': 'lvm2'}]),
    ('iscsi-direct', ISCSI_DIRECT, [{'type': 'iscsi-direct', 'source_host': ['127.0.0.1:3260'],
                                     'source_dev': ['iqn.2026-11.io.kvmops:test'],
                                     'source_initiator': 'iqn.2026-11.io.kvmops:hv1'}]),
    ('logical', '<sources/>', []),
    ('logical', '', []),
])
def test_sources_as_storage_pool_options(type_name, text, expected):
    assert discovery.parse_sources(type_name, text) == expected


@pytest.mark.parametrize('type_name, text, extra', [
    ('netfs', NETFS, {'target': '/var/lib/libvirt/nfs/vms'}),
    ('logical', LOGICAL, {}),
    ('iscsi-direct', ISCSI_DIRECT, {}),
])
def test_a_discovered_entry_is_a_storage_pool_task(type_name, text, extra):
    """Each entry, with a name (and a target where the type needs one), is what storage_pool takes."""
    entry = discovery.parse_sources(type_name, text)[0]
    options = dict((key, value) for key, value in entry.items() if key != 'type')
    backend = backend_class(entry['type'])(pool_params(name='found', type=entry['type'], **dict(options, **extra)))
    backend.validate(True)
    xml = backend.to_xml(defining=True)
    from ansible_collections.kvmops.storage.plugins.module_utils import pool_options
    read_back = pool_options.read(xml)
    assert dict((key, read_back[key]) for key in options) == options, 'the definition made of it reads back the same'


def test_facts_with_discover():
    conn = FakeConn()
    finder(conn, NETFS)
    result = factsu.FactsManager(conn, params(gather=['pools'], discover={'type': 'netfs', 'host': 'nfs1'})).run()
    facts = result['ansible_facts']['libvirt_storage']
    assert [entry['source_path'] for entry in facts['discovered']] == ['/srv/nfs/vms', '/srv/nfs/iso']
    assert conn.calls_of('findStoragePoolSources') == [('netfs', '<source><host name="nfs1"/></source>', 0)]
    assert facts['pools'] == {}


def test_type_libvirt_cannot_discover_names_the_option():
    conn = FakeConn()
    finder(conn, error=libvirt_error("this function is not supported by the connection driver: pool type 'gluster' "
                                     "does not support source discovery", libvirt.VIR_ERR_NO_SUPPORT))
    with pytest.raises(ValidationError) as info:
        factsu.FactsManager(conn, params(discover={'type': 'gluster', 'host': 'g1'})).run()
    assert info.value.option == 'discover.type'
    assert info.value.msg.startswith('discover.type: the libvirt on this host cannot discover gluster pool sources')


def test_failed_discovery_names_the_option_and_host():
    conn = FakeConn()
    finder(conn, error=libvirt_error("operation failed: no storage pools were found on host 'nfs9'",
                                     libvirt.VIR_ERR_OPERATION_FAILED))
    with pytest.raises(OperationError) as info:
        factsu.FactsManager(conn, params(discover={'type': 'netfs', 'host': 'nfs9'})).run()
    assert info.value.msg == ("discover: discovering netfs pool sources on nfs9 failed: operation failed: no storage "
                              "pools were found on host 'nfs9'")


def test_discovery_that_does_not_answer():
    import threading
    conn = FakeConn()
    release = threading.Event()

    def find(type_name, spec, flags):
        release.wait(30)
        return '<sources/>'
    conn.findStoragePoolSources = find
    try:
        with pytest.raises(OperationError) as info:
            factsu.FactsManager(conn, params(discover={'type': 'iscsi', 'host': 'san', 'port': 3260},
                                             timeout=0.2)).run()
    finally:
        release.set()
    assert info.value.msg.startswith('discover: discovering iscsi pool sources on san:3260: libvirt did not answer '
                                     'within timeout=0.2 s')

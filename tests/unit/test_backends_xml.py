"""Backends: typed options -> pool XML, compared with libvirt's own examples; validation.

The expected documents are the example pool definitions of libvirt's storage
driver page (https://libvirt.org/storage.html, one per pool type) and of
https://libvirt.org/formatstorage.html (source/target/namespace snippets),
written as libvirt writes them.  Where an example uses an element no typed
option produces, the note says what was left out.
"""

import pytest
from lxml import etree

from ansible_collections.kvmops.storage.plugins.module_utils import xml
from ansible_collections.kvmops.storage.plugins.module_utils.backends import (
    BACKENDS,
    POOL_TYPES,
    REMOVED_TYPES,
    backend_class,
)
from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import (
    CAPABILITIES,
    PoolBackend,
    validate_name,
)
from ansible_collections.kvmops.storage.plugins.module_utils.pool_options import FS_NS, TYPED_OPTIONS, parse_host
from ansible_collections.kvmops.storage.plugins.module_utils.errors import ValidationError

ALL_TYPES = ('dir', 'fs', 'netfs', 'logical', 'disk', 'iscsi', 'iscsi-direct', 'scsi', 'mpath', 'rbd',
             'gluster', 'zfs', 'vstorage')


def params(name, **given):
    """Typed options as the module passes them: every key present, None meaning not given."""
    result = dict.fromkeys(TYPED_OPTIONS)
    unknown = set(given) - set(TYPED_OPTIONS)
    assert not unknown, unknown
    result.update(given)
    result['name'] = name
    return result


def build(type_name, name, defining=True, validate=True, **given):
    backend = backend_class(type_name)(params(name, **given))
    if validate:
        backend.validate(defining)
    return backend.to_xml(defining=defining)


# (case id, pool type, pool name, typed options, expected XML, tags out of libvirt's order in our output)
EXAMPLES = [
    ('dir', 'dir', 'virtimages', dict(target='/var/lib/virt/images'), """
<pool type="dir">
  <name>virtimages</name>
  <target>
    <path>/var/lib/virt/images</path>
  </target>
</pool>"""),
    # formatstorage.html, "Storage pool target elements" (path and permissions)
    ('dir-permissions', 'dir', 'virtimages',
     dict(target='/dev/disk/by-path', target_owner='107', target_group=107, target_mode='0744',
          target_label='virt_image_t'), """
<pool type="dir">
  <name>virtimages</name>
  <target>
    <path>/dev/disk/by-path</path>
    <permissions>
      <owner>107</owner>
      <group>107</group>
      <mode>0744</mode>
      <label>virt_image_t</label>
    </permissions>
  </target>
</pool>"""),
    ('fs', 'fs', 'virtimages', dict(source_dev=['/dev/VolGroup00/VirtImages'], target='/var/lib/virt/images'), """
<pool type="fs">
  <name>virtimages</name>
  <source>
    <device path="/dev/VolGroup00/VirtImages"/>
  </source>
  <target>
    <path>/var/lib/virt/images</path>
  </target>
</pool>"""),
    ('netfs', 'netfs', 'virtimages',
     dict(source_host=['nfs.example.com'], source_path='/var/lib/virt/images', source_format='nfs',
          target='/var/lib/virt/images'), """
<pool type="netfs">
  <name>virtimages</name>
  <source>
    <host name="nfs.example.com"/>
    <dir path="/var/lib/virt/images"/>
    <format type='nfs'/>
  </source>
  <target>
    <path>/var/lib/virt/images</path>
  </target>
</pool>"""),
    # formatstorage.html, "Storage Pool Namespaces" (fs:mount_opts) with the source/target snippets;
    # <protocol ver='3'/> of the source snippet is left out: no typed option makes it.
    ('netfs-mount-opts', 'netfs', 'nfsimages',
     dict(source_host=['localhost'], source_path='/var/lib/libvirt/images', source_format='nfs',
          target='/var/lib/libvirt/images', target_mode='0755', target_owner=0, target_group='0',
          mount_opts=['sync', 'lazytime']), """
<pool type="netfs" xmlns:fs='http://libvirt.org/schemas/storagepool/fs/1.0'>
  <name>nfsimages</name>
  <source>
    <host name="localhost"/>
    <dir path="/var/lib/libvirt/images"/>
    <format type='nfs'/>
  </source>
  <target>
    <path>/var/lib/libvirt/images</path>
    <permissions>
      <mode>0755</mode>
      <owner>0</owner>
      <group>0</group>
    </permissions>
  </target>
  <fs:mount_opts>
    <fs:option name='sync'/>
    <fs:option name='lazytime'/>
  </fs:mount_opts>
</pool>"""),
    # storage.html's logical example has no <name> in <source> (libvirt defaults it to the pool
    # name); this backend requires source_name for a new pool, so it is given here.
    ('logical', 'logical', 'HostVG',
     dict(source_name='HostVG', source_dev=['/dev/sda1', '/dev/sdb1', '/dev/sdc1'], target='/dev/HostVG'), """
<pool type="logical">
  <name>HostVG</name>
  <source>
    <device path="/dev/sda1"/>
    <device path="/dev/sdb1"/>
    <device path="/dev/sdc1"/>
    <name>HostVG</name>
  </source>
  <target>
    <path>/dev/HostVG</path>
  </target>
</pool>"""),
    # the target is the type's default
    ('disk', 'disk', 'sda', dict(source_dev=['/dev/sda']), """
<pool type="disk">
  <name>sda</name>
  <source>
    <device path='/dev/sda'/>
  </source>
  <target>
    <path>/dev</path>
  </target>
</pool>"""),
    ('disk-gpt', 'disk', 'phy_disk', dict(source_dev=['/dev/sdb'], source_format='gpt', target='/dev'), """
<pool type='disk'>
  <name>phy_disk</name>
  <source>
    <device path='/dev/sdb'/>
    <format type='gpt'/>
  </source>
  <target>
    <path>/dev</path>
  </target>
</pool>"""),
    ('iscsi', 'iscsi', 'virtimages',
     dict(source_host=['iscsi.example.com'], source_dev=['iqn.2013-06.com.example:iscsi-pool']), """
<pool type="iscsi">
  <name>virtimages</name>
  <source>
    <host name="iscsi.example.com" port="3260"/>
    <device path="iqn.2013-06.com.example:iscsi-pool"/>
  </source>
  <target>
    <path>/dev/disk/by-path</path>
  </target>
</pool>"""),
    # formatstorage.html, "Source elements" (auth with a secret usage); <vendor>/<product> left out
    ('iscsi-chap', 'iscsi', 'virtimages',
     dict(source_host=['iscsi.example.com'], source_dev=['iqn.2013-06.com.example:iscsi-pool'],
          auth_type='chap', auth_username='myname', secret_usage='mycluster_myname',
          target='/dev/disk/by-path'), """
<pool type="iscsi">
  <name>virtimages</name>
  <source>
    <host name="iscsi.example.com" port="3260"/>
    <device path="iqn.2013-06.com.example:iscsi-pool"/>
    <auth type='chap' username='myname'>
      <secret usage='mycluster_myname'/>
    </auth>
  </source>
  <target>
    <path>/dev/disk/by-path</path>
  </target>
</pool>"""),
    ('iscsi-direct', 'iscsi-direct', 'virtimages',
     dict(source_host=['iscsi.example.com'], source_dev=['iqn.2013-06.com.example:iscsi-pool'],
          source_initiator='iqn.2013-06.com.example:iscsi-initiator'), """
<pool type="iscsi-direct">
  <name>virtimages</name>
  <source>
    <host name="iscsi.example.com"/>
    <device path="iqn.2013-06.com.example:iscsi-pool"/>
    <initiator>
      <iqn name="iqn.2013-06.com.example:iscsi-initiator"/>
    </initiator>
  </source>
</pool>"""),
    ('iscsi-direct-chap', 'iscsi-direct', 'iscsi-direct-pool',
     dict(source_host=['iscsi.example.com:3260'], source_dev=['iqn.2013-06.com.example:iscsi-pool'],
          source_initiator='iqn.2013-06.com.example:iscsi-initiator', auth_type='chap',
          auth_username='myuser', secret_usage='libvirtiscsi'), """
<pool type="iscsi-direct">
  <name>iscsi-direct-pool</name>
  <source>
    <host name="iscsi.example.com" port="3260"/>
    <device path="iqn.2013-06.com.example:iscsi-pool"/>
    <initiator>
      <iqn name="iqn.2013-06.com.example:iscsi-initiator"/>
    </initiator>
    <auth type='chap' username='myuser'>
      <secret usage='libvirtiscsi'/>
    </auth>
  </source>
</pool>"""),
    # storage.html writes <adapter name="host0"/>; the adapter type is explicit here (libvirt's
    # default for an adapter with a name is scsi_host), the target is the type's default
    ('scsi', 'scsi', 'virtimages', dict(source_adapter={'type': 'scsi_host', 'name': 'host0'}), """
<pool type="scsi">
  <name>virtimages</name>
  <source>
    <adapter type='scsi_host' name='host0'/>
  </source>
  <target>
    <path>/dev/disk/by-path</path>
  </target>
</pool>"""),
    # formatstorage.html, "Source elements" (fc_host adapter)
    ('scsi-fc-host', 'scsi', 'vhbapool_host3',
     dict(source_adapter={'type': 'fc_host', 'parent': 'scsi_host5', 'wwnn': '20000000c9831b4b',
                          'wwpn': '10000000c9831b4b'}, target='/dev/disk/by-path'), """
<pool type="scsi">
  <name>vhbapool_host3</name>
  <source>
    <adapter type='fc_host' parent='scsi_host5' wwnn='20000000c9831b4b' wwpn='10000000c9831b4b'/>
  </source>
  <target>
    <path>/dev/disk/by-path</path>
  </target>
</pool>"""),
    ('mpath', 'mpath', 'virtimages', dict(), """
<pool type="mpath">
  <name>virtimages</name>
  <target>
    <path>/dev/mapper</path>
  </target>
</pool>"""),
    ('rbd', 'rbd', 'myrbdpool',
     dict(source_name='rbdpool', source_host=['1.2.3.4:6789', 'my.ceph.monitor', 'third.ceph.monitor:6789'],
          auth_type='ceph', auth_username='admin', secret_uuid='2ec115d7-3a88-3ceb-bc12-0ac909a6fd87'), """
<pool type="rbd">
  <name>myrbdpool</name>
  <source>
    <name>rbdpool</name>
    <host name='1.2.3.4' port='6789'/>
    <host name='my.ceph.monitor'/>
    <host name='third.ceph.monitor' port='6789'/>
    <auth username='admin' type='ceph'>
      <secret uuid='2ec115d7-3a88-3ceb-bc12-0ac909a6fd87'/>
    </auth>
  </source>
</pool>"""),
    ('gluster', 'gluster', 'myglusterpool', dict(source_name='volname', source_host=['localhost'], source_path='/'), """
<pool type="gluster">
  <name>myglusterpool</name>
  <source>
    <name>volname</name>
    <host name='localhost'/>
    <dir path='/'/>
  </source>
</pool>"""),
    ('zfs', 'zfs', 'myzfspool', dict(source_name='zpoolname', source_dev=['/dev/ada1', '/dev/ada2']), """
<pool type="zfs">
  <name>myzfspool</name>
  <source>
    <name>zpoolname</name>
    <device path="/dev/ada1"/>
    <device path="/dev/ada2"/>
  </source>
</pool>"""),
    ('vstorage', 'vstorage', 'myvstoragepool', dict(source_name='clustername', target='/mnt/clustername'), """
<pool type="vstorage">
  <name>myvstoragepool</name>
  <source>
    <name>clustername</name>
  </source>
  <target>
    <path>/mnt/clustername</path>
  </target>
</pool>"""),
]

CONTENT_CASES = [pytest.param(*case, id=case[0]) for case in EXAMPLES]
EQUAL_CASES = [pytest.param(*case, id=case[0]) for case in EXAMPLES]


def oracle(el):
    """An independent canonical form: namespace-qualified tags, sorted attributes, stripped text,
    children stably sorted by tag (order within a tag kept), empty non-root elements dropped."""
    def walk(node, is_root):
        children = [c for c in (walk(child, False) for child in node if isinstance(child.tag, str)) if c is not None]
        children.sort(key=lambda child: child[0])
        text = (node.text or '').strip()
        attrs = tuple(sorted(node.attrib.items()))
        if not is_root and not (text or attrs or children):
            return None
        return (etree.QName(node).text, attrs, text, tuple(children))
    return walk(el, True)


def test_every_type_has_an_example():
    assert set(case[1] for case in EXAMPLES) == set(ALL_TYPES)
    assert set(POOL_TYPES) == set(ALL_TYPES)


@pytest.mark.parametrize('case, type_name, name, given, expected', CONTENT_CASES)
def test_matches_libvirt_example(case, type_name, name, given, expected):
    got = build(type_name, name, **given)
    assert oracle(got) == oracle(xml.parse(expected)), xml.to_string(got)
    assert xml.differences(xml.parse(expected), got) == []
    # the result survives a round trip through text (namespaces declared where used)
    assert oracle(xml.parse(xml.to_string(got))) == oracle(got)


@pytest.mark.parametrize('case, type_name, name, given, expected', EQUAL_CASES)
def test_equal_to_libvirt_example(case, type_name, name, given, expected):
    got = build(type_name, name, **given)
    assert xml.equal(xml.parse(expected), got), xml.to_string(got)


def test_mount_opts_use_libvirts_fs_namespace():
    got = build('fs', 'p', source_dev=['/dev/sdb1'], target='/srv/p', mount_opts=['noatime'])
    assert FS_NS == 'http://libvirt.org/schemas/storagepool/fs/1.0'
    opts = got.find('{%s}mount_opts' % FS_NS)
    assert opts is not None
    assert [o.get('name') for o in opts.findall('{%s}option' % FS_NS)] == ['noatime']
    assert xml.local_name(opts) == 'fs:mount_opts'
    assert 'xmlns:fs="http://libvirt.org/schemas/storagepool/fs/1.0"' in xml.to_string(got)


def test_empty_mount_opts_gives_an_empty_element_that_clears_the_live_list():
    got = build('netfs', 'p', defining=False, mount_opts=[])
    opts = got.find('{%s}mount_opts' % FS_NS)
    assert opts is not None and len(opts) == 0


def test_target_is_normalized():
    assert build('dir', 'p', target='/var/lib//images/./x/').findtext('target/path') == '/var/lib/images/x'


@pytest.mark.parametrize('mode, expected', [('0711', '0711'), ('711', '0711'), ('00755', '0755'), ('0070', '070'),
                                            ('70', '070'), ('0', '00'), ('0007', '07'), ('0777', '0777')])
def test_target_mode_written_as_libvirt_prints_it(mode, expected):
    # libvirt prints "0%o": "0070" written as 0070 would differ from the stored 070 on every run
    assert build('dir', 'p', target='/x', target_mode=mode).findtext('target/permissions/mode') == expected


@pytest.mark.parametrize('mode', ['2775', '07555', '1777', '4755', '01000', '0o755', '8', '', 'rwx', '-1'])
def test_target_mode_outside_0777_refused(mode):
    backend = backend_class('dir')({'name': 'p', 'target': '/x', 'target_mode': mode})
    with pytest.raises(ValidationError) as err:
        backend.validate(defining=True)
    assert err.value.option == 'target_mode'
    assert err.value.msg == ('target_mode %r is not accepted: give an octal mode from "0000" to "0777" (permission '
                             'bits only: libvirt refuses setuid, setgid and sticky bits), e.g. "0711"' % mode)


def test_target_mode_yaml_octal_integer():
    # unquoted 0711 in YAML arrives as the number 457: refused, never written as 0457 or 0711
    with pytest.raises(ValidationError) as info:
        build('dir', 'p', target='/x', target_mode=0o711)
    assert info.value.option == 'target_mode'
    assert info.value.msg == ('target_mode 457 is a number; quote the mode in YAML, e.g. "0711" '
                              '(unquoted, YAML reads 0711 as 457)')


def test_target_owner_and_group_names_are_resolved():
    got = build('dir', 'p', target='/x', target_owner='root', target_group='root')
    assert got.findtext('target/permissions/owner') == '0'
    assert got.findtext('target/permissions/group') == '0'


@pytest.mark.parametrize('option', ['target_owner', 'target_group'])
def test_unknown_owner_or_group_names_option(option):
    with pytest.raises(ValidationError) as info:
        build('dir', 'p', target='/x', **{option: 'no-such-name-kvmops'})
    assert info.value.option == option
    assert 'no-such-name-kvmops' in info.value.msg


def test_adapter_boolean_written_as_yes_no():
    adapter = {'type': 'fc_host', 'wwnn': '20000000c9831b4b', 'wwpn': '10000000c9831b4b', 'managed': True}
    got = build('scsi', 'p', source_adapter=adapter)
    assert got.find('source/adapter').get('managed') == 'yes'


@pytest.mark.parametrize('host, expected', [
    ('h', ('h', None)), ('h:6789', ('h', 6789)), ('[fe80::1]:3260', ('fe80::1', 3260)), ('[fe80::1]', ('fe80::1', None)),
    ('fe80::1', ('fe80::1', None)), (' mon1 ', ('mon1', None)), ('h:1', ('h', 1)), ('h:65535', ('h', 65535)),
])
def test_parse_host(host, expected):
    assert parse_host(host) == expected


def test_ipv6_host_written_without_brackets():
    got = build('rbd', 'p', source_name='x', source_host=['[fe80::1]:6789'])
    assert dict(got.find('source/host').attrib) == {'name': 'fe80::1', 'port': '6789'}


# ---- defaults ------------------------------------------------------------------------

@pytest.mark.parametrize('type_name, given, default', [
    ('disk', dict(source_dev=['/dev/sdb']), '/dev'),
    ('iscsi', dict(source_host=['san'], source_dev=['iqn.x']), '/dev/disk/by-path'),
    ('scsi', dict(source_adapter={'type': 'scsi_host', 'name': 'host0'}), '/dev/disk/by-path'),
    ('mpath', dict(), '/dev/mapper'),
])
def test_default_target_only_when_defining(type_name, given, default):
    assert build(type_name, 'p', defining=True, **given).findtext('target/path') == default
    updated = build(type_name, 'p', defining=False, **given)
    assert updated.find('target') is None
    assert build(type_name, 'p', defining=True, target='/dev/disk/by-id', **given).findtext('target/path') == '/dev/disk/by-id'
    assert build(type_name, 'p', defining=False, target='/dev/disk/by-id', **given).findtext('target/path') == '/dev/disk/by-id'


@pytest.mark.parametrize('type_name', ['dir', 'fs', 'netfs', 'logical', 'iscsi-direct', 'rbd', 'gluster', 'zfs', 'vstorage'])
def test_no_default_target(type_name):
    got = backend_class(type_name)(params('p')).to_xml(defining=True)
    assert got.find('target') is None


@pytest.mark.parametrize('type_name', ALL_TYPES)
def test_nothing_given_gives_name_and_type_only(type_name):
    got = backend_class(type_name)(params('p')).to_xml(defining=False)
    assert oracle(got) == oracle(xml.parse('<pool type="%s"><name>p</name></pool>' % type_name))


# ---- registry and class declarations -------------------------------------------------------

@pytest.mark.parametrize('type_name', ALL_TYPES)
def test_backend_declarations_are_consistent(type_name):
    cls = backend_class(type_name)
    assert issubclass(cls, PoolBackend)
    assert cls.type_name == type_name
    assert BACKENDS[type_name] is cls
    assert set(cls.options) <= set(TYPED_OPTIONS)
    assert set(cls.required) <= set(cls.options)
    assert set(cls.capabilities) <= set(CAPABILITIES)
    assert bool(cls.source_formats) == ('source_format' in cls.options)
    assert bool(cls.auth_types) == ('auth_type' in cls.options)
    assert set(cls.build_flags) == {'if_missing', 'no_overwrite', 'overwrite'}
    assert cls.summary
    if cls.default_target:
        assert 'target' in cls.options
    if 'build' not in cls.capabilities:
        assert cls.probe is PoolBackend.probe  # nothing to probe for a type that is never built


def test_sheepdog_is_refused_with_the_reason():
    with pytest.raises(ValidationError) as info:
        backend_class('sheepdog')
    assert info.value.option == 'type'
    assert '8.8' in info.value.msg
    assert 'sheepdog' in info.value.msg
    assert 'sheepdog' in REMOVED_TYPES


def test_unknown_type_lists_accepted_types():
    with pytest.raises(ValidationError) as info:
        backend_class('nfs')
    assert info.value.option == 'type'
    assert "'nfs'" in info.value.msg
    for type_name in ALL_TYPES:
        assert type_name in info.value.msg


def test_type_error_names_the_given_option():
    with pytest.raises(ValidationError) as info:
        backend_class('bogus', 'xml')
    assert info.value.option == 'xml'


# ---- validation -----------------------------------------------------------------------

VALUE_FOR = {
    'target': '/x', 'target_mode': '0755', 'target_owner': 0, 'target_group': 0, 'target_label': 'l',
    'source_host': ['h'], 'source_path': '/p', 'source_dev': ['/dev/x'], 'source_name': 'n', 'source_format': 'auto',
    'source_initiator': 'iqn.x', 'source_adapter': {'type': 'scsi_host', 'name': 'host0'}, 'auth_type': 'chap',
    'auth_username': 'u', 'secret_usage': 's', 'secret_uuid': 'u-u', 'mount_opts': ['ro'],
}
NOT_APPLICABLE = [(t, o) for t in ALL_TYPES for o in TYPED_OPTIONS if o not in BACKENDS[t].options]


@pytest.mark.parametrize('type_name, option', NOT_APPLICABLE, ids=['%s-%s' % case for case in NOT_APPLICABLE])
def test_option_not_applicable_names_it(type_name, option):
    backend = backend_class(type_name)(params('p', **{option: VALUE_FOR[option]}))
    for defining in (True, False):
        with pytest.raises(ValidationError) as info:
            backend.validate(defining)
        assert info.value.option == option
        assert option in info.value.msg
        assert type_name in info.value.msg


def test_source_dev_on_rbd_and_mount_opts_on_dir():
    with pytest.raises(ValidationError) as info:
        build('rbd', 'p', source_name='x', source_host=['m'], source_dev=['/dev/sdb'])
    assert info.value.option == 'source_dev'
    assert 'source_host' in info.value.msg  # lists what rbd takes
    with pytest.raises(ValidationError) as info:
        build('dir', 'p', target='/x', mount_opts=['ro'])
    assert info.value.option == 'mount_opts'


@pytest.mark.parametrize('type_name', ALL_TYPES)
def test_required_options_on_a_new_definition(type_name):
    cls = backend_class(type_name)
    full = dict((option, VALUE_FOR[option]) for option in cls.required)
    if 'source_format' in full:
        full['source_format'] = cls.source_formats[0]
    cls(params('p', **full)).validate(True)
    for option in cls.required:
        partial = dict((key, value) for key, value in full.items() if key != option)
        with pytest.raises(ValidationError) as info:
            cls(params('p', **partial)).validate(True)
        assert info.value.option == option
        assert option in info.value.msg
        # an existing definition needs nothing
        cls(params('p', **partial)).validate(False)


def test_dir_without_target_names_target():
    with pytest.raises(ValidationError) as info:
        build('dir', 'p')
    assert info.value.option == 'target'
    assert 'target' in info.value.msg and 'dir' in info.value.msg
    assert build('dir', 'p', defining=False, target_mode='0700').findtext('target/permissions/mode') == '0700'


def test_logical_example_without_source_name_validates():
    backend = backend_class('logical')(params('HostVG', source_dev=['/dev/sda1', '/dev/sdb1'], target='/dev/HostVG'))
    assert backend.validate(True) is None
    got = backend.to_xml()
    # no <source><name>: libvirt takes the pool's name as the volume group's
    assert [el.get('path') for el in got.findall('source/device')] == ['/dev/sda1', '/dev/sdb1']
    assert got.find('source/name') is None and got.findtext('target/path') == '/dev/HostVG'


@pytest.mark.parametrize('type_name, bad', [('netfs', 'ext4'), ('fs', 'nfs'), ('disk', 'msdos'), ('logical', 'lvm1')])
def test_bad_source_format_names_accepted_values(type_name, bad):
    cls = backend_class(type_name)
    with pytest.raises(ValidationError) as info:
        cls(params('p', source_format=bad)).validate(False)
    assert info.value.option == 'source_format'
    assert repr(bad) in info.value.msg
    for accepted in cls.source_formats:
        assert accepted in info.value.msg


@pytest.mark.parametrize('type_name, fmt', [(t, f) for t in ALL_TYPES for f in BACKENDS[t].source_formats])
def test_every_accepted_source_format(type_name, fmt):
    got = backend_class(type_name)(params('p', source_format=fmt))
    got.validate(False)
    assert got.to_xml().find('source/format').get('type') == fmt


def test_auth_type_checked_per_type():
    with pytest.raises(ValidationError) as info:
        build('rbd', 'p', defining=False, auth_type='chap', auth_username='u', secret_uuid='x')
    assert info.value.option == 'auth_type'
    assert 'ceph' in info.value.msg
    with pytest.raises(ValidationError) as info:
        build('iscsi', 'p', defining=False, auth_type='ceph', auth_username='u', secret_uuid='x')
    assert 'chap' in info.value.msg


@pytest.mark.parametrize('given, option', [
    (dict(auth_type='ceph', secret_uuid='x'), 'auth_type'),          # no username
    (dict(auth_username='u', secret_uuid='x'), 'auth_type'),         # no type
    (dict(auth_type='ceph', auth_username='u'), 'secret_usage'),     # no secret
    (dict(auth_type='ceph', auth_username='u', secret_usage='a', secret_uuid='b'), 'secret_usage'),  # both
    (dict(secret_usage='a'), 'auth_type'),
])
def test_incomplete_auth(given, option):
    with pytest.raises(ValidationError) as info:
        build('rbd', 'p', defining=False, **given)
    assert info.value.option == option


@pytest.mark.parametrize('host', ['mon1:99999', 'mon1:0', 'mon1:', 'mon1:abc', '[fe80::1', '[fe80::1]:x', '', '  '])
def test_bad_host_port(host):
    with pytest.raises(ValidationError) as info:
        build('rbd', 'p', defining=False, source_host=['mon0', host])
    assert info.value.option == 'source_host'
    assert 'source_host' in info.value.msg


@pytest.mark.parametrize('mode', ['0999', '999', '17777', 'rwx', '0o755', '-755'])
def test_bad_target_mode(mode):
    with pytest.raises(ValidationError) as info:
        build('dir', 'p', target='/x', target_mode=mode)
    assert info.value.option == 'target_mode'
    assert repr(mode) in info.value.msg


@pytest.mark.parametrize('target', ['images', './images', '~/images', ''])
def test_relative_target(target):
    with pytest.raises(ValidationError) as info:
        build('dir', 'p', target=target)
    assert info.value.option == 'target'
    assert 'absolute' in info.value.msg


@pytest.mark.parametrize('adapter, word', [
    ({'name': 'host0'}, 'scsi_host'),
    ({'type': 'iscsi', 'name': 'host0'}, 'fc_host'),
    ({'type': 'scsi_host', 'name': 'host0', 'host': 'x'}, 'host'),
])
def test_bad_adapter(adapter, word):
    with pytest.raises(ValidationError) as info:
        build('scsi', 'p', source_adapter=adapter)
    assert info.value.option == 'source_adapter'
    assert word in info.value.msg


@pytest.mark.parametrize('type_name, option, value', [
    ('disk', 'source_dev', ['/dev/a', '/dev/b']),
    ('fs', 'source_dev', ['/dev/a', '/dev/b']),
    ('netfs', 'source_host', ['a', 'b']),
    ('iscsi', 'source_host', ['a', 'b']),
    ('iscsi', 'source_dev', ['iqn.a', 'iqn.b']),
    ('iscsi-direct', 'source_dev', []),
])
def test_single_entry_lists(type_name, option, value):
    with pytest.raises(ValidationError) as info:
        backend_class(type_name)(params('p', **{option: value})).validate(False)
    assert info.value.option == option


def test_several_entries_where_allowed():
    for type_name in ('logical', 'zfs'):
        got = build(type_name, 'vg', source_name='vg', source_dev=['/dev/a', '/dev/b'])
        assert [el.get('path') for el in got.findall('source/device')] == ['/dev/a', '/dev/b'], type_name
    got = build('rbd', 'p', source_name='x', source_host=['a:1', 'b:2', 'c'])
    assert [(el.get('name'), el.get('port')) for el in got.findall('source/host')] == [('a', '1'), ('b', '2'), ('c', None)]


@pytest.mark.parametrize('name', ['a/b', '/a', '', ' a', None, '\tx'])
def test_bad_names(name):
    with pytest.raises(ValidationError) as info:
        validate_name(name)
    assert info.value.option == 'name'
    assert '/' in info.value.msg


@pytest.mark.parametrize('name', ['images', 'a b', 'vg_kvm', 'x.y-z', 'ünïcode'])
def test_good_names(name):
    assert validate_name(name) is None
    assert build('dir', name, target='/x').findtext('name') == name


def test_validate_name_option():
    with pytest.raises(ValidationError) as info:
        validate_name('x/y', 'pool')
    assert info.value.option == 'pool'


@pytest.mark.parametrize('name, char', [('a\x00b', '\x00'), ('a\nb', '\n'), ('ab\t', '\t'), ('a\x1bb', '\x1b'),
                                        ('a\x7f', '\x7f'), ('a\x85b', '\x85'), ('x\r', '\r')])
@pytest.mark.parametrize('volume', [False, True])
def test_names_with_control_characters_are_refused(name, char, volume):
    with pytest.raises(ValidationError) as info:
        validate_name(name, 'volumes[1].name', volume=volume)
    assert info.value.option == 'volumes[1].name'
    assert info.value.msg == ('volumes[1].name %r is not valid: it contains the control character %r; a name is '
                              'printable text' % (name, char))


@pytest.mark.parametrize('name', ['.', '..'])
def test_dot_and_dot_dot_are_not_volume_names(name):
    with pytest.raises(ValidationError) as info:
        validate_name(name, 'clone_from.name', volume=True)
    assert info.value.option == 'clone_from.name'
    assert info.value.msg == 'clone_from.name %r is not valid: "." and ".." name directories, not volumes' % name
    # libvirt takes them as pool names (the definition is a file <name>.xml)
    validate_name(name, 'pool')


@pytest.mark.parametrize('name', ['.hidden', '...', 'a..b', 'ünïcode', 'a\u00a0b'])
def test_dotted_and_printable_volume_names_pass(name):
    assert validate_name(name, 'name', volume=True) is None, 'no refusal'
    # the refusals around them: the same name with a control character or a "/" in it
    for bad in (name + '\x01', name + '/x'):
        with pytest.raises(ValidationError):
            validate_name(bad, 'name', volume=True)

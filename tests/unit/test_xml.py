"""xml helpers: parse, merge, canonical/equal, differences, drop_paths, render_diff."""

import pytest

from ansible_collections.kvmops.storage.plugins.module_utils import xml
from ansible_collections.kvmops.storage.plugins.module_utils.errors import StorageError, ValidationError

FS_NS = 'http://libvirt.org/schemas/storagepool/fs/1.0'


def p(text):
    return xml.parse(text)


def tags(el):
    return [xml.local_name(child) for child in el if isinstance(child.tag, str)]


# ---- parse -----------------------------------------------------------------

def test_parse_accepts_str_and_bytes_and_drops_comments_and_blank_text():
    for text in ('  <pool type="dir"><!-- c --><name>a</name>\n  </pool>\n', b'<pool type="dir"><name>a</name></pool>'):
        root = p(text)
        assert root.tag == 'pool'
        assert tags(root) == ['name']
        assert root.find('name').text == 'a'


@pytest.mark.parametrize('text', ['not xml', '<pool>', '<pool></pol>', '', '<a/><b/>', 'type: dir'])
def test_parse_error_names_option(text):
    with pytest.raises(ValidationError) as info:
        xml.parse(text, 'xml')
    assert info.value.option == 'xml'
    assert info.value.msg.startswith('xml: not well-formed XML')
    assert isinstance(info.value, StorageError)


def test_parse_error_names_the_given_option():
    with pytest.raises(ValidationError) as info:
        xml.parse('<volume>', 'volume_xml')
    assert info.value.option == 'volume_xml'
    assert 'volume_xml' in info.value.msg


def test_parse_does_not_expand_external_entities(tmp_path):
    secret = tmp_path / 'secret'
    secret.write_text('TOPSECRET')
    text = ('<!DOCTYPE pool [<!ENTITY e SYSTEM "file://%s">]><pool><name>&e;</name></pool>' % secret)
    root = xml.parse(text)
    assert 'TOPSECRET' not in xml.to_string(root)


# ---- element / sub / helpers -------------------------------------------------

def test_element_and_sub_leave_out_none_attributes_and_strip_trailing_underscore():
    root = xml.element('pool', type='dir')
    host = xml.sub(root, 'host', name='h', port=None)
    xml.sub(root, 'format', type_='nfs')
    xml.sub(root, 'name', 'n')
    xml.sub(root, 'size', 5, unit='bytes')
    assert dict(host.attrib) == {'name': 'h'}
    assert root.find('format').get('type') == 'nfs'
    assert root.find('name').text == 'n'
    assert root.find('size').text == '5' and root.find('size').get('unit') == 'bytes'


def test_local_name_keeps_prefix_and_find_path():
    root = p('<pool xmlns:fs="%s"><source><host name="a"/><host name="b"/></source>'
             '<fs:mount_opts><fs:option name="x"/></fs:mount_opts></pool>' % FS_NS)
    assert [h.get('name') for h in xml.find_path(root, 'source/host')] == ['a', 'b']
    opts = xml.find_path(root, 'fs:mount_opts/fs:option')
    assert [o.get('name') for o in opts] == ['x']
    assert xml.local_name(xml.find_path(root, 'fs:mount_opts')[0]) == 'fs:mount_opts'
    assert xml.find_path(root, 'mount_opts') == []
    assert xml.find_path(root, 'target/path') == []


# ---- merge -----------------------------------------------------------------

LIVE = """
<pool type='dir'>
  <name>images</name>
  <uuid>u-1</uuid>
  <source>
    <host name='a' port='1'/>
    <host name='b'/>
    <dir path='/export'/>
  </source>
  <target>
    <path>/var/lib/libvirt/images</path>
    <permissions>
      <mode>0755</mode>
      <owner>0</owner>
      <group>0</group>
    </permissions>
  </target>
</pool>
"""


def test_merge_desired_overrides_and_absent_stays():
    desired = p('<pool type="dir"><name>images</name><target><permissions><mode>0711</mode></permissions></target></pool>')
    merged = xml.merge(p(LIVE), desired)
    assert merged.findtext('target/permissions/mode') == '0711'
    assert merged.findtext('target/permissions/owner') == '0'
    assert merged.findtext('target/permissions/group') == '0'
    assert merged.findtext('target/path') == '/var/lib/libvirt/images'
    assert merged.findtext('uuid') == 'u-1'
    assert [h.get('name') for h in merged.findall('source/host')] == ['a', 'b']
    # the live element is not modified
    assert p(LIVE).findtext('target/permissions/mode') == '0755'


def test_merge_does_not_modify_its_inputs():
    live, desired = p(LIVE), p('<pool type="dir"><target><path>/new</path></target><extra/></pool>')
    live_before, desired_before = xml.to_string(live), xml.to_string(desired)
    xml.merge(live, desired)
    assert xml.to_string(live) == live_before
    assert xml.to_string(desired) == desired_before


def test_merge_attributes_override_and_keep_others():
    merged = xml.merge(p('<pool type="dir"><source><format type="nfs" extra="1"/></source></pool>'),
                       p('<pool><source><format type="cifs"/></source></pool>'))
    fmt = merged.find('source/format')
    assert dict(fmt.attrib) == {'type': 'cifs', 'extra': '1'}
    assert merged.get('type') == 'dir'


def test_merge_appends_new_elements():
    merged = xml.merge(p(LIVE), p('<pool><source><name>vg</name></source><features><cow state="no"/></features></pool>'))
    assert merged.findtext('source/name') == 'vg'
    assert merged.find('features/cow').get('state') == 'no'
    assert tags(merged) == ['name', 'uuid', 'source', 'target', 'features']


def test_merge_blank_desired_text_keeps_live_text():
    merged = xml.merge(p('<pool><name>images</name></pool>'), p('<pool><name>  </name></pool>'))
    assert merged.findtext('name') == 'images'


def test_merge_atomic_list_replaced_whole():
    desired = p('<pool><source><host name="c"/></source></pool>')
    merged = xml.merge(p(LIVE), desired, atomic=('source/host',))
    hosts = merged.findall('source/host')
    assert [dict(h.attrib) for h in hosts] == [{'name': 'c'}]
    assert merged.find('source/dir').get('path') == '/export'


def test_merge_atomic_single_element_is_not_merged_attribute_by_attribute():
    live = p('<pool><source><host name="a" port="1"/></source></pool>')
    desired = p('<pool><source><host name="b"/></source></pool>')
    atomic = xml.merge(live, desired, atomic=('source/host',))
    assert [dict(h.attrib) for h in atomic.findall('source/host')] == [{'name': 'b'}]
    # without atomic, a single element on both sides is merged: the live port stays
    merged = xml.merge(live, desired)
    assert [dict(h.attrib) for h in merged.findall('source/host')] == [{'name': 'b', 'port': '1'}]


def test_merge_atomic_auth_drops_old_secret_reference():
    live = p('<pool><source><auth type="ceph" username="a"><secret uuid="u"/></auth></source></pool>')
    desired = p('<pool><source><auth type="ceph" username="a"><secret usage="client.a"/></auth></source></pool>')
    merged = xml.merge(live, desired, atomic=('source/auth',))
    assert dict(merged.find('source/auth/secret').attrib) == {'usage': 'client.a'}


def test_merge_repeated_tags_replaced_whole_even_when_not_atomic():
    # live has two hosts, desired one: the desired list wins as a whole
    merged = xml.merge(p(LIVE), p('<pool><source><host name="z"/></source></pool>'))
    assert [dict(h.attrib) for h in merged.findall('source/host')] == [{'name': 'z'}]
    # desired has two, live one
    merged = xml.merge(p('<pool><source><host name="a" port="1"/></source></pool>'),
                       p('<pool><source><host name="x"/><host name="y"/></source></pool>'))
    assert [dict(h.attrib) for h in merged.findall('source/host')] == [{'name': 'x'}, {'name': 'y'}]


def test_merge_replaced_list_keeps_its_position():
    merged = xml.merge(p(LIVE), p('<pool><source><host name="z"/></source></pool>'), atomic=('source/host',))
    assert tags(merged.find('source')) == ['host', 'dir']


def test_merge_namespaced_elements():
    live = p('<pool type="netfs" xmlns:fs="%s"><name>n</name><fs:mount_opts><fs:option name="a"/>'
             '<fs:option name="b"/></fs:mount_opts></pool>' % FS_NS)
    desired = p('<pool xmlns:fs="%s"><fs:mount_opts><fs:option name="c"/></fs:mount_opts></pool>' % FS_NS)
    merged = xml.merge(live, desired, atomic=('fs:mount_opts',))
    opts = merged.findall('{%s}mount_opts/{%s}option' % (FS_NS, FS_NS))
    assert [o.get('name') for o in opts] == ['c']
    assert len(merged.findall('{%s}mount_opts' % FS_NS)) == 1
    assert xml.local_name(merged.find('{%s}mount_opts' % FS_NS)) == 'fs:mount_opts'


def test_merge_namespaced_element_into_live_without_namespace():
    live = p('<pool type="netfs"><name>n</name></pool>')
    desired = p('<pool xmlns:fs="%s"><fs:mount_opts><fs:option name="c"/></fs:mount_opts></pool>' % FS_NS)
    merged = xml.merge(live, desired)
    reparsed = xml.parse(xml.to_string(merged))
    assert [o.get('name') for o in reparsed.iter('{%s}option' % FS_NS)] == ['c']


def test_merge_empty_atomic_element_clears_the_list():
    live = p('<pool xmlns:fs="%s"><fs:mount_opts><fs:option name="a"/></fs:mount_opts></pool>' % FS_NS)
    desired = p('<pool xmlns:fs="%s"><fs:mount_opts/></pool>' % FS_NS)
    merged = xml.merge(live, desired, atomic=('fs:mount_opts',))
    assert list(merged.iter('{%s}option' % FS_NS)) == []


# ---- canonical / equal --------------------------------------------------------

def test_equal_ignores_attribute_order_and_quotes():
    assert xml.equal(p('<host name="a" port="1"/>'), p("<host port='1' name='a'/>"))


def test_equal_ignores_whitespace():
    assert xml.equal(p('<pool>\n  <name>\n   a  \n</name>\n  <source>\n  </source>\n</pool>'),
                     p('<pool><name>a</name></pool>'))


def test_equal_ignores_empty_elements_but_not_empty_root():
    assert xml.equal(p('<pool><name>a</name><source/><target><permissions/></target></pool>'),
                     p('<pool><name>a</name></pool>'))
    assert not xml.equal(p('<pool/>'), p('<volume/>'))
    assert xml.canonical(p('<pool/>')) == ('pool', (), '', ())


def test_equal_ignores_interleaving_of_tags():
    assert xml.equal(p('<s><host name="a"/><dir path="/d"/><host name="b"/></s>'),
                     p('<s><host name="a"/><host name="b"/><dir path="/d"/></s>'))


def test_equal_ignores_sibling_order_across_tags_when_first_seen_in_same_order():
    assert xml.equal(p('<pool><name>a</name><source><host name="h"/></source></pool>'),
                     p('<pool><name>a</name><source><host name="h"/></source></pool>'))


def test_equal_ignores_sibling_order_across_tags():
    assert xml.equal(p('<source><name>vms</name><host name="mon1"/></source>'),
                     p('<source><host name="mon1"/><name>vms</name></source>'))


def test_equal_keeps_order_within_a_tag():
    assert not xml.equal(p('<s><host name="a"/><host name="b"/></s>'), p('<s><host name="b"/><host name="a"/></s>'))


def test_equal_sees_real_differences():
    base = '<pool type="dir"><name>a</name><target><path>/x</path></target></pool>'
    assert not xml.equal(p(base), p(base.replace('/x', '/y')))
    assert not xml.equal(p(base), p(base.replace('"dir"', '"fs"')))
    assert not xml.equal(p(base), p(base.replace('<name>a</name>', '<name>a</name><uuid>u</uuid>')))
    assert not xml.equal(p('<s><host name="a"/></s>'), p('<s><host name="a"/><host name="a"/></s>'))


def test_equal_namespaced_elements():
    a = p('<pool xmlns:fs="%s"><fs:mount_opts><fs:option name="x"/></fs:mount_opts></pool>' % FS_NS)
    b = p('<pool xmlns:fs="%s"><fs:mount_opts><fs:option name="y"/></fs:mount_opts></pool>' % FS_NS)
    assert xml.equal(a, p(xml.to_string(a)))
    assert not xml.equal(a, b)
    assert xml.canonical(a)[3][0][0] == 'fs:mount_opts'


# ---- differences ----------------------------------------------------------------

def test_differences_none_for_equal_documents():
    assert xml.differences(p(LIVE), p(LIVE)) == []
    assert xml.differences(p(LIVE), xml.pretty(p(LIVE))) == []


def test_differences_text_path():
    after = p(LIVE.replace('<mode>0755</mode>', '<mode>0711</mode>'))
    assert xml.differences(p(LIVE), after) == ['target/permissions/mode']


def test_differences_root_attribute():
    assert xml.differences(p('<pool type="dir"><name>a</name></pool>'), p('<pool type="fs"><name>a</name></pool>')) == ['@type']


def test_differences_attribute_of_single_child():
    before = p('<pool><source><format type="nfs"/></source></pool>')
    after = p('<pool><source><format type="cifs"/></source></pool>')
    assert xml.differences(before, after) == ['source/format/@type']


def test_differences_list_reported_as_a_whole():
    after = p(LIVE.replace("<host name='b'/>", "<host name='c'/>"))
    assert xml.differences(p(LIVE), after) == ['source/host']


def test_differences_added_and_removed_elements():
    before = p('<pool><name>a</name><target><path>/x</path></target></pool>')
    after = p('<pool><name>a</name><source><name>vg</name></source></pool>')
    assert xml.differences(before, after) == ['source', 'target']


def test_differences_several_paths_sorted():
    after = p(LIVE.replace('<mode>0755</mode>', '<mode>0711</mode>').replace('/export', '/other')
              .replace("type='dir'", "type='netfs'"))
    assert xml.differences(p(LIVE), after) == ['@type', 'source/dir/@path', 'target/permissions/mode']


def test_differences_namespaced_path():
    before = p('<pool xmlns:fs="%s"><fs:mount_opts><fs:option name="a"/><fs:option name="b"/></fs:mount_opts></pool>' % FS_NS)
    after = p('<pool xmlns:fs="%s"><fs:mount_opts><fs:option name="a"/></fs:mount_opts></pool>' % FS_NS)
    assert xml.differences(before, after) == ['fs:mount_opts/fs:option']


def test_differences_ignore_order_whitespace_and_empty_elements():
    before = p('<pool><name>a</name><source/><target><path>/x</path></target></pool>')
    after = p('<pool>\n <target>\n  <path>/x</path>\n </target>\n <name>a</name>\n</pool>')
    assert xml.differences(before, after) == []


# ---- drop_paths / pretty / render_diff --------------------------------------------

def test_drop_paths_returns_a_copy_without_those_elements():
    live = p(LIVE)
    dropped = xml.drop_paths(live, ('uuid', 'source/host', 'target/permissions/owner', 'no/such/path'))
    assert dropped.find('uuid') is None
    assert dropped.findall('source/host') == []
    assert dropped.find('target/permissions/owner') is None
    assert dropped.findtext('target/permissions/mode') == '0755'
    assert dropped.find('source/dir') is not None
    # the original is untouched
    assert live.findtext('uuid') == 'u-1'
    assert len(live.findall('source/host')) == 2


def test_pretty_reindents():
    el = p('<pool><name>a</name><target><path>/x</path></target></pool>')
    assert xml.to_string(xml.pretty(el)) == '<pool>\n  <name>a</name>\n  <target>\n    <path>/x</path>\n  </target>\n</pool>\n'
    assert xml.to_string(el, pretty=False) == '<pool><name>a</name><target><path>/x</path></target></pool>'


def test_render_diff():
    before = p('<pool><name>a</name></pool>')
    diff = xml.render_diff(before, None, 'before header', 'after header')
    assert diff == {'before': '<pool>\n  <name>a</name>\n</pool>\n', 'after': '',
                    'before_header': 'before header', 'after_header': 'after header'}
    assert xml.render_diff(None, before, 'b', 'a')['before'] == ''

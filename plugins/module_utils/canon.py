# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Values and documents in the form libvirt stores them.

libvirt rewrites some of what it is given: it drops a trailing ``/`` and
collapses ``//`` in paths, prints a UUID in lowercase with dashes, prints a
mode as ``0%o`` (``070``), leaves ``<owner>-1</owner>`` out, completes a
legacy ``<adapter name='host0'/>`` with ``type='scsi_host'``.  A desired
definition written the other way differs from the stored one on every run.

Typed options are normalized here by hand (paths, UUIDs, modes).  Raw ``xml``
documents go through libvirt's own parser: the in-process ``test:///default``
driver defines the document, formats it back and forgets it again; it runs
inside this process and touches nothing on the host.  What that driver cannot
parse is left as it was (the real daemon then says what is wrong with it).
Elements in an XML namespace (``fs:mount_opts``, ``rbd:config_opts``) depend
on the storage backend of the daemon, which the test driver lacks: they are
kept as given, and ``extension_problems`` tells afterwards which of them the
daemon did not store.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re
import uuid as uuidlib

from ansible_collections.kvmops.storage.plugins.module_utils import xml as xmlu
from ansible_collections.kvmops.storage.plugins.module_utils.connection import VIR_ERR_CONFIG_UNSUPPORTED, VIR_ERR_XML_ERROR
from ansible_collections.kvmops.storage.plugins.module_utils.errors import ValidationError

try:
    import libvirt
except ImportError:  # pragma: no cover - depends on the managed host
    libvirt = None

TEST_URI = 'test:///default'
# what libvirt computes for a pool or volume: never part of a desired document
POOL_COMPUTED = ('uuid', 'capacity', 'allocation', 'available')
VOLUME_COMPUTED = ('key', 'allocation', 'physical', 'target/path', 'target/timestamps')
# the most a mode may be: libvirt refuses other bits ("malformed octal mode")
MAX_MODE = 0o777
# volume formats libvirt writes as plain files: a refresh reads them back as raw
FORMATS_READ_BACK = {'iso': 'raw'}

# libvirt's parser refuses the document itself (not a lookup, a duplicate or a driver limit)
_PARSE_ERRORS = (VIR_ERR_XML_ERROR, VIR_ERR_CONFIG_UNSUPPORTED)
_UUID_RE = re.compile(r'^[0-9a-fA-F-]+$')
_MODE_RE = re.compile(r'^[0-7]+$')
# a pool of each type in the test driver (volumes are parsed by the rules of their pool's type)
_TEST_POOL_SOURCES = {
    'dir': '',
    'fs': "<device path='/dev/kvmops-canon'/>",
    'netfs': "<host name='localhost'/><dir path='/kvmops-canon'/>",
    'logical': '<name>kvmops-canon</name>',
    'disk': "<device path='/dev/kvmops-canon'/>",
    'iscsi': "<host name='localhost'/><device path='iqn.2000-01.io.kvmops:canon'/>",
    'iscsi-direct': ("<host name='localhost'/><device path='iqn.2000-01.io.kvmops:canon'/>"
                     "<initiator><iqn name='iqn.2000-01.io.kvmops:canon-init'/></initiator>"),
    'scsi': "<adapter type='scsi_host' name='host0'/>",
    'mpath': '',
    'rbd': "<name>kvmops-canon</name><host name='localhost'/>",
    'gluster': "<name>kvmops-canon</name><host name='localhost'/>",
    'zfs': '<name>kvmops-canon</name>',
    'vstorage': '<name>kvmops-canon</name>',
}


# ---- typed values -------------------------------------------------------------
def sanitize_path(path):
    """A path as libvirt stores it: runs of ``/`` collapsed, a trailing ``/`` dropped.

    ``.`` and ``..`` stay as they are (libvirt keeps them), and so does a leading
    ``//`` (POSIX gives it a meaning of its own; ``///`` is ``/``).
    """
    if path is None:
        return None
    text = str(path)
    lead = '//' if text.startswith('//') and not text.startswith('///') else ''
    cleaned = re.sub(r'/+', '/', text[len(lead):] if lead else text)
    if len(cleaned) > 1 and cleaned.endswith('/'):
        cleaned = cleaned[:-1]
    return lead + cleaned


def uuid_text(value, option):
    """A UUID as libvirt prints it (lowercase, dashed); libvirt also takes it in capitals and without dashes."""
    text = str(value).strip()
    digits = text.replace('-', '')
    if not _UUID_RE.match(text) or len(digits) != 32:
        raise ValidationError(option, '%s %r is not a UUID: accepted are 32 hex digits, with or without dashes, '
                                      'e.g. 0d4f7c2a-8a1e-4c55-9d2b-5f3e1a7b9c01' % (option, value))
    return str(uuidlib.UUID(hex=digits))


def parse_mode(value, option, example='0755'):
    """An octal mode text -> int; YAML integers and modes libvirt refuses are refused, naming ``option``."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValidationError(option, '%s %r is a number; quote the mode in YAML, e.g. "%s" (unquoted, YAML reads '
                                      '%s as %d)' % (option, value, example, example, int(example, 8)))
    text = str(value).strip()
    if not _MODE_RE.match(text) or int(text, 8) > MAX_MODE:
        raise ValidationError(option, '%s %r is not accepted: give an octal mode from "0000" to "0777" (permission '
                                      'bits only: libvirt refuses setuid, setgid and sticky bits), e.g. "%s"'
                                      % (option, value, example))
    return int(text, 8)


def format_mode(mode):
    """A mode (int) as libvirt prints it: ``0700``, ``070``, ``00``."""
    return '0%o' % mode


def same_volume_format(requested, stored):
    """Whether a volume libvirt shows with format ``stored`` is one made with format ``requested``."""
    if requested is None or stored is None or requested == stored:
        return True
    return FORMATS_READ_BACK.get(requested) == stored


# ---- documents ------------------------------------------------------------------
def xml_document(text, option, root_tag, name, kind=None):
    """Parse an ``xml`` option: its root must be ``<root_tag>`` and its ``<name>`` the task's ``name``
    (``name`` None: no name check)."""
    root = xmlu.parse(text, option)
    found = xmlu.local_name(root)
    if found != root_tag:
        raise ValidationError(option, '%s: the root element must be <%s>, not <%s>' % (option, root_tag, found))
    if name is not None:
        names = xmlu.find_path(root, 'name')
        xml_name = names[0].text if names else None
        if xml_name != name:
            raise ValidationError(option, '%s: its <name> is %r but the task says %s=%r; they must match'
                                  % (option, xml_name, kind or 'name', name))
    return root


_TEST_CONN = []


def _test_connection():
    """The in-process test driver (opened once per process), or None."""
    if libvirt is None:
        return None
    if not _TEST_CONN:
        try:
            _TEST_CONN.append(libvirt.open(TEST_URI))
        except libvirt.libvirtError:
            _TEST_CONN.append(None)
    return _TEST_CONN[0]


def same_library(conn):
    """Whether the daemon behind ``conn`` runs the libvirt version of the library here: then a document the
    test driver's parser refuses is one the daemon refuses too."""
    version = getattr(conn, 'getLibVersion', None)
    if libvirt is None or version is None:
        return False
    try:
        return version() == libvirt.getVersion()
    except libvirt.libvirtError:
        return False


def _refusal(exc, option, strict):
    """A ValidationError for a document libvirt's parser refuses (with ``strict``), else None."""
    if strict and exc.get_error_code() in _PARSE_ERRORS:
        return ValidationError(option, '%s: libvirt refuses this document: %s' % (option, exc.get_error_message()))
    return None


def _extensions(root):
    """The children of ``root`` in an XML namespace (libvirt's per-backend extensions)."""
    return [child for child in root if isinstance(child.tag, str) and etree_namespace(child)]


def etree_namespace(el):
    return xmlu.etree.QName(el).namespace


def _with_extensions(canonical, given):
    """``canonical`` with the namespaced children of ``given`` it lacks put back (namespaces declared on the root)."""
    missing = [child for child in _extensions(given)
               if not [c for c in canonical if c.tag == child.tag]]
    if not missing:
        return canonical
    nsmap = dict(canonical.nsmap)
    for child in missing:
        if child.prefix and child.prefix not in nsmap:
            nsmap[child.prefix] = etree_namespace(child)
    root = xmlu.element(canonical.tag, nsmap=nsmap)
    for key, value in canonical.attrib.items():
        root.set(key, value)
    root.text = canonical.text
    for child in canonical:
        root.append(copy.deepcopy(child))
    for child in missing:
        root.append(copy.deepcopy(child))
    return root


def _round_trip(create, text, remove, option, strict):
    """The document libvirt's test driver gives back for ``text`` made with ``create(text, 0)``; the object
    made is removed again with ``remove``.  None when the driver refuses or fails, except that with
    ``strict`` a document its parser refuses is a ValidationError (see _refusal)."""
    try:
        made = create(text, 0)
    except libvirt.libvirtError as exc:
        refused = _refusal(exc, option, strict)
        if refused is not None:
            raise refused
        return None
    try:
        return made.XMLDesc(0)
    except libvirt.libvirtError:
        return None
    finally:
        try:
            remove(made)
        except libvirt.libvirtError:
            pass


def pool_document(root, option='xml', strict=False):
    """A <pool> document as libvirt stores it: parsed and formatted by libvirt's parser (test driver),
    computed fields dropped, its uuid and name as given, namespaced extensions as given.

    Returns ``root`` unchanged when the test driver cannot take it (the daemon will say why); with ``strict``
    (see same_library) a document libvirt's parser refuses is refused here, before the daemon is asked."""
    conn = _test_connection()
    names = xmlu.find_path(root, 'name')
    if conn is None or not names:
        return root
    # under its own name: libvirt derives defaults from it (a logical pool's volume group and /dev/NAME)
    scratch = xmlu.drop_paths(root, ('uuid',))
    text = _round_trip(conn.storagePoolDefineXML, xmlu.to_string(scratch, pretty=False),
                       lambda pool: pool.undefine(), option, strict)
    if text is None:
        return root
    canonical = xmlu.drop_paths(xmlu.parse(text), POOL_COMPUTED)
    for el in canonical.iter():
        if el.text is not None and not el.text.strip():
            el.text = None  # libvirt's indentation (an empty <source>)
    given_uuid = xmlu.find_path(root, 'uuid')
    if given_uuid and given_uuid[0].text:
        el = xmlu.element('uuid', _uuid_or_text(given_uuid[0].text))
        canonical.insert(1, el)
    return xmlu.pretty(_with_extensions(canonical, root))


def _uuid_or_text(text):
    try:
        return uuid_text(text, 'uuid')
    except ValidationError:
        return text.strip()


def _test_pool(conn, pool_type):
    """An active pool of ``pool_type`` in the test driver (made once), or None."""
    name = 'kvmops-canon-%s' % pool_type
    try:
        return conn.storagePoolLookupByName(name)
    except libvirt.libvirtError:
        pass
    if pool_type not in _TEST_POOL_SOURCES:
        return None
    doc = ("<pool type='%s'><name>%s</name><source>%s</source><target><path>/%s</path></target></pool>"
           % (pool_type, name, _TEST_POOL_SOURCES[pool_type], name))
    try:
        return conn.storagePoolCreateXML(doc, 0)
    except libvirt.libvirtError:
        return None


def volume_document(root, pool_type, option='xml', strict=False):
    """A <volume> document as libvirt's parser reads it for a pool of ``pool_type`` (test driver): sizes in
    bytes, defaults filled in; fields libvirt computes (key, path, allocation) dropped.

    Returns None when the test driver cannot take it; ``strict`` as for pool_document.  A document without
    <capacity> is left to the caller (the daemon takes the capacity of a backing store, the test driver not)."""
    conn = _test_connection()
    names = xmlu.find_path(root, 'name')
    if conn is None or not names or not xmlu.find_path(root, 'capacity'):
        return None
    pool = _test_pool(conn, pool_type)
    if pool is None:
        return None
    text = _round_trip(pool.createXML, xmlu.to_string(root, pretty=False), lambda vol: vol.delete(0), option, strict)
    if text is None:
        return None
    return xmlu.drop_paths(xmlu.parse(text), VOLUME_COMPUTED)


def extension_problems(desired, stored, option='xml'):
    """Warnings for the namespaced elements of ``desired`` that the daemon did not store as given."""
    problems = []
    for child in _extensions(desired):
        kept = [c for c in stored if c.tag == child.tag]
        label = xmlu.local_name(child)
        if not kept:
            problems.append('%s: libvirt did not store <%s> (its storage backend does not take it here); the '
                            'definition holds everything else' % (option, label))
        elif not xmlu.equal(kept[0], child):
            problems.append('%s: libvirt stored <%s> differently from the document' % (option, label))
    return problems


def comparable_extensions(desired, live, kept_namespaces):
    """``desired`` without the namespaced elements that cannot be compared with ``live``: those of a
    namespace the collection does not know libvirt to keep for the pool type and that ``live`` does not
    hold (the daemon drops them; redefining would change nothing)."""
    drop = []
    for child in _extensions(desired):
        namespace = etree_namespace(child)
        if namespace in kept_namespaces:
            continue
        if live is None or not [c for c in live if isinstance(c.tag, str) and etree_namespace(c) == namespace]:
            drop.append(child)
    if not drop:
        return desired
    result = copy.deepcopy(desired)
    for child in list(result):
        if isinstance(child.tag, str) and any(child.tag == d.tag for d in drop):
            result.remove(child)
    return result

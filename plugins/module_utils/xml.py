# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""XML on lxml: build from a spec, normalize live XML, merge, compare, render diffs.

Paths used here name elements relative to the document root, with
namespace prefixes kept (``source/host``, ``target/permissions/mode``,
``fs:mount_opts``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import traceback

from ansible_collections.kvmops.storage.plugins.module_utils.errors import ValidationError

try:
    from lxml import etree
    HAS_LXML = True
    LXML_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - depends on the managed host
    etree = None
    HAS_LXML = False
    LXML_IMPORT_ERROR = traceback.format_exc()


def parse(text, option='xml'):
    """Parse XML text; a syntax error becomes a ValidationError naming ``option``."""
    if isinstance(text, bytes):
        text = text.decode('utf-8')
    try:
        parser = etree.XMLParser(remove_blank_text=True, remove_comments=True, resolve_entities=False)
        root = etree.fromstring(text.strip().encode('utf-8'), parser)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise ValidationError(option, '%s: not well-formed XML: %s' % (option, exc))
    return root


def element(tag, text=None, nsmap=None, **attrs):
    """A new element; attributes whose value is None are left out."""
    el = etree.Element(tag, nsmap=nsmap) if nsmap else etree.Element(tag)
    _fill(el, text, attrs)
    return el


def sub(parent, tag, text=None, **attrs):
    """Append a child element; attributes whose value is None are left out."""
    el = etree.SubElement(parent, tag)
    _fill(el, text, attrs)
    return el


def _fill(el, text, attrs):
    for key, value in attrs.items():
        if value is not None:
            el.set(key.rstrip('_'), str(value))
    if text is not None:
        el.text = str(text)


def to_string(el, pretty=True):
    return etree.tostring(el, pretty_print=pretty, encoding='unicode')


def local_name(el):
    """``prefix:name`` for namespaced elements, else the plain tag."""
    qname = etree.QName(el)
    if qname.namespace and el.prefix:
        return '%s:%s' % (el.prefix, qname.localname)
    return qname.localname


def _join(path, name):
    return '%s/%s' % (path, name) if path else name


def _children(el):
    return [child for child in el if isinstance(child.tag, str)]


def find_path(root, path):
    """All elements at a slash path of local names (``source/host``)."""
    found = [root]
    for part in path.split('/'):
        found = [child for parent in found for child in _children(parent) if local_name(child) == part]
    return found


def drop_paths(root, paths):
    """A copy of ``root`` without the elements at ``paths``."""
    result = copy.deepcopy(root)
    for path in paths:
        for el in find_path(result, path):
            el.getparent().remove(el)
    return result


def merge(live, desired, atomic=()):
    """Lay ``desired`` over a copy of ``live``.

    What ``desired`` says wins; what it leaves out stays as ``live`` has it.
    Elements at ``atomic`` paths (lists such as ``source/host``) are replaced
    as a whole, and so is any tag that occurs more than once on either side.
    """
    result = copy.deepcopy(live)
    _merge_into(result, desired, frozenset(atomic), '')
    return result


def _merge_into(target, src, atomic, path):
    for key, value in src.attrib.items():
        target.set(key, value)
    if src.text is not None and src.text.strip():
        target.text = src.text
    groups = []
    for child in _children(src):
        if not groups or groups[-1][0] != child.tag:
            groups.append((child.tag, [child]))
        else:
            groups[-1][1].append(child)
    for tag, kids in groups:
        child_path = _join(path, local_name(kids[0]))
        existing = [child for child in _children(target) if child.tag == tag]
        if child_path not in atomic and len(kids) == 1 and len(existing) == 1:
            _merge_into(existing[0], kids[0], atomic, child_path)
            continue
        position = target.index(existing[0]) if existing else len(target)
        for old in existing:
            target.remove(old)
        for offset, kid in enumerate(kids):
            target.insert(position + offset, copy.deepcopy(kid))


def canonical(el):
    """A comparable form: attributes sorted, blank text and empty elements dropped,
    siblings grouped by tag (order kept within a tag)."""
    children = [canonical(child) for child in _children(el)]
    children = [child for child in children if child is not None]
    children.sort(key=lambda child: child[0])  # stable: order within one tag is kept
    text = (el.text or '').strip()
    attrs = tuple(sorted(el.attrib.items()))
    if not text and not attrs and not children and el.getparent() is not None:
        return None
    return (local_name(el), attrs, text, tuple(children))


def equal(a, b):
    return canonical(a) == canonical(b)


def differences(before, after):
    """Paths (``source/host``, ``target/permissions/mode``, ``@type``) that differ."""
    found = set()
    _differences(canonical(before), canonical(after), '', found)
    return sorted(found)


def _differences(a, b, path, found):
    if a == b:
        return
    if a is None or b is None:
        found.add(path)
        return
    if a[1] != b[1]:
        for key in set(dict(a[1])) | set(dict(b[1])):
            if dict(a[1]).get(key) != dict(b[1]).get(key):
                found.add(_join(path, '@' + key))
    if a[2] != b[2]:
        found.add(path)
    a_groups, b_groups = _group(a[3]), _group(b[3])
    for name in set(a_groups) | set(b_groups):
        left, right = a_groups.get(name, []), b_groups.get(name, [])
        child_path = _join(path, name)
        if len(left) == 1 and len(right) == 1:
            _differences(left[0], right[0], child_path, found)
        elif left != right:
            found.add(child_path)


def _group(children):
    groups = {}
    for child in children:
        groups.setdefault(child[0], []).append(child)
    return groups


def render_diff(before, after, before_header, after_header):
    """An Ansible diff dict from two elements (either may be None)."""
    return {
        'before': to_string(before) if before is not None else '',
        'after': to_string(after) if after is not None else '',
        'before_header': before_header,
        'after_header': after_header,
    }


def pretty(el):
    """Re-indent an element parsed elsewhere (live XML keeps libvirt's whitespace)."""
    return parse(to_string(el, pretty=False))

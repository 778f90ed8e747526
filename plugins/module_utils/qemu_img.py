# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""qemu-img on the host that runs the module: image conversion for imports and exports."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import shutil
import subprocess

from ansible_collections.kvmops.storage.plugins.module_utils.errors import OperationError, ValidationError

PACKAGES = 'qemu-utils (Debian, Ubuntu) or qemu-img (RHEL, Fedora)'


def find():
    """The path of qemu-img, or None."""
    return shutil.which('qemu-img')


def require(option, why, instead):
    """Refuse (naming ``option``) a task that needs qemu-img on a host without it; ``why`` says what for,
    ``instead`` what the task can do without it."""
    if not find():
        raise ValidationError(option, 'qemu-img is not installed on the host running the module; it %s: install %s, '
                                      'or %s' % (why, PACKAGES, instead))


def _run(args, what):
    try:
        proc = subprocess.Popen([find() or 'qemu-img'] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as exc:
        raise OperationError('running qemu-img failed: %s' % exc)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise OperationError('%s failed (qemu-img exit %d): %s' % (
            what, proc.returncode, (err or out).decode('utf-8', 'replace').strip() or 'no message'))
    return out


def convert(source_format, output_format, source, target):
    """``qemu-img convert`` of the file ``source`` into ``target`` (holes of a raw target stay holes)."""
    _run(['convert', '-q', '-f', source_format, '-O', output_format, source, target],
         'converting %s from %s to %s' % (source, source_format, output_format))


def compare(first_format, second_format, first, second):
    """``qemu-img compare``: raise OperationError unless the two images hold the same disk (a larger second
    image holding zeros past the first's end counts as the same)."""
    try:
        proc = subprocess.Popen([find() or 'qemu-img', 'compare', '-q', '-f', first_format, '-F', second_format,
                                 first, second], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as exc:
        raise OperationError('running qemu-img failed: %s' % exc)
    out, err = proc.communicate()
    if proc.returncode == 1:
        raise OperationError('%s (%s) and %s (%s) do not hold the same disk (qemu-img compare)'
                             % (second, second_format, first, first_format))
    if proc.returncode != 0:
        raise OperationError('comparing %s with %s failed (qemu-img exit %d): %s' % (
            second, first, proc.returncode, (err or out).decode('utf-8', 'replace').strip() or 'no message'))


def write_encrypted(source_format, source, target_format, target, keyfile):
    """``qemu-img convert -n`` of the image ``source`` into the LUKS-encrypted image ``target`` that exists (a LUKS
    container for ``target_format`` raw, a qcow2 image with LUKS encryption), opened with the passphrase in
    ``keyfile`` (never on the command line)."""
    escaped = target.replace(',', ',,')
    if target_format == 'raw':
        opened = 'driver=luks,key-secret=kvmops-key,file.filename=%s' % escaped
    else:
        opened = 'driver=%s,encrypt.key-secret=kvmops-key,file.filename=%s' % (target_format, escaped)
    key = 'secret,id=kvmops-key,file=%s' % keyfile.replace(',', ',,')
    _run(['convert', '-q', '-n', '-f', source_format, '--object', key, '--target-image-opts', source, opened],
         'writing %s into the encrypted image %s' % (source, target))


def refuse_references(path, fmt, option, shown):
    """Refuse an image that makes qemu-img read other files (a backing file, an external data file, the extents
    of a vmdk descriptor): converting it would copy them, read as the module's user, into the volume."""
    info = json.loads(_run(['info', '--output=json', '-f', fmt, path], 'reading image %s' % shown).decode('utf-8'))
    named = info.get('backing-filename') or info.get('full-backing-filename')
    specific = (info.get('format-specific') or {}).get('data') or {}
    if not named and specific.get('data-file'):
        named = specific['data-file']
    extents = specific.get('extents') or []
    if not named and fmt == 'vmdk' and any(extent.get('filename') not in (None, path) for extent in extents):
        named = ', '.join(extent.get('filename') for extent in extents)
    if named:
        raise OperationError('%s %s: the %s image reads %s, so converting it would copy that into the volume; it is '
                             'refused. Nothing was changed' % (option, shown, fmt, named))


def virtual_size(path, fmt):
    """The size the guest sees of the image ``path`` of format ``fmt``."""
    out = _run(['info', '--output=json', '-f', fmt, path], 'reading image %s' % path)
    return int(json.loads(out.decode('utf-8'))['virtual-size'])

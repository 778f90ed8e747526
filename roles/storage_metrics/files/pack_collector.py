# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pack the storage_metrics collector and the collection's plugins/module_utils (run on the controller).

pack_collector.py SOURCE ARCHIVE [FILE...] writes ARCHIVE (tar, gzip) with every *.py file under SOURCE as
ansible_collections/kvmops/storage/plugins/module_utils/<path>, and each FILE (the collector script) at the
top by its name: owned by root, mode 0644, with its file's modification time and no directory members (tar
makes the directories).  The archive's last member, PACKED, holds a SHA-256 digest of every other member's
name and content; the script prints that digest, and the role unpacks the archive on a host only where
PACKED differs, which a stat of it (also in check mode) tells.  One archive is one transfer and a few module
runs per host, where a copy per file costs two module runs per file.
"""

import hashlib
import io
import os
import sys
import tarfile

PREFIX = 'ansible_collections/kvmops/storage/plugins/module_utils'


# the member that names what the archive holds (its digest)
MARKER = 'PACKED'


def _root_owned(info):
    info.uid = info.gid = 0
    info.uname = info.gname = 'root'
    info.mode = 0o644
    return info


def _members(source, extra):
    """(path, name in the archive) of each file packed, in the archive's order."""
    for path in extra:
        yield path, os.path.basename(path)
    for directory, subdirectories, files in os.walk(source):
        subdirectories[:] = sorted(name for name in subdirectories if name != '__pycache__')
        for name in sorted(files):
            if name.endswith('.py'):
                path = os.path.join(directory, name)
                yield path, '%s/%s' % (PREFIX, os.path.relpath(path, source))


def pack(source, archive, extra=()):
    """Write the archive; returns the hex SHA-256 digest written into its member PACKED."""
    digest = hashlib.sha256()
    with tarfile.open(archive, 'w:gz') as tar:
        for path, name in _members(source, extra):
            with open(path, 'rb') as stream:
                content = stream.read()
            for part in (name.encode('utf-8'), content):
                digest.update(b'%d:' % len(part) + part)
            tar.addfile(_root_owned(tar.gettarinfo(path, arcname=name)), io.BytesIO(content))
        marker = digest.hexdigest().encode('ascii')  # no newline: the role compares its SHA-1 with the digest's
        info = _root_owned(tarfile.TarInfo(MARKER))
        info.size = len(marker)
        tar.addfile(info, io.BytesIO(marker))
    return digest.hexdigest()


def main(argv):
    if len(argv) < 3:
        sys.stderr.write('usage: %s SOURCE ARCHIVE [FILE...]\n' % argv[0])
        return 2
    print(pack(argv[1], argv[2], argv[3:]))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))

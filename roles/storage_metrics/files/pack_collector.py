# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pack the storage_metrics collector and the collection's plugins/module_utils (run on the controller).

pack_collector.py SOURCE ARCHIVE [FILE...] writes ARCHIVE (tar, gzip) with every *.py file under SOURCE as
ansible_collections/kvmops/storage/plugins/module_utils/<path>, and each FILE (the collector script) at the
top by its name: owned by root, mode 0644, with its file's modification time and no directory members (tar
makes the directories), so that the unarchive task that unpacks it on each host reports a change only when
a file differs.  One archive is one transfer and a few module runs per host, where a copy per file costs
two module runs per file.
"""

import os
import sys
import tarfile

PREFIX = 'ansible_collections/kvmops/storage/plugins/module_utils'


def _add(tar, path, name):
    info = tar.gettarinfo(path, arcname=name)
    info.uid = info.gid = 0
    info.uname = info.gname = 'root'
    info.mode = 0o644
    with open(path, 'rb') as stream:
        tar.addfile(info, stream)


def pack(source, archive, extra=()):
    count = 0
    with tarfile.open(archive, 'w:gz') as tar:
        for path in extra:
            _add(tar, path, os.path.basename(path))
            count += 1
        for directory, subdirectories, files in os.walk(source):
            subdirectories[:] = sorted(name for name in subdirectories if name != '__pycache__')
            for name in sorted(files):
                if not name.endswith('.py'):
                    continue
                path = os.path.join(directory, name)
                _add(tar, path, '%s/%s' % (PREFIX, os.path.relpath(path, source)))
                count += 1
    return count


def main(argv):
    if len(argv) < 3:
        sys.stderr.write('usage: %s SOURCE ARCHIVE [FILE...]\n' % argv[0])
        return 2
    print('%d files packed' % pack(argv[1], argv[2], argv[3:]))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))

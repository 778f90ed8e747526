# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The storage_metrics collector: the libvirt storage of this host in node_exporter's textfile format.

The storage_metrics role installs this script in its directory (storage_metrics_lib_dir) beside a copy of
the collection's plugins/module_utils laid out as the package
ansible_collections/kvmops/storage/plugins/module_utils, and a systemd timer runs it.  The numbers are
computed by that copy of the code storage_facts runs (module_utils/metrics.py over facts.py).  Run from a
checkout, it uses whatever ansible_collections package the Python path finds.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.isdir(os.path.join(HERE, 'ansible_collections')):
    sys.path.insert(0, HERE)

from ansible_collections.kvmops.storage.plugins.module_utils.metrics import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())

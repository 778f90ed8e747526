# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""type: mpath - multipath devices of the host (/dev/mapper)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import PoolBackend


class MpathBackend(PoolBackend):
    type_name = 'mpath'
    summary = 'the host multipath devices under /dev/mapper'
    default_target = '/dev/mapper'
    options = ('target',)
    capabilities = frozenset(('volume_wipe', 'volume_upload'))

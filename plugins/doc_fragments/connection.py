# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    """Options shared by every module of the collection."""

    DOCUMENTATION = r'''
options:
  uri:
    description:
      - The libvirt connection URI.
      - The default manages the libvirtd of the host the module runs on. A remote URI such as
        C(qemu+ssh://root@host/system) manages another host from the controller; the probes that
        tell whether a pool's storage is already built then cannot run,
        see the O(kvmops.storage.storage_pool#module:build) option of M(kvmops.storage.storage_pool).
      - Set it once for all modules with C(module_defaults) and the action group
        C(group/kvmops.storage.libvirt).
    type: str
    default: qemu:///system
requirements:
  - python >= 3.8
  - libvirt-python (C(python3-libvirt)) on the host that runs the module
  - lxml (C(python3-lxml)) on the host that runs the module
'''

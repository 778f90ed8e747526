#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: storage_facts
short_description: Gather facts about libvirt storage pools, volumes, secrets and pool capabilities
version_added: 0.1.0
description:
  - Sets C(ansible_facts.libvirt_storage) with the storage pools of a libvirt host, their volumes (with the
    domains that use each volume), the metadata of libvirt secrets, and what each pool type can do.
  - Sizes are integers in bytes, booleans are booleans.
  - Read-only. An inactive pool is listed with an empty C(volumes). A pool whose volumes cannot be read (for
    example an NFS pool whose server went away) is reported as a warning naming the pool and libvirt's message;
    the task does not fail.
  - Fast on large pools. Each volume costs one libvirt call, where a loop over C(info()) and C(XMLDesc()) makes
    two (the XML holds capacity, allocation, physical size, format and backing store); the calls run in a few threads over the
    one connection while the answers are parsed, a batch at a time, and the domains' disks are read once for all
    pools.
author:
  - kvmops.storage contributors (@kvmops)
extends_documentation_fragment:
  - kvmops.storage.connection
attributes:
  check_mode:
    support: full
    description: The module changes nothing; check mode gathers the same facts.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
  idempotent:
    support: full
    description: Never reports a change.
  facts:
    support: full
    description: Sets C(ansible_facts.libvirt_storage).
options:
  gather:
    description:
      - What to gather. V(volumes) implies V(pools) (volumes are listed inside their pool).
      - V(secrets) lists metadata only (uuid, usage, usage_id, description, private, ephemeral), never a value.
      - V(capabilities) combines what libvirt reports per pool type (C(virsh pool-capabilities)) with what this
        collection can do with that type.
    type: list
    elements: str
    choices: [pools, volumes, secrets, capabilities]
    default: [pools]
  pools:
    description:
      - Only these pools (and their volumes).
      - A name that no pool on the host has is reported as a warning, not a failure, so that one task can run over
        hosts that do not all have the same pools.
    type: list
    elements: str
  refresh:
    description:
      - Refresh each pool before its volumes are listed (as C(virsh pool-refresh) does), so that files added or
        removed outside libvirt show up or go and the pool's C(capacity), C(allocation) and C(available) are measured
        again. It costs a rescan in libvirt, which opens every volume of the pool.
      - Without it (as with C(virsh vol-list) and C(virsh pool-info)) the pool figures are those of libvirt's
        last refresh or volume change, and the volumes are the ones libvirt knows. Each listed volume is still read
        live (libvirt measures a volume's capacity, allocation and format again whenever its XML is asked for),
        and one whose file is gone is left out. C(playbooks/capacity_report.yml) sets it.
      - It applies to active pools, with or without V(volumes) in O(gather). A pool whose refresh fails (its storage
        went away) is reported as a warning and its volumes are not read; libvirt stops that pool.
    type: bool
    default: false
  query:
    description:
      - A JMESPath expression run over the C(libvirt_storage) dict; its result is returned as RV(query_result).
      - C(pools) is a dict keyed by pool name, so C(pools.*) gives the list of pools.
      - Needs the Python library C(jmespath) on the host running the module.
    type: str
notes:
  - C(usage_percent) of a pool is C(allocation) divided by C(capacity), in percent with one decimal, or null when
    libvirt reports a capacity of 0 (inactive pools, some network pools).
seealso:
  - module: kvmops.storage.storage_pool
  - module: kvmops.storage.storage_volume
'''

EXAMPLES = r'''
- name: Pools and their volumes
  kvmops.storage.storage_facts:
    gather: [pools, volumes]

- name: Pools over 80 % full, measured again now (files copied in outside libvirt included)
  kvmops.storage.storage_facts:
    refresh: true
    query: "pools.* | [?usage_percent > `80`].name"
  register: full

- name: Volumes of one pool that no domain uses
  kvmops.storage.storage_facts:
    gather: [volumes]
    pools: [images]
    query: "pools.images.volumes.* | [?length(used_by) == `0`].path"
  register: unused

- name: Everything, on a remote hypervisor
  kvmops.storage.storage_facts:
    uri: qemu+ssh://root@hv1.example.com/system
    gather: [pools, volumes, secrets, capabilities]

- name: Show the free space of each pool
  ansible.builtin.debug:
    msg: "{{ item.key }}: {{ item.value.available | human_readable }} free"
  loop: "{{ ansible_facts.libvirt_storage.pools | dict2items }}"
'''

RETURN = r'''
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: complex
  contains:
    libvirt_storage:
      description:
        - C(pools) (with O(gather=pools) or O(gather=volumes)), C(secrets) and C(capabilities) (when gathered).
      type: complex
      returned: always
      contains:
        pools:
          description:
            - Pools by name, each the record M(kvmops.storage.storage_pool) returns as RV(kvmops.storage.storage_pool#module:pool)
              (without its C(xml)) - C(name), C(uuid), C(type), C(state) (active, inactive, building, degraded,
              inaccessible), C(active), C(persistent), C(autostart), C(autostart_not_running) (autostart set but
              the pool is not running; the task warns, naming the pool), C(capacity), C(allocation), C(available)
              (bytes), C(usage_percent) (float or null), C(provisioned), C(overcommit_ratio), C(thin_provisioned),
              C(target) (C(path), C(permissions)), C(source) (C(hosts), C(dir), C(devices), C(name), C(format),
              C(initiator), C(adapter), C(auth) with the secret's usage or uuid, never its value) - and C(volumes).
            - C(provisioned) is the sum of the capacities of the pool's volumes (bytes) and C(overcommit_ratio)
              C(provisioned) divided by C(capacity) (three decimals; above 1 the volumes may outgrow the pool).
              Both are known only when the volumes are read (O(gather) has V(volumes) and the pool is active);
              null otherwise, and C(overcommit_ratio) is null for a capacity of 0.
            - C(thin_provisioned) is whether volumes of the pool type take space as data is written (V(dir),
              V(fs), V(netfs), V(rbd), V(gluster), V(vstorage)); null for a type the collection does not manage.
            - C(volumes) is a dict by volume name, empty unless O(gather) has V(volumes) and the pool is active;
              each is the record M(kvmops.storage.storage_volume) returns as RV(kvmops.storage.storage_volume#module:volume)
              - C(name), C(pool), C(state), C(type), C(path), C(key), C(format), C(capacity), C(allocation),
              C(physical) (bytes; null when libvirt reports none), C(backing_store) (C(path), C(format)) or
              null, C(mode), C(owner), C(group) - plus C(used_by), the sorted names of the defined domains whose
              disks (or backing chains) are this volume.
            - Earlier releases had no C(active), C(autostart_not_running), C(provisioned), C(overcommit_ratio),
              C(thin_provisioned) in a pool, nor C(pool), C(state), C(physical), C(mode), C(owner), C(group) in a
              volume.
          type: dict
          returned: when O(gather) has V(pools) or V(volumes)
          sample:
            images:
              name: images
              uuid: 9f5a4c1e-2d3b-4a6f-8e7d-1c2b3a4d5e6f
              type: dir
              state: active
              active: true
              persistent: true
              autostart: true
              autostart_not_running: false
              capacity: 107374182400
              allocation: 21474836480
              available: 85899345920
              usage_percent: 20.0
              provisioned: 42949672960
              overcommit_ratio: 0.4
              thin_provisioned: true
              target: {path: /var/lib/libvirt/images, permissions: {mode: "0711", owner: "0", group: "0"}}
              source: {}
              volumes:
                vm1.qcow2:
                  name: vm1.qcow2
                  pool: images
                  state: present
                  type: file
                  path: /var/lib/libvirt/images/vm1.qcow2
                  key: /var/lib/libvirt/images/vm1.qcow2
                  format: qcow2
                  capacity: 42949672960
                  allocation: 1073741824
                  physical: 1074135040
                  backing_store: {path: /var/lib/libvirt/images/golden.qcow2, format: qcow2}
                  mode: "0600"
                  owner: "107"
                  group: "107"
                  used_by: [vm1]
        secrets:
          description:
            - Metadata of each libvirt secret, the record M(kvmops.storage.storage_secret) returns as
              RV(kvmops.storage.storage_secret#module:secret) without C(value_set) and C(xml) - C(state),
              C(uuid), C(usage), C(usage_id), C(description), C(private), C(ephemeral). The value is never read.
          type: list
          elements: dict
          returned: when O(gather) has V(secrets)
          sample:
            - state: present
              uuid: 0d4f7c2e-5a1b-4c3d-9e8f-7a6b5c4d3e2f
              usage: ceph
              usage_id: client.libvirt secret
              description: Ceph client.libvirt key
              private: true
              ephemeral: false
        capabilities:
          description:
            - By pool type. C(supported) and the C(pool) and C(volume) formats (C(default_format), C(formats))
              are what libvirt reports; C(operations) is what this collection can do with the type (C(build),
              C(delete), C(volume_create), C(volume_delete), C(volume_resize), C(volume_wipe), C(volume_upload),
              C(volume_clone), C(volume_backing)), or null for a type it does not manage.
          type: dict
          returned: when O(gather) has V(capabilities)
          sample:
            dir:
              supported: true
              pool: null
              volume: {default_format: raw, formats: [none, raw, qcow2]}
              operations: {build: true, delete: true, volume_create: true, volume_delete: true,
                           volume_resize: true, volume_wipe: true, volume_upload: true,
                           volume_clone: true, volume_backing: true}
query_result:
  description: What O(query) selected from C(libvirt_storage).
  returned: when O(query) is given
  type: raw
  sample: [images]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.storage.plugins.module_utils.connection import connection_argument_spec
from ansible_collections.kvmops.storage.plugins.module_utils.engine import run_module
from ansible_collections.kvmops.storage.plugins.module_utils.facts import FactsManager, facts_argument_spec


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(facts_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run_module(module, FactsManager)


if __name__ == '__main__':
    main()

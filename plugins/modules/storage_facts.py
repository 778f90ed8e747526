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
  - Read-only, and it never stops a pool (see O(refresh)). An inactive pool is listed with an empty C(volumes). A
    pool whose volumes cannot be read (for example an NFS pool whose server went away) is reported as a warning
    naming the pool and libvirt's message; the task does not fail. Storage that does not answer at all is a
    warning after O(timeout) seconds, not a task that hangs.
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
      - It applies to active pools, with or without V(volumes) in O(gather).
      - It never stops a pool. libvirt stops a pool whose refresh fails (it unmounts a netfs or fs pool, logs out of
        an iSCSI target, deactivates a volume group), so a pool is refreshed only once its storage answered a probe
        that cannot stop it. Where the module runs on the hypervisor (O(uri=qemu:///system)), the probe lists the
        directory of a dir, fs or netfs pool and asks its file system's sizes, as the refresh would, and looks for
        the volume group of a logical pool, the zpool of a zfs pool, the partition table of a disk pool. Otherwise
        it reads the XML of a volume of the pool, for the types whose volumes libvirt reads from their storage then
        (dir, fs, netfs, vstorage, rbd). A pool whose storage fails the probe (its directory removed, its volume
        group gone) is not refreshed and its volumes are not read; a pool that no probe can check (iscsi,
        iscsi-direct, scsi, mpath, gluster; over a remote O(uri) also logical, disk, zfs; a pool with no volumes
        over a remote O(uri)) is not refreshed. Each is a warning naming the pool; its figures are then those of
        libvirt's last refresh.
      - Storage can still fail between the probe and the refresh; then libvirt stops the pool, and the warning
        says so. Over a remote O(uri) the volume read can be answered from an NFS client's cache although the
        server is gone; the refresh then blocks and is left behind after O(timeout) (with a hard mount it ends
        when the server is back, and the pool keeps running, since libvirt stops a pool only when its refresh fails).
    type: bool
    default: false
  timeout:
    description:
      - Seconds a pool may take to answer in each step (reading its definition and state, probing its storage, its
        refresh, each batch of its volumes). A pool that does not answer in that time (an NFS server gone, with a hard
        mount, blocks every stat and every libvirt call on that pool) is a warning naming the pool and what it
        was doing; the other pools are reported as usual. A pool whose definition did not answer is left out;
        one whose storage did not answer is reported with libvirt's figures from before and no volumes.
      - The calls left waiting stay in libvirtd until the storage answers (or for ever) and hold that pool (other
        libvirt clients wait on it too); the module does not wait for them. After 4 such calls the remaining
        pools are not asked (libvirtd serves at most 5 calls of one connection at a time, its
        C(max_client_requests)) and are reported as not answering.
      - Pools are read 4 at a time, so a pool that does not answer costs about O(timeout) seconds.
      - A positive number; fractions are allowed.
    type: float
    default: 30
  discover:
    description:
      - Find pool sources with libvirt's C(virConnectFindStoragePoolSources) (as C(virsh find-storage-pool-sources-as)),
        such as the NFS exports of a server, the iSCSI targets of a portal, the LVM volume groups of the host. libvirtd asks
        the storage from the hypervisor (C(showmount -e) and gluster for V(netfs), C(iscsiadm) for V(iscsi),
        libiscsi for V(iscsi-direct), C(pvs) for V(logical), the gluster CLI for V(gluster)).
      - The result is RV(ansible_facts.libvirt_storage.discovered), a list with the options a
        M(kvmops.storage.storage_pool) task takes for each source found, so that a playbook can loop over it.
      - Errors name the suboption and what it accepts, before libvirt is asked; a failed discovery (the server does
        not answer, libvirt cannot discover that type here) fails the task. The discovery must answer within
        O(timeout).
    type: dict
    suboptions:
      type:
        description:
          - The pool type whose sources to find.
        type: str
        required: true
        choices: [gluster, iscsi, iscsi-direct, logical, netfs]
      host:
        description:
          - The server to ask (NFS or gluster server, iSCSI portal). Required for every type but V(logical), which
            takes none (libvirtd reads the physical volumes of its own host).
        type: str
      port:
        description:
          - The iSCSI portal's port (V(iscsi), V(iscsi-direct)); libvirt's default is 3260.
        type: int
      initiator:
        description:
          - The initiator IQN to log in with (V(iscsi), V(iscsi-direct); required for V(iscsi-direct)). It is copied
            into each source found as C(source_initiator).
        type: str
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

- name: Facts of a host whose NFS server may be gone, within 10 seconds a pool
  kvmops.storage.storage_facts:
    gather: [volumes]
    refresh: true
    timeout: 10

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

- name: The NFS exports of nfs1
  kvmops.storage.storage_facts:
    discover: {type: netfs, host: nfs1.example.com}

- name: A netfs pool for each export found
  kvmops.storage.storage_pool:
    name: "nfs-{{ item.source_path | basename }}"
    type: "{{ item.type }}"
    source_host: "{{ item.source_host }}"
    source_path: "{{ item.source_path }}"
    source_format: "{{ item.source_format }}"
    target: "/var/lib/libvirt/nfs/{{ item.source_path | basename }}"
    state: active
  loop: "{{ ansible_facts.libvirt_storage.discovered }}"

- name: The targets of an iSCSI portal, for iscsi-direct pools (libiscsi; needs an initiator IQN)
  kvmops.storage.storage_facts:
    discover: {type: iscsi-direct, host: 192.0.2.10, port: 3260, initiator: "iqn.2026-11.com.example:hv1"}

- name: The LVM volume groups of the hypervisor
  kvmops.storage.storage_facts:
    discover: {type: logical}

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
        - C(pools) (with O(gather=pools) or O(gather=volumes)), C(secrets) and C(capabilities) (when gathered),
          C(discovered) (with O(discover)).
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
              C(initiator), C(adapter), C(auth) with the secret's usage or uuid, never its value, C(mount_opts)) - and
              C(volumes).
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
        discovered:
          description:
            - With O(discover), one entry per pool source libvirt found, holding the options of
              M(kvmops.storage.storage_pool) that describe it. C(type) is always there; C(source_host) (a list;
              C(host:port) for iSCSI portals), C(source_path) (an NFS export, a gluster volume), C(source_dev) (a
              list of the physical volumes of a volume group, or the iSCSI target IQN), C(source_name) (a volume group,
              a gluster volume), C(source_format) (V(nfs), V(glusterfs), V(lvm2)...), C(source_initiator) and
              C(source_adapter) when libvirt reports them.
          type: list
          elements: dict
          returned: when O(discover) is given
          sample:
            - {type: netfs, source_host: [nfs1.example.com], source_path: /export/vms, source_format: nfs}
            - {type: logical, source_dev: [/dev/sdb], source_name: vg_kvm, source_format: lvm2}
            - {type: iscsi-direct, source_host: ["192.0.2.10:3260"], source_dev: ["iqn.2026-11.com.example:t1"],
               source_initiator: "iqn.2026-11.com.example:hv1"}
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

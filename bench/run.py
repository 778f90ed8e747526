# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Side-by-side benchmarks of kvmops.storage and community.libvirt on the local libvirtd.

Run through bench/run.sh, which prepares the machine, the peer virtualenv and libvirtd;
see bench/README.md for the scenarios and how each figure is measured.
"""

import argparse
import ast
import base64
import glob
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata

import libvirt

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
URI = 'qemu:///system'

POOL_VOLS = 'bench-vols'
POOL_DIR = 'bench-pool'
POOL_FACTS = 'bench-facts'
POOL_REPORT = 'bench-report'
POOL_BYTES = 'bench-bytes'
POOL_RBD = 'bench-rbd'
# what scripts/servers.sh start ceph writes: the cluster's configuration, RADOS pool and client key
CEPH_TESTBED = os.path.join(REPO, '.build', 'ceph', 'testbed.env')
MIB = 1024 * 1024
GIB = 1024 * MIB
REPORT_PLAYBOOK = os.path.join(REPO, 'playbooks', 'capacity_report.yml')
CALLBACKS = os.path.join(REPO, 'tests', 'integration', 'callback_plugins')
TASK_START_MARKER = 'TASK_START_JSON '
GATHER_TASK = 'Read the pools and volumes of each host'
WRITE_TASK = 'Take the time of this run'
VOLUME_CAPACITY_MIB = 1
BARE_START = 'import libvirt\nimport lxml.etree\nprint("{}")\n'
COLLECTOR_SCRIPT = 'kvmops_storage_metrics.py'
NAIVE_METRICS = os.path.join(HERE, 'naive_metrics.py')
ROLE_PYTHON = '/usr/bin/python3'
TEXTFILE = 'kvmops_storage.prom'
RECAP_RE = re.compile(r'^\S+\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', re.M)


class BenchError(Exception):
    """A run that did not do what the scenario expects (failed, or changed something)."""


# ---- helpers -------------------------------------------------------------------------------
def _now():
    return time.perf_counter()


def _median(values):
    return statistics.median(values) if values else None


def _fmt_s(value):
    if value is None:
        return 'n/a'
    return '%.3f s' % value if value < 10 else '%.1f s' % value


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _load():
    with open('/proc/loadavg') as handle:
        return ' '.join(handle.read().split()[:3])


class Side:
    """One side of a comparison: an ansible installation, its python and its collections."""

    def __init__(self, label, venv, collections_path, workdir):
        self.label = label
        self.python = os.path.join(venv, 'bin', 'python')
        self.bindir = os.path.join(venv, 'bin')
        self.collections_path = collections_path
        self.workdir = workdir

    def env(self, extra=None):
        env = dict(os.environ)
        for key in list(env):
            if key.startswith('ANSIBLE_') or key in ('PYTHONPATH', 'VIRTUAL_ENV'):
                del env[key]
        env.update({
            'PATH': self.bindir + os.pathsep + os.environ.get('PATH', os.defpath),
            'ANSIBLE_COLLECTIONS_PATH': self.collections_path,
            'ANSIBLE_PYTHON_INTERPRETER': self.python,
            'ANSIBLE_LOCALHOST_WARNING': 'false',
            'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'false',
            'ANSIBLE_NOCOLOR': '1',
            'ANSIBLE_RETRY_FILES_ENABLED': 'false',
            'ANSIBLE_PIPELINING': 'false',
            'PYTHONDONTWRITEBYTECODE': '1',
        })
        env.update(extra or {})
        return env

    def version(self):
        out = subprocess.run([os.path.join(self.bindir, 'ansible'), '--version'], stdout=subprocess.PIPE,
                             universal_newlines=True, env=self.env(), check=False).stdout
        return out.splitlines()[0].strip() if out else 'unknown'

    def playbook(self, path, extra_env=None, expect_changed=False):
        """Run a playbook on localhost; returns the wall time. Raises BenchError on a failed run,
        or on a change when none is expected."""
        argv = [os.path.join(self.bindir, 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', path]
        start = _now()
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                              env=self.env(extra_env), check=False)
        elapsed = _now() - start
        recap = RECAP_RE.search(proc.stdout)
        if proc.returncode != 0 or recap is None or int(recap.group(4)) or int(recap.group(3)):
            raise BenchError('%s: %s failed (exit %d):\n%s' % (self.label, path, proc.returncode, proc.stdout[-4000:]))
        if not expect_changed and int(recap.group(2)):
            raise BenchError('%s: %s changed something on a run that must be a no-op:\n%s'
                             % (self.label, path, proc.stdout[-4000:]))
        return elapsed

    def capture_module(self, path, name, expect_changed=False):
        """Run a one-task playbook with ANSIBLE_KEEP_REMOTE_FILES=1 and return the AnsiballZ file
        ansible built and executed for it (the module, its module_utils and its arguments)."""
        tmp = os.path.join(self.workdir, 'remote-tmp-%s' % name)
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        self.playbook(path, {'ANSIBLE_KEEP_REMOTE_FILES': '1', 'ANSIBLE_REMOTE_TMP': tmp,
                             'ANSIBLE_REMOTE_TEMP': tmp}, expect_changed=expect_changed)
        found = glob.glob(os.path.join(tmp, 'ansible-tmp-*', 'AnsiballZ_*.py'))
        if len(found) != 1:
            raise BenchError('%s: expected one AnsiballZ file under %s, found %d' % (self.label, tmp, len(found)))
        return found[0]

    def run_module(self, ansiballz, check=None):
        """Execute the AnsiballZ file once as ansible does (its python, no arguments, the
        arguments are inside); returns (wall time, CPU time of the process)."""
        wall, cpu, result = timed_json('%s: %s' % (self.label, ansiballz), [self.python, ansiballz], self.env(),
                                       cwd=os.path.dirname(ansiballz))
        if result.get('failed') or result.get('changed'):
            raise BenchError('%s: %s failed or changed something: %s'
                             % (self.label, ansiballz, json.dumps(result)[:2000]))
        if check is not None:
            check(result)
        return wall, cpu


def timed_json(label, argv, env, cwd=None):
    """Run ARGV, which prints one JSON document; returns (wall time, CPU time, the document).
    A process that fails or prints no JSON is a BenchError naming LABEL."""
    cpu = _children_cpu()
    start = _now()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          env=env, check=False, cwd=cwd)
    wall = _now() - start
    cpu = _children_cpu() - cpu
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        raise BenchError('%s printed no JSON result (exit status %d):\n%s%s'
                         % (label, proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:]))
    return wall, cpu, result


def in_turn(runs, *measured):
    """The results of each function in MEASURED, run in turn RUNS times (first, second, ...,
    first, second...), so that a burst of load from elsewhere falls on every side alike."""
    samples = [[] for dummy in measured]
    for dummy in range(runs):
        for index, what in enumerate(measured):
            samples[index].append(what())
    return samples


def module_times(runs, *measured):
    """Median (wall, CPU) time of each measurement in MEASURED, run in turn: a (side, AnsiballZ
    file, check) or a function returning (wall, CPU)."""
    calls = [what if callable(what) else (lambda what=what: what[0].run_module(what[1], what[2]))
             for what in measured]
    return [(_median([s[0] for s in sample]), _median([s[1] for s in sample])) for sample in in_turn(runs, *calls)]


def write_playbook(path, tasks):
    """A playbook on localhost without fact gathering. JSON is YAML."""
    play = [{'name': 'bench', 'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}]
    with open(path, 'w') as handle:
        json.dump(play, handle, indent=1)
    return path


# ---- libvirt set-up ---------------------------------------------------------------------------
def ensure_dir_pool(conn, name, target, autostart=False):
    """A persistent, active dir pool NAME on TARGET (defined and started when missing)."""
    os.makedirs(target, exist_ok=True)
    try:
        pool = conn.storagePoolLookupByName(name)
    except libvirt.libvirtError:
        xml = ("<pool type='dir'><name>%s</name><target><path>%s</path></target></pool>" % (name, target))
        pool = conn.storagePoolDefineXML(xml, 0)
    if not pool.isActive():
        pool.create(0)
    if autostart and not pool.autostart():
        pool.setAutostart(1)
    return pool


def _sparse_image(path, size):
    """A raw image of SIZE bytes: 64 MiB of random data at 0, 1/4, 1/2 and 3/4 of it, holes between."""
    with open(path, 'wb') as handle:
        for quarter in range(4):
            handle.seek(quarter * size // 4)
            for dummy in range(4):
                handle.write(os.urandom(16 * MIB))
        handle.truncate(size)


def _delete_volume(pool, name):
    try:
        pool.storageVolLookupByName(name).delete(0)
    except libvirt.libvirtError:
        pass


def _timed_command(argv):
    start = _now()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
    if proc.returncode != 0:
        raise BenchError('%s failed: %s' % (' '.join(argv), proc.stderr.strip()))
    return _now() - start


def _sha256_of(argv):
    """The SHA-256 of what the command ``argv`` writes."""
    digest = hashlib.sha256()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE)
    for chunk in iter(lambda: proc.stdout.read(MIB), b''):
        digest.update(chunk)
    if proc.wait() != 0:
        raise BenchError('%s failed (exit %d)' % (' '.join(argv), proc.returncode))
    return digest.hexdigest()


def _same_image(first, second):
    proc = subprocess.run(['qemu-img', 'compare', '-q', first, second], check=False)
    if proc.returncode != 0:
        raise BenchError('%s and %s differ (qemu-img compare exit %d)' % (first, second, proc.returncode))


def remove_pool(conn, name, directory):
    try:
        pool = conn.storagePoolLookupByName(name)
    except libvirt.libvirtError:
        pool = None
    if pool is not None:
        if pool.isActive():
            pool.destroy()
        pool.undefine()
    shutil.rmtree(directory, ignore_errors=True)


# ---- scenarios -------------------------------------------------------------------------------
class Bench:
    def __init__(self, args, ours, peer, conn):
        self.args = args
        self.ours = ours
        self.peer = peer
        self.conn = conn
        self.rows = []
        self.notes = []

    def row(self, scenario, what, ours, peer, ratio, target='', met=''):
        self.rows.append((scenario, what, ours, peer, ratio, target, met))
        print('  %-4s %-58s %-26s %-30s %s %s %s' % (scenario, what, ours, peer, ratio, target, met), flush=True)

    def timed(self, side, path, runs):
        return _median([side.playbook(path) for dummy in range(runs)])

    def _path(self, name):
        return os.path.join(self.args.workdir, name)

    def baseline(self):
        """ansible-playbook start-up on each side: a play with one debug task (an action that runs no module)."""
        path = write_playbook(self._path('base.yml'), [{'name': 'no module', 'ansible.builtin.debug': {'msg': 'start-up'}}])
        ours, peer = [_median(times) for times in in_turn(
            self.args.runs, lambda: self.ours.playbook(path), lambda: self.peer.playbook(path))]
        self.row('-', 'ansible-playbook start-up (one debug task)', '%s (n=%d)' % (_fmt_s(ours), self.args.runs),
                 '%s (n=%d)' % (_fmt_s(peer), self.args.runs), '%.2fx' % (ours / peer))

    # (b) -----------------------------------------------------------------------------------
    def scenario_b(self):
        args = self.args
        target = os.path.join(args.base_dir, POOL_VOLS)
        ensure_dir_pool(self.conn, POOL_VOLS, target)
        names = ['bench-%04d.img' % i for i in range(args.volumes)]
        bulk = write_playbook(self._path('b-bulk.yml'), [{
            'name': '%d volumes in one task' % len(names),
            'kvmops.storage.storage_volume': {
                'pool': POOL_VOLS, 'format': 'raw', 'capacity': '%dM' % VOLUME_CAPACITY_MIB,
                'volumes': [{'name': name} for name in names]}}])
        print('(b) %d volumes in one storage_volume task vs a loop of virt_volume over %d of them'
              % (len(names), args.loop_volumes), flush=True)
        create = self.ours.playbook(bulk, expect_changed=True)
        self.notes.append('(b) making the %d volumes (or finding them there, after a --keep run) took %.1f s end to end '
                          'in one storage_volume task.' % (len(names), create))
        ansiballz = self.ours.capture_module(bulk, 'b-bulk')

        def all_listed(result):
            if len(result.get('volumes', ())) != len(names):
                raise BenchError('storage_volume reported %d volumes, not %d' % (len(result.get('volumes', ())), len(names)))
        ours_e2e = self.timed(self.ours, bulk, args.runs)

        xml = ("<volume><name>{{ item }}</name><capacity unit='M'>%d</capacity>"
               "<target><format type='raw'/></target></volume>" % VOLUME_CAPACITY_MIB)
        loop_names = names[:args.loop_volumes]
        loop = write_playbook(self._path('b-loop.yml'), [{
            'name': 'virt_volume loop over %d volumes' % len(loop_names),
            'community.libvirt.virt_volume': {'pool': POOL_VOLS, 'state': 'present', 'xml': xml},
            'loop': loop_names}])
        one = write_playbook(self._path('b-loop-one.yml'), [{
            'name': 'virt_volume, one volume',
            'community.libvirt.virt_volume': {'pool': POOL_VOLS, 'state': 'present',
                                              'xml': xml.replace('{{ item }}', names[0])}}])
        (ours_module, ours_cpu), (peer_item, peer_item_cpu) = module_times(
            args.runs, (self.ours, ansiballz, all_listed), (self.peer, self.peer.capture_module(one, 'b-one'), None))
        self.notes.append('(b) CPU time of the module process (medians): storage_volume %s for %d volumes; virt_volume '
                          '%s for one.' % (_fmt_s(ours_cpu), len(names), _fmt_s(peer_item_cpu)))
        peer_e2e = self.timed(self.peer, loop, args.loop_runs)

        scale = float(len(names)) / len(loop_names)
        peer_full = peer_e2e * scale
        measured = ('loop of %d, n=%d' % (len(loop_names), args.loop_runs))
        if len(loop_names) != len(names):
            measured += ', x%g = %s for %d (estimate)' % (scale, _fmt_s(peer_full), len(names))
        ratio = peer_full / ours_e2e
        self.row('b', 'no-op, %d volumes: module time' % len(names), '%s (n=%d)' % (_fmt_s(ours_module), args.runs),
                 '%s per item x %d = %s (estimate)' % (_fmt_s(peer_item), len(names), _fmt_s(peer_item * len(names))),
                 '%.1fx faster' % (peer_item * len(names) / ours_module), 'ours < 2 s',
                 'yes' if ours_module < 2 else 'NO')
        self.row('b', 'no-op, %d volumes: end to end (ansible-playbook)' % len(names),
                 '%s (n=%d)' % (_fmt_s(ours_e2e), args.runs), '%s (%s)' % (_fmt_s(peer_e2e), measured),
                 '%.1fx faster' % ratio, '>= 50x', 'yes' if ratio >= 50 else 'NO')

    # (c) -----------------------------------------------------------------------------------
    def scenario_c(self):
        args = self.args
        target = os.path.join(args.base_dir, POOL_DIR)
        ensure_dir_pool(self.conn, POOL_DIR, target, autostart=True)
        print('(c) no-op on an active, autostarted dir pool', flush=True)
        ours = write_playbook(self._path('c-ours.yml'), [{
            'name': 'storage_pool no-op',
            'kvmops.storage.storage_pool': {'name': POOL_DIR, 'type': 'dir', 'target': target,
                                            'state': 'active', 'autostart': True}}])
        peer_state = {'name': 'virt_pool state', 'community.libvirt.virt_pool': {'name': POOL_DIR, 'state': 'active'}}
        peer_auto = {'name': 'virt_pool autostart', 'community.libvirt.virt_pool': {'name': POOL_DIR, 'autostart': True}}
        peer = write_playbook(self._path('c-peer.yml'), [peer_state, peer_auto])
        peer_one = write_playbook(self._path('c-peer-state.yml'), [peer_state])
        peer_two = write_playbook(self._path('c-peer-autostart.yml'), [peer_auto])

        measured = module_times(args.runs, (self.ours, self.ours.capture_module(ours, 'c-ours'), None),
                                (self.peer, self.peer.capture_module(peer_one, 'c-state'), None),
                                (self.peer, self.peer.capture_module(peer_two, 'c-autostart'), None))
        (ours_module, ours_cpu), (peer_state_module, state_cpu), (peer_auto_module, auto_cpu) = measured
        self.notes.append('(c) CPU time of the module process (medians): storage_pool %s; virt_pool state %s, '
                          'autostart %s.' % (_fmt_s(ours_cpu), _fmt_s(state_cpu), _fmt_s(auto_cpu)))
        # warm both sides' ansible (page cache), then time them turn by turn
        self.ours.playbook(ours)
        self.peer.playbook(peer)
        ours_e2e, peer_e2e, peer_one_e2e = [_median(times) for times in in_turn(
            args.runs, lambda: self.ours.playbook(ours), lambda: self.peer.playbook(peer),
            lambda: self.peer.playbook(peer_one))]
        peer_module = peer_state_module + peer_auto_module
        self.row('c', 'no-op pool: module time', '%s (n=%d)' % (_fmt_s(ours_module), args.runs),
                 '%s + %s = %s (2 tasks)' % (_fmt_s(peer_state_module), _fmt_s(peer_auto_module), _fmt_s(peer_module)),
                 '%.2fx' % (ours_module / peer_module), 'ours <= 1x', 'yes' if ours_module <= peer_module else 'NO')
        self.row('c', 'no-op pool: module time vs virt_pool state task alone', _fmt_s(ours_module),
                 _fmt_s(peer_state_module), '%.2fx' % (ours_module / peer_state_module), 'ours <= 1x',
                 'yes' if ours_module <= peer_state_module else 'NO')
        self.row('c', 'no-op pool: end to end', '%s (n=%d)' % (_fmt_s(ours_e2e), args.runs),
                 '%s (2 tasks, n=%d)' % (_fmt_s(peer_e2e), args.runs), '%.2fx' % (ours_e2e / peer_e2e),
                 'ours <= 1x', 'yes' if ours_e2e <= peer_e2e else 'NO')
        self.row('c', 'no-op pool: end to end vs virt_pool state task alone', _fmt_s(ours_e2e),
                 '%s (1 task, n=%d)' % (_fmt_s(peer_one_e2e), args.runs), '%.2fx' % (ours_e2e / peer_one_e2e),
                 'ours <= 1x', 'yes' if ours_e2e <= peer_one_e2e else 'NO')

    # (a) -----------------------------------------------------------------------------------
    def _facts_pool(self, count, name=POOL_FACTS):
        target = os.path.join(self.args.base_dir, name)
        pool = ensure_dir_pool(self.conn, name, target)
        wanted = set('bench-f%05d.img' % i for i in range(count))
        present = set(os.listdir(target))
        for name in present - wanted:
            os.unlink(os.path.join(target, name))
        for name in wanted - present:
            with open(os.path.join(target, name), 'wb') as handle:
                handle.truncate(VOLUME_CAPACITY_MIB * 1024 * 1024)
        pool.refresh(0)
        if pool.numOfVolumes() != count:
            raise BenchError('pool %s lists %d volumes, not %d' % (name, pool.numOfVolumes(), count))

    def _python(self, script, argv, loops):
        """One run of SCRIPT in its own python process of our side (it prints {"count", "loop"});
        returns (wall, CPU) and appends the time of its timed part to LOOPS."""
        wall, cpu, result = timed_json(argv[0], [self.ours.python, '-c', script] + argv, self.ours.env())
        if result['count'] != self.args.facts_volumes:
            raise BenchError('%s saw %d volumes, not %d' % (argv[0], result['count'], self.args.facts_volumes))
        loops.append(result['loop'])
        return wall, cpu

    def _raw_loop(self, loops):
        """The naive loop: listAllVolumes, then info(), infoFlags(VIR_STORAGE_VOL_GET_PHYSICAL) (the
        physical size) and XMLDesc() on each volume."""
        script = ('import json, sys, time\n'
                  'import libvirt\n'
                  'conn = libvirt.open(sys.argv[2])\n'
                  'vols = conn.storagePoolLookupByName(sys.argv[3]).listAllVolumes(0)\n'
                  'start = time.perf_counter()\n'
                  'data = [(vol.name(), vol.info(), vol.infoFlags(libvirt.VIR_STORAGE_VOL_GET_PHYSICAL)[2],\n'
                  '         vol.XMLDesc(0)) for vol in vols]\n'
                  'end = time.perf_counter()\n'
                  'conn.close()\n'
                  'print(json.dumps({"count": len(data), "loop": end - start}))\n')
        return self._python(script, ['the raw loop', URI, POOL_FACTS], loops)

    def _spread(self):
        """(volumes per batch, threads) with which storage_facts reads the volumes: _BATCH and _THREADS of
        our module_utils/facts.py (100 and 8 when they are not found there)."""
        spread = {'_BATCH': 100, '_THREADS': 8}
        path = os.path.join(_collection_dir(self.ours) or REPO, 'plugins', 'module_utils', 'facts.py')
        try:
            with open(path) as handle:
                tree = ast.parse(handle.read())
        except (OSError, SyntaxError):
            return spread['_BATCH'], spread['_THREADS']
        for node in tree.body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id in spread and isinstance(node.value, ast.Constant)):
                spread[node.targets[0].id] = int(node.value.value)
        return spread['_BATCH'], spread['_THREADS']

    def _floor_calls(self, loops, batch, threads):
        """The libvirt part of the floor of storage_facts: one XMLDesc() per volume and nothing else, spread as
        the module spreads them (one connection; a thread per batch of BATCH volumes, THREADS at a time, the
        next one started as one ends); only those calls are timed."""
        script = ('import json, sys, threading, time\n'
                  'import libvirt\n'
                  'import lxml.etree\n'
                  'conn = libvirt.open(sys.argv[2])\n'
                  'vols = conn.storagePoolLookupByName(sys.argv[3]).listAllVolumes(0)\n'
                  'size, parallel = int(sys.argv[4]), int(sys.argv[5])\n'
                  'batches = [vols[at:at + size] for at in range(0, len(vols), size)]\n'
                  'texts = [None] * len(batches)\n'
                  'room = threading.BoundedSemaphore(parallel)\n'
                  'def fetch(index):\n'
                  '    try:\n'
                  '        texts[index] = [vol.XMLDesc(0) for vol in batches[index]]\n'
                  '    finally:\n'
                  '        room.release()\n'
                  'start = time.perf_counter()\n'
                  'workers = []\n'
                  'for index in range(len(batches)):\n'
                  '    room.acquire()\n'
                  '    workers.append(threading.Thread(target=fetch, args=(index,), daemon=True))\n'
                  '    workers[-1].start()\n'
                  'for worker in workers:\n'
                  '    worker.join()\n'
                  'end = time.perf_counter()\n'
                  'conn.close()\n'
                  'print(json.dumps({"count": sum(len(found or ()) for found in texts), "loop": end - start}))\n')
        return self._python(script, ['the XMLDesc() calls', URI, POOL_FACTS, str(batch), str(threads)], loops)

    def _bare_start(self):
        """The start-up part of the floor: our python started, libvirt and lxml imported, nothing else."""
        wall, cpu, dummy = timed_json('a bare start-up', [self.ours.python, '-c', BARE_START], self.ours.env())
        return wall, cpu

    def _gathering(self, loops):
        """The facts manager of storage_facts alone, in a python process framed like the raw loop
        (start-up, imports, connect, then the timed gathering), without the module's wrapper."""
        script = ('import json, os, sys, time\n'
                  'sys.path[0:0] = sys.argv[4].split(os.pathsep)\n'
                  'import libvirt\n'
                  'from ansible_collections.kvmops.storage.plugins.module_utils.facts import FactsManager\n'
                  'conn = libvirt.open(sys.argv[2])\n'
                  'manager = FactsManager(conn, {"gather": ["pools", "volumes"], "pools": [sys.argv[3]]})\n'
                  'start = time.perf_counter()\n'
                  'facts = manager.facts()\n'
                  'end = time.perf_counter()\n'
                  'conn.close()\n'
                  'print(json.dumps({"count": len(facts["pools"][sys.argv[3]]["volumes"]), "loop": end - start}))\n')
        return self._python(script, ['the facts gathering', URI, POOL_FACTS, self.ours.collections_path], loops)

    def scenario_a(self):
        args = self.args
        count = args.facts_volumes
        print('(a) facts on one dir pool with %d volumes' % count, flush=True)
        self._facts_pool(count)
        peer = write_playbook(self._path('a-peer.yml'), [{
            'name': 'virt_pool facts', 'community.libvirt.virt_pool': {'command': 'facts'}}])
        loops = []
        measured = [lambda: self._raw_loop(loops), (self.peer, self.peer.capture_module(peer, 'a-peer'), None)]
        has_facts = self._has_facts()
        if has_facts:
            ours = write_playbook(self._path('a-ours.yml'), [{
                'name': 'storage_facts volumes',
                'kvmops.storage.storage_facts': {'gather': ['pools', 'volumes'], 'pools': [POOL_FACTS]}}])

            def all_volumes(result):
                vols = result['ansible_facts']['libvirt_storage']['pools'][POOL_FACTS]['volumes']
                if len(vols) != count:
                    raise BenchError('storage_facts returned %d volumes, not %d' % (len(vols), count))
            measured.append((self.ours, self.ours.capture_module(ours, 'a-ours'), all_volumes))
            ours_refresh = write_playbook(self._path('a-ours-refresh.yml'), [{
                'name': 'storage_facts volumes, refresh first',
                'kvmops.storage.storage_facts': {'gather': ['pools', 'volumes'], 'pools': [POOL_FACTS],
                                                 'refresh': True}}])
            measured.append((self.ours, self.ours.capture_module(ours_refresh, 'a-ours-refresh'), all_volumes))
            gathered = []
            measured.append(lambda: self._gathering(gathered))
            batch, threads = self._spread()
            calls = []
            measured.append(lambda: self._floor_calls(calls, batch, threads))
            measured.append(self._bare_start)
        times = module_times(args.runs, *measured)
        (raw, raw_cpu), (peer_module, peer_cpu) = times[:2]
        pools = len(self.conn.listAllStoragePools(0))
        self.notes.append('(a) virt_pool command=facts has no pool filter: it read all %d pools of this libvirtd '
                          '(pool info and volume names, no volume details).' % pools)
        self.notes.append('(a) the raw loop is one python process (start-up, import libvirt, connect, listAllVolumes, '
                          'info(), infoFlags(VIR_STORAGE_VOL_GET_PHYSICAL) and XMLDesc() on each volume); the loop '
                          'alone took %s (median).' % _fmt_s(_median(loops)))
        others = 'raw loop %s; virt_pool facts %s (n=%d)' % (_fmt_s(raw), _fmt_s(peer_module), args.runs)
        if not has_facts:
            self.notes.append('(a) CPU time (medians): raw loop %s; virt_pool facts %s.' % (_fmt_s(raw_cpu), _fmt_s(peer_cpu)))
            self.row('a', 'facts, %d volumes: module time' % count, 'n/a (storage_facts not installed)', others, '-',
                     'ours <= 0.5x raw', 'n/a')
            return
        ours_module, ours_cpu = times[2]
        self.notes.append('(a) CPU time (medians): storage_facts %s; raw loop %s; virt_pool facts %s.'
                          % (_fmt_s(ours_cpu), _fmt_s(raw_cpu), _fmt_s(peer_cpu)))
        ratio = ours_module / raw
        self.row('a', 'facts, %d volumes: module time' % count, '%s (n=%d)' % (_fmt_s(ours_module), args.runs),
                 others, '%.2fx of raw' % ratio, 'ours <= 0.5x raw', 'yes' if ratio <= 0.5 else 'NO')
        refreshed = times[3][0]
        self.row('a', 'facts, %d volumes: module time with refresh: true (a pool rescan first, which the raw loop '
                 'does not do)' % count, '%s (n=%d)' % (_fmt_s(refreshed), args.runs), 'raw loop %s' % _fmt_s(raw),
                 '%.2fx of raw' % (refreshed / raw), '', '')
        gather, gather_loop = times[4][0], _median(gathered)
        self.row('a', 'facts, %d volumes: gathering in one python process, like the raw loop' % count,
                 '%s (n=%d)' % (_fmt_s(gather), args.runs), 'raw loop %s' % _fmt_s(raw),
                 '%.2fx of raw' % (gather / raw), 'ours <= 0.5x raw', 'yes' if gather <= 0.5 * raw else 'NO')
        self.row('a', 'facts, %d volumes: the timed part alone (gathering vs the loop)' % count,
                 _fmt_s(gather_loop), 'raw loop alone %s' % _fmt_s(_median(loops)),
                 '%.2fx of raw' % (gather_loop / _median(loops)), '', '')
        (dummy, calls_cpu), (start, start_cpu) = times[5], times[6]
        calls_wall = _median(calls)
        floor = start + calls_wall
        self.notes.append('(a) the floor: %d XMLDesc() calls alone over one connection, a thread per batch of %d '
                          'volumes, %d at a time, as storage_facts reads them, %s (median; the whole process with '
                          'its listing %s, CPU %s), plus a bare start-up of the same python with libvirt and lxml '
                          'imported, %s (CPU %s).' % (count, batch, threads, _fmt_s(calls_wall), _fmt_s(times[5][0]),
                                                      _fmt_s(calls_cpu), _fmt_s(start), _fmt_s(start_cpu)))
        self.row('a', 'facts, %d volumes: module time vs the floor (the XMLDesc() calls alone, spread as the module '
                 'spreads them, plus a bare start-up)' % count, '%s (n=%d)' % (_fmt_s(ours_module), args.runs),
                 'floor %s = start-up %s + %d XMLDesc() %s' % (_fmt_s(floor), _fmt_s(start), count, _fmt_s(calls_wall)),
                 '%.2fx of floor' % (ours_module / floor), 'ours <= 2.5x floor',
                 'yes' if ours_module <= 2.5 * floor else 'NO')

    # (d) -----------------------------------------------------------------------------------
    def _report_run(self, inventory, out, forks):
        """One run of playbooks/capacity_report.yml over INVENTORY with the result_json callback of
        the integration tests; returns (gathering, writing) in seconds: from the start of the
        storage_facts task to the start of the report block, and from there to the end of the run."""
        shutil.rmtree(out, ignore_errors=True)
        argv = [os.path.join(self.ours.bindir, 'ansible-playbook'), '-i', inventory, REPORT_PLAYBOOK,
                '-e', json.dumps({'report_dir': out, 'report_pools': [POOL_REPORT]})]
        env = self.ours.env({'ANSIBLE_STDOUT_CALLBACK': 'result_json', 'ANSIBLE_CALLBACK_PLUGINS': CALLBACKS,
                             'ANSIBLE_FORKS': str(forks)})
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              env=env, check=False)
        starts = [json.loads(line[len(TASK_START_MARKER):]) for line in proc.stdout.splitlines()
                  if line.startswith(TASK_START_MARKER)]
        failed = [line for line in proc.stdout.splitlines() if '"_status": "failed"' in line
                  or '"_status": "unreachable"' in line]
        names = [start['task'] for start in starts]
        if proc.returncode != 0 or failed or GATHER_TASK not in names or WRITE_TASK not in names or names[-1] is not None:
            raise BenchError('the capacity report failed (exit %d):\n%s%s'
                             % (proc.returncode, (failed[:1] or [proc.stdout[-3000:]])[0][:3000], proc.stderr[-2000:]))
        at = dict((start['task'], start['time']) for start in starts if start['task'] is not None)
        return at[WRITE_TASK] - at[GATHER_TASK], starts[-1]['time'] - at[WRITE_TASK]

    def scenario_d(self):
        args = self.args
        hosts, count = args.report_hosts, args.report_volumes
        print('(d) capacity report over %d aliases of localhost, each with a pool of %d volumes' % (hosts, count),
              flush=True)
        self._facts_pool(count, POOL_REPORT)
        inventory = self._path('d-fleet.yml')
        with open(inventory, 'w') as handle:
            json.dump({'all': {'hosts': dict(('bench-hv%03d' % i, {
                'ansible_connection': 'local', 'ansible_python_interpreter': self.ours.python})
                for i in range(1, hosts + 1))}}, handle, indent=1)
        out = self._path('d-report')
        gathering, writing = [], []
        for dummy in range(args.report_runs):
            gather, write = self._report_run(inventory, out, args.report_forks)
            gathering.append(gather)
            writing.append(write)
            print('    gathering %s, writing %s (%.2fx)' % (_fmt_s(gather), _fmt_s(write), write / gather), flush=True)
        with open(os.path.join(out, 'capacity-history.jsonl')) as handle:
            points = sum(1 for line in handle if line.strip())
        html = os.path.getsize(os.path.join(out, 'capacity.html'))
        csv_size = os.path.getsize(os.path.join(out, 'capacity.csv'))
        gather, write = _median(gathering), _median(writing)
        ratio = write / gather
        figures = (hosts, count, args.report_forks, args.report_runs, points, html / 1e6, csv_size / 1e6,
                   ', '.join(_fmt_s(t) for t in gathering), ', '.join(_fmt_s(t) for t in writing))
        self.notes.append('(d) %d hosts x %d volumes, forks %d, %d run(s): the history file had %d points (each run '
                          'starts from an empty report directory), the HTML %.1f MB, the CSV %.1f MB; gathering: '
                          '%s; writing: %s.' % figures)
        self.row('d', 'capacity report, %d hosts x %d volumes: writing vs gathering' % (hosts, count),
                 'writing %s (n=%d)' % (_fmt_s(write), args.report_runs),
                 'gathering (storage_facts task) %s' % _fmt_s(gather), '%.2fx' % ratio,
                 'writing <= 0.25x', 'PASS' if ratio <= 0.25 else 'FAIL')

    # (e) -----------------------------------------------------------------------------------
    def _collector_python(self):
        """The python of the collector and of the naive loop: --collector-python, else the role's default
        (/usr/bin/python3) when it imports libvirt and lxml, else our side's."""
        if self.args.collector_python:
            return self.args.collector_python
        found = subprocess.run([ROLE_PYTHON, '-c', 'import libvirt, lxml.etree'], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, check=False) if os.path.exists(ROLE_PYTHON) else None
        return ROLE_PYTHON if found is not None and found.returncode == 0 else self.ours.python

    def _install_collector(self):
        """The collector laid out as the storage_metrics role installs it: pack_collector.py of the role packs
        the collector script and the collection's plugins/module_utils, unpacked here into a directory of its
        own; returns the path of the script."""
        collection = _collection_dir(self.ours) or REPO
        files = os.path.join(collection, 'roles', 'storage_metrics', 'files')
        lib = self._path('e-collector')
        archive = self._path('e-collector.tar.gz')
        shutil.rmtree(lib, ignore_errors=True)
        os.makedirs(lib)
        for argv in ([self.ours.python, os.path.join(files, 'pack_collector.py'),
                      os.path.join(collection, 'plugins', 'module_utils'), archive,
                      os.path.join(files, COLLECTOR_SCRIPT)],
                     ['tar', '-xzf', archive, '-C', lib]):
            proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                                  check=False)
            if proc.returncode != 0:
                raise BenchError('installing the collector: %s failed:\n%s' % (' '.join(argv), proc.stdout[-2000:]))
        return os.path.join(lib, COLLECTOR_SCRIPT)

    def _role_volume_limit(self):
        """storage_metrics_volume_limit of the role's defaults (1000 when it is not found)."""
        path = os.path.join(_collection_dir(self.ours) or REPO, 'roles', 'storage_metrics', 'defaults', 'main.yml')
        try:
            with open(path) as handle:
                match = re.search(r'^storage_metrics_volume_limit:\s*(-?\d+)\s*$', handle.read(), re.M)
        except OSError:
            match = None
        return int(match.group(1)) if match else 1000

    def _metrics_run(self, label, argv, output, check):
        """One run of a metrics writer (the collector or the naive loop) in the environment of a systemd
        service; returns (wall, CPU) of the process and checks the textfile it wrote with CHECK."""
        env = {'PATH': '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C.UTF-8'}
        cpu = _children_cpu()
        start = _now()
        proc = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              env=env, check=False)
        wall = _now() - start
        cpu = _children_cpu() - cpu
        if proc.returncode != 0:
            raise BenchError('%s failed (exit %d):\n%s%s'
                             % (label, proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:]))
        check(label, output)
        return wall, cpu

    @staticmethod
    def _pool_series(path, pool):
        """The sample lines of POOL (pool and volume series) in the textfile PATH, in their order."""
        marker = '{pool="%s"' % pool
        with open(path) as handle:
            return [line.rstrip('\n') for line in handle if marker in line and not line.startswith('#')]

    def _metrics_check(self, count):
        """A check of a textfile: success 1, the volume count of the pool, and its volume series all there when
        the file says it has volume series (collector_volume_series 1), none otherwise."""
        def check(label, path):
            lines = self._pool_series(path, POOL_FACTS)
            volumes = sum(1 for line in lines if line.startswith('libvirt_storage_volume_capacity_bytes{'))
            wanted = 'libvirt_storage_pool_volumes{pool="%s"} %d' % (POOL_FACTS, count)
            with open(path) as handle:
                text = handle.read()
            success = 'libvirt_storage_collector_success 1\n' in text
            with_volumes = 'libvirt_storage_collector_volume_series 1\n' in text
            if wanted not in lines or volumes != (count if with_volumes else 0) or not success:
                raise BenchError('%s: %s has %d volume series of pool %s (not %d), %s, %s' % (
                    label, path, volumes, POOL_FACTS, count if with_volumes else 0,
                    'the volume count' if wanted in lines else 'no "%s"' % wanted,
                    'success 1' if success else 'no "libvirt_storage_collector_success 1"'))
        return check

    def scenario_e(self):
        args = self.args
        count = args.facts_volumes
        print('(e) the storage_metrics collector on a host with a pool of %d volumes' % count, flush=True)
        self._facts_pool(count)
        python = self._collector_python()
        collector = self._install_collector()
        textfiles = tempfile.mkdtemp(prefix='kvmops-bench-e-')
        try:
            self._scenario_e(count, python, collector, textfiles)
        finally:
            shutil.rmtree(textfiles, ignore_errors=True)

    def _scenario_e(self, count, python, collector, textfiles):
        args = self.args
        default_limit = self._role_volume_limit()
        sides = []
        for limit in (-1, default_limit):
            check = self._metrics_check(count)
            ours_out = os.path.join(textfiles, 'collector-%d' % limit, TEXTFILE)
            naive_out = os.path.join(textfiles, 'naive-%d' % limit, TEXTFILE)
            for path in (ours_out, naive_out):
                os.makedirs(os.path.dirname(path))
            ours_argv = (python, collector, '--uri', URI, '--output', ours_out, '--volume-limit', str(limit))
            naive_argv = (python, NAIVE_METRICS, URI, naive_out, str(limit))

            def ours(argv=ours_argv, out=ours_out, check=check):
                return self._metrics_run('the collector', argv, out, check)

            def naive(argv=naive_argv, out=naive_out, check=check):
                return self._metrics_run('the naive loop', argv, out, check)
            # a first run of each: the collector compiles its module_utils into __pycache__ beside them, as
            # the service does on its first run; then the series of the pool must be the same on both sides
            ours()
            naive()
            mine, theirs = self._pool_series(ours_out, POOL_FACTS), self._pool_series(naive_out, POOL_FACTS)
            if mine != theirs:
                first = next((pair for pair in zip(mine, theirs) if pair[0] != pair[1]), (len(mine), len(theirs)))
                raise BenchError('the collector and the naive loop wrote different series of pool %s: %r'
                                 % (POOL_FACTS, first))
            sides.append((limit, ours, naive, os.path.getsize(ours_out), len(mine)))
        measured = []
        for side in sides:
            measured += [side[1], side[2]]
        times = module_times(args.runs, *measured)
        pools = len(self.conn.listAllStoragePools(0))
        self.notes.append('(e) the collector is the storage_metrics role\'s script with its copy of the module_utils '
                          '(packed by the role\'s pack_collector.py, unpacked into .build/bench/e-collector, its '
                          '__pycache__ written by a first run), run by %s as the role\'s service runs it: --uri %s '
                          '--output <a temporary directory>/%s --volume-limit N, in the environment of a systemd '
                          'service (PATH and LANG alone); the naive loop (bench/naive_metrics.py) runs with the same '
                          'python. Both read all %d pools of this libvirtd.' % (python, URI, TEXTFILE, pools))
        for index, (limit, dummy, dummy2, size, lines) in enumerate(sides):
            (ours_wall, ours_cpu), (naive_wall, naive_cpu) = times[2 * index], times[2 * index + 1]
            what = ('every series (--volume-limit -1)' if limit < 0 else
                    'the role\'s default --volume-limit %d (pool series only above it)' % limit)
            self.notes.append('(e) %s: %d series of pool %s, the same on both sides; the textfile %.1f MB; CPU time '
                              '(medians): collector %s, naive loop %s.' % (what, lines, POOL_FACTS, size / 1e6,
                                                                           _fmt_s(ours_cpu), _fmt_s(naive_cpu)))
            ratio = ours_wall / naive_wall
            self.row('e', 'metrics collector, %d volumes, %s: the service\'s process' % (count, what),
                     '%s (n=%d)' % (_fmt_s(ours_wall), args.runs), 'naive loop %s' % _fmt_s(naive_wall),
                     '%.2fx of naive' % ratio, 'collector <= 0.5x naive', 'yes' if ratio <= 0.5 else 'NO')

    # ---- (f) moving bytes ----------------------------------------------------------------------
    def scenario_f(self):
        args = self.args
        print('(f) import and export of raw images holding 256 MiB of data, against qemu-img convert', flush=True)
        pool_dir = os.path.join(args.base_dir, POOL_BYTES)
        files = os.path.join(args.base_dir, POOL_BYTES + '-files')
        os.makedirs(files, exist_ok=True)
        pool = ensure_dir_pool(self.conn, POOL_BYTES, pool_dir)
        figures = {}
        for size in (2 * GIB, 16 * GIB):
            gib = size // GIB
            image = os.path.join(files, 'image-%dg.raw' % gib)
            _sparse_image(image, size)
            name = 'f-%dg.raw' % gib
            _delete_volume(pool, name)
            imported = self.ours.capture_module(write_playbook(self._path('f-import-%dg.yml' % gib), [{
                'name': 'import', 'kvmops.storage.storage_volume': {
                    'pool': POOL_BYTES, 'name': name, 'content': {'src': image}}}]), 'f-import-%dg' % gib,
                expect_changed=True)
            copy = os.path.join(files, 'qemu-img-%dg.raw' % gib)

            def ours_import(name=name, imported=imported):
                _delete_volume(pool, name)
                return self._changed_run(imported)

            def qemu_import(image=image, copy=copy):
                return _timed_command(['qemu-img', 'convert', '-f', 'raw', '-O', 'raw', image, copy])
            samples = in_turn(args.runs, ours_import, qemu_import)
            figures['import', gib] = [_median(sample) for sample in samples]
            volume_path = pool.storageVolLookupByName(name).path()
            _same_image(image, volume_path)
            dest = os.path.join(files, '%s.export' % name)
            exported = self.ours.capture_module(write_playbook(self._path('f-export-%dg.yml' % gib), [{
                'name': 'export', 'kvmops.storage.storage_volume': {
                    'pool': POOL_BYTES, 'name': name, 'export': {'dest': dest, 'force': True}}}]),
                'f-export-%dg' % gib, expect_changed=True)

            def qemu_export(volume_path=volume_path, copy=copy):
                return _timed_command(['qemu-img', 'convert', '-f', 'raw', '-O', 'raw', volume_path, copy])
            samples = in_turn(args.runs, lambda exported=exported: self._changed_run(exported), qemu_export)
            figures['export', gib] = [_median(sample) for sample in samples]
            _same_image(image, dest)
            if gib == 2:
                noop = self.ours.capture_module(write_playbook(self._path('f-noop.yml'), [{
                    'name': 'no-op', 'kvmops.storage.storage_volume': {'pool': POOL_BYTES, 'name': name}}]),
                    'f-noop')
                figures['noop'] = module_times(args.runs, (self.ours, noop, None))[0][0]
            for path in (copy, dest, dest + '.sha256', image):
                os.unlink(path)
            _delete_volume(pool, name)
        for what in ('import', 'export'):
            for gib in (2, 16):
                ours, qemu = figures[what, gib]
                ratio = ours / qemu
                self.row('f', '%s of a %d GiB raw image (256 MiB of data), dir pool: module time' % (what, gib),
                         '%.3f s (n=%d)' % (ours, args.runs), 'qemu-img convert %.3f s' % qemu,
                         '%.2fx of qemu-img' % ratio, 'ours <= 1.3x qemu-img', 'yes' if ratio <= 1.3 else 'NO')
            growth = figures[what, 16][0] / figures[what, 2][0]
            self.row('f', '%s: 16 GiB against 2 GiB, the same data' % what, '%.2fx' % growth, '', '',
                     '<= 1.5x', 'yes' if growth <= 1.5 else 'NO')
        self.row('f', 'storage_volume no-op on that volume: module time (start-up, connect, read)',
                 '%.3f s (n=%d)' % (figures['noop'], args.runs), '', '', '', '')
        self.notes.append('(f) module time: the AnsiballZ file of one storage_volume task run as ansible runs it '
                          '(import: the volume deleted before each run, untimed; export: export.force, so each run '
                          'writes the file and its sha256 sidecar); qemu-img convert -f raw -O raw of the same file '
                          'to the same disk. Both results compared with qemu-img compare.')
        self.notes.append('(f) an export always hashes what it writes (the sidecar checksum): holes are hashed as '
                          'zeros, so SHA-256 over the whole size bounds an export of a mostly empty image.')

    def _ceph(self):
        """The testbed of the running one-node cluster (KEY=VALUE lines), or BenchError."""
        try:
            with open(CEPH_TESTBED) as handle:
                return dict(line.strip().split('=', 1) for line in handle if '=' in line)
        except IOError:
            raise BenchError('needs the Ceph cluster of scripts/servers.sh start ceph (%s is missing)' % CEPH_TESTBED)

    def _rbd_pool(self, ceph):
        """The rbd pool POOL_RBD over the testbed's RADOS pool, with a secret holding the client's key."""
        with open(ceph['CEPH_KEY_FILE']) as handle:
            key = base64.b64decode(handle.read().strip())
        secret = self.conn.secretDefineXML("<secret ephemeral='no' private='no'><usage type='ceph'><name>%s</name>"
                                           "</usage></secret>" % POOL_RBD)
        secret.setValue(key)
        host, port = ceph['CEPH_MON_HOST'].rsplit(':', 1)
        try:
            pool = self.conn.storagePoolDefineXML(
                "<pool type='rbd'><name>%s</name><source><host name='%s' port='%s'/><name>%s</name>"
                "<auth type='ceph' username='%s'><secret uuid='%s'/></auth></source></pool>"
                % (POOL_RBD, host, port, ceph['CEPH_POOL'], ceph['CEPH_CLIENT'], secret.UUIDString()))
            pool.create(0)
        except libvirt.libvirtError as exc:
            remove_pool(self.conn, POOL_RBD, os.path.join(self.args.base_dir, POOL_RBD))
            secret.undefine()
            raise BenchError('the rbd pool %s does not start: %s' % (POOL_RBD, exc))
        return pool, secret

    def scenario_g(self):
        args = self.args
        print('(g) import of a 2 GiB raw image holding 256 MiB of data into an rbd pool, against rbd import',
              flush=True)
        ceph = self._ceph()
        rbd = ['rbd', '-c', ceph['CEPH_CONF'], '--id', 'admin']
        files = os.path.join(args.base_dir, POOL_RBD + '-files')
        os.makedirs(files, exist_ok=True)
        image = os.path.join(files, 'image-2g.raw')
        _sparse_image(image, 2 * GIB)
        name, peer_name = 'bench-g-ours', 'bench-g-rbd-import'
        pool = secret = None
        try:
            pool, secret = self._rbd_pool(ceph)
            _delete_volume(pool, name)
            imported = self.ours.capture_module(write_playbook(self._path('g-import.yml'), [{
                'name': 'import', 'kvmops.storage.storage_volume': {
                    'pool': POOL_RBD, 'name': name, 'content': {'src': image}}}]), 'g-import', expect_changed=True)

            def ours_import():
                _delete_volume(pool, name)
                return self._changed_run(imported)

            def rbd_import():
                subprocess.run(rbd + ['rm', '--no-progress', '%s/%s' % (ceph['CEPH_POOL'], peer_name)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
                return _timed_command(rbd + ['import', '--no-progress', image, '%s/%s' % (ceph['CEPH_POOL'],
                                                                                          peer_name)])
            ours, peer = [_median(sample) for sample in in_turn(args.runs, ours_import, rbd_import)]
            held = _sha256_of(['cat', image])
            for which in (name, peer_name):
                if _sha256_of(rbd + ['export', '--no-progress', '%s/%s' % (ceph['CEPH_POOL'], which), '-']) != held:
                    raise BenchError('RBD image %s does not hold what %s holds' % (which, image))
            ratio = ours / peer
            self.row('g', 'import of a 2 GiB raw image (256 MiB of data), rbd pool: module time',
                     '%.3f s (n=%d)' % (ours, args.runs), 'rbd import %.3f s' % peer, '%.2fx of rbd import' % ratio,
                     'ours <= 1.3x rbd import', 'yes' if ratio <= 1.3 else 'NO')
            self.notes.append('(g) module time: the AnsiballZ file of one storage_volume import (the volume deleted '
                              'before each run, untimed), which creates the image through libvirt and writes it with '
                              'rbd import-diff; rbd import of the same file (the image removed before each run, '
                              'untimed). Both images compared with the file by SHA-256.')
        finally:
            subprocess.run(rbd + ['rm', '--no-progress', '%s/%s' % (ceph['CEPH_POOL'], peer_name)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            if pool is not None:
                _delete_volume(pool, name)
                remove_pool(self.conn, POOL_RBD, files)
            if secret is not None:
                secret.undefine()
            shutil.rmtree(files, ignore_errors=True)

    def _changed_run(self, ansiballz):
        wall, _cpu, result = timed_json('kvmops.storage: %s' % ansiballz, [self.ours.python, ansiballz],
                                        self.ours.env(), cwd=os.path.dirname(ansiballz))
        if result.get('failed') or not result.get('changed'):
            raise BenchError('%s failed or changed nothing: %s' % (ansiballz, json.dumps(result)[:2000]))
        return wall

    def _has_facts(self):
        directory = _collection_dir(self.ours)
        return directory is not None and os.path.exists(os.path.join(directory, 'plugins', 'modules',
                                                                     'storage_facts.py'))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=5, help='runs per figure; the table shows the median (default 5)')
    parser.add_argument('--volumes', type=int, default=1000, help='(b) volumes in the bulk task (default 1000)')
    parser.add_argument('--loop-volumes', type=int, help='(b) volumes in the virt_volume loop (default: --volumes)')
    parser.add_argument('--loop-runs', type=int, default=1, help='(b) runs of the virt_volume loop (default 1)')
    parser.add_argument('--quick', action='store_true',
                        help='(b) loop over 100 volumes and scale its time to --volumes (an estimate)')
    parser.add_argument('--facts-volumes', type=int, default=5000,
                        help='(a), (e) volumes in the facts pool (default 5000)')
    parser.add_argument('--collector-python',
                        help='(e) python of the metrics collector and the naive loop (default: %s when it imports '
                             'libvirt and lxml, else the .venv python)' % ROLE_PYTHON)
    parser.add_argument('--report-hosts', type=int, default=100,
                        help='(d) aliases of localhost in the capacity report inventory (default 100)')
    parser.add_argument('--report-volumes', type=int, default=1000, help='(d) volumes in the report pool (default 1000)')
    parser.add_argument('--report-runs', type=int, default=3, help='(d) runs of the capacity report (default 3)')
    parser.add_argument('--report-forks', type=int, default=10, help='(d) ansible forks (default 10)')
    parser.add_argument('--scenarios', default='b,c,a', help='comma-separated scenarios to run (default b,c,a)')
    parser.add_argument('--keep', action='store_true', help='keep the bench- pools and their directories')
    parser.add_argument('--base-dir', default='/var/lib/kvmops-bench', help='where the pools keep their files')
    parser.add_argument('--peer-venv', default=os.path.join(REPO, '.build', 'bench-venv-ansible12'),
                        help='virtualenv with the ansible 12 package (community.libvirt)')
    parser.add_argument('--collections', default=os.path.join(REPO, '.build', 'collections'),
                        help='ANSIBLE_COLLECTIONS_PATH for kvmops.storage (default .build/collections)')
    parser.add_argument('--output', default=os.path.join(HERE, 'results'),
                        help='directory for the results as markdown (default bench/results)')
    args = parser.parse_args(argv)
    if args.loop_volumes is None:
        args.loop_volumes = 100 if args.quick else args.volumes
    args.loop_volumes = min(args.loop_volumes, args.volumes)
    args.scenarios = [s.strip() for s in args.scenarios.split(',') if s.strip()]
    unknown = set(args.scenarios) - set('abcdefg')
    if unknown or min(args.runs, args.loop_runs, args.loop_volumes, args.report_hosts, args.report_runs,
                      args.report_forks) < 1:
        parser.error('scenarios are a, b, c, d, e, f, g; runs, loop runs, loop volumes, report hosts, runs and forks '
                     'are at least 1')
    args.workdir = os.path.join(REPO, '.build', 'bench')
    return args


def header(ours, peer):
    return ['date: %s' % time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
            'host: %s, %d cores, Python %s' % (platform.node(), os.cpu_count() or 0, platform.python_version()),
            'libvirt: %s (daemon), libvirt-python %s' % (_libvirt_version(), metadata.version('libvirt-python')),
            'ours: kvmops.storage %s (%s), %s' % (_galaxy_version(ours), _git_head(ours), ours.version()),
            ('peer: community.libvirt %s, %s' % (_peer_version(peer), peer.version()) if os.path.exists(peer.python)
             else 'peer: none (%s is not there)' % peer.python)]


def _version_text(number):
    return '%d.%d.%d' % (number // 1000000, number // 1000 % 1000, number % 1000)


def _libvirt_version():
    conn = libvirt.open(URI)
    try:
        return _version_text(conn.getLibVersion())
    finally:
        conn.close()


def _collection_dir(side):
    """The kvmops.storage directory SIDE's collections path finds, None when it finds none."""
    for path in side.collections_path.split(os.pathsep):
        found = os.path.join(path, 'ansible_collections', 'kvmops', 'storage')
        if os.path.isdir(found):
            return os.path.realpath(found)
    return None


def _galaxy_version(side):
    with open(os.path.join(_collection_dir(side) or REPO, 'galaxy.yml')) as handle:
        match = re.search(r'^version:\s*(\S+)', handle.read(), re.M)
    return match.group(1) if match else 'unknown'


def _git_head(side):
    directory = _collection_dir(side) or REPO
    proc = subprocess.run(['git', '-C', directory, 'log', '-1', '--format=%h %s'], stdout=subprocess.PIPE,
                          universal_newlines=True, check=False)
    head = proc.stdout.strip()[:60] or 'unknown'
    return head if directory == REPO else '%s in %s' % (head, directory)


def _peer_version(peer):
    script = ('import json, os, ansible_collections.community.libvirt as c\n'
              'print(json.load(open(os.path.join(list(c.__path__)[0], "MANIFEST.json")))'
              '["collection_info"]["version"])\n')
    proc = subprocess.run([peer.python, '-c', script], stdout=subprocess.PIPE, universal_newlines=True, check=False)
    return proc.stdout.strip() or 'unknown'


def render(lines, rows, notes):
    out = ['```'] + lines + ['```', '',
                             '| scenario | measurement | kvmops.storage | community.libvirt / raw | ratio | target | met |',
                             '| --- | --- | --- | --- | --- | --- | --- |']
    out += ['| %s |' % ' | '.join(row) for row in rows]
    if notes:
        out += [''] + ['- %s' % note for note in notes]
    return '\n'.join(out) + '\n'


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.makedirs(args.workdir, exist_ok=True)
    ours = Side('kvmops.storage', os.path.join(REPO, '.venv'), args.collections, args.workdir)
    # an empty collections path: the peer finds only the community.libvirt of its ansible package
    empty = os.path.join(args.workdir, 'no-collections')
    os.makedirs(empty, exist_ok=True)
    peer = Side('community.libvirt', args.peer_venv, empty, args.workdir)
    lines = header(ours, peer)
    load_start = _load()
    for line in lines:
        print(line)
    # lookups of pools that are not there yet are expected; libvirt would print each to stderr
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    conn = libvirt.open(URI)
    bench = Bench(args, ours, peer, conn)
    status = 0
    try:
        # the start-up baseline compares both sides, which (d) and (e) do not
        for name in (['baseline'] if set(args.scenarios) & set('abc') else []) + args.scenarios:
            try:
                getattr(bench, name if name == 'baseline' else 'scenario_%s' % name)()
            except BenchError as exc:
                status = 1
                bench.notes.append('(%s) did not complete: %s' % (name, str(exc).splitlines()[0]))
                print('(%s) FAILED: %s' % (name, exc), file=sys.stderr)
    finally:
        if args.keep:
            bench.notes.append('the bench- pools were kept (--keep)')
        else:
            made = {'b': POOL_VOLS, 'c': POOL_DIR, 'a': POOL_FACTS, 'd': POOL_REPORT, 'e': POOL_FACTS, 'f': POOL_BYTES,
                    'g': POOL_RBD}
            for name in sorted(set(made[scenario] for scenario in args.scenarios)):
                remove_pool(conn, name, os.path.join(args.base_dir, name))
            if 'f' in args.scenarios:
                shutil.rmtree(os.path.join(args.base_dir, POOL_BYTES + '-files'), ignore_errors=True)
            if os.path.isdir(args.base_dir) and not os.listdir(args.base_dir):
                os.rmdir(args.base_dir)
        conn.close()
    lines.append('runs: median of %d (virt_volume loop: %d run(s)); load average at start %s, at end %s'
                 % (args.runs, args.loop_runs, load_start, _load()))
    text = render(lines, bench.rows, bench.notes)
    print()
    print(text)
    os.makedirs(args.output, exist_ok=True)
    path = os.path.join(args.output, time.strftime('%Y%m%dT%H%M%SZ.md', time.gmtime()))
    with open(path, 'w') as handle:
        handle.write(text)
    print('results written to %s' % path)
    return status


if __name__ == '__main__':
    sys.exit(main())

# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Calls that must answer within a time: storage that does not answer costs a warning, not a hung task.

A stat on a hard NFS mount whose server is gone, or a libvirt call that libvirtd makes wait on such
storage, blocks without end and cannot be interrupted.  Each such call runs in a daemon thread
(``Job``); the caller waits for it at most ``seconds`` since the job last made progress and then
leaves it behind.  Daemon threads are not joined when the interpreter exits (a
ThreadPoolExecutor's threads are), so a call left behind never keeps the module from ending.

libvirt's client sends the calls of several threads over its one connection without waiting for
each answer (each call carries a serial number; replies are matched to it), and libvirtd answers them
in its worker threads, at most ``max_client_requests`` (5 by default) of one connection at a time:
``Runner.stuck`` counts the calls left behind so that the caller can stop before they fill those.
A call left behind can still hold up later calls of the same connection: with libvirt 9.0, while a
pool refresh of that connection waits on an NFS server that is gone, a refresh or an info() of
another pool on it may wait too (over qemu+ssh and over the local socket alike; a second connection
is not held up). Those calls are then left behind in turn, with a warning naming their pool.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time

# libvirtd's default max_client_requests is 5: leave one for the calls that still answer
STUCK_LIMIT = 4


class NoAnswer(Exception):
    """A job made no progress for ``seconds``; ``stage`` says what it was doing."""

    def __init__(self, stage, seconds):
        super(NoAnswer, self).__init__('no answer within %g s (%s)' % (seconds, stage))
        self.stage = stage
        self.seconds = seconds


class Job:
    """One call (or a few in a row) in a daemon thread.  ``func(job, *args)`` may call ``job.step(stage)``
    before each part that can block and keep what it has read on the job, so that a caller that
    leaves the job behind still has those."""

    def __init__(self, func, args, on_done=None):
        self.func = func
        self.args = args
        self.stage = 'starting'
        self.progress = None
        self.result = None
        self.error = None
        self.done = False
        self.started = False
        self.left_behind = False
        self.skipped = False
        self.on_done = on_done
        self.data = {}

    def step(self, stage):
        self.stage = stage
        self.progress = time.monotonic()

    def start(self):
        self.started = True
        self.progress = time.monotonic()
        thread = threading.Thread(target=self._run, name='kvmops-%s' % getattr(self.func, '__name__', 'job'))
        thread.daemon = True
        thread.start()
        return self

    def _run(self):
        try:
            self.result = self.func(self, *self.args)
        except BaseException as exc:  # pylint: disable=broad-except
            self.error = exc
        self.done = True
        if self.on_done is not None:
            self.on_done()

    def get(self):
        """The result of a finished job (its exception raised again)."""
        if self.error is not None:
            raise self.error
        return self.result


class Runner:
    """Runs jobs in daemon threads, ``parallel`` at a time; a job that makes no progress for ``seconds``
    is left behind (``Job.left_behind``) and counted in ``stuck``, shared by every run of this runner.
    Once ``stuck`` reaches STUCK_LIMIT no new job starts (``Job.skipped``)."""

    def __init__(self, seconds, stuck_limit=STUCK_LIMIT):
        self.seconds = seconds
        self.stuck = 0
        self.stuck_limit = stuck_limit
        self._cond = threading.Condition()

    def blocked(self):
        return self.stuck >= self.stuck_limit

    def _notify(self):
        with self._cond:
            self._cond.notify_all()

    def call(self, stage, func, *args):
        """``func(*args)`` within the time; NoAnswer if it does not answer (the call is left behind)."""
        job = next(self.run([lambda _job: func(*args)], 1, stage=stage))
        if job.skipped:
            raise NoAnswer('%s: not tried, %d earlier calls did not answer' % (stage, self.stuck), self.seconds)
        if job.left_behind:
            raise NoAnswer(stage, self.seconds)
        return job.get()

    def run(self, funcs, parallel, stage='starting'):
        """Yield a Job per ``func(job)`` of ``funcs``, in their order, each once it is done, left behind
        or skipped.  Closing the generator early starts no further job."""
        jobs = [Job(func, (), self._notify) for func in funcs]
        for job in jobs:
            job.stage = stage
        running = []
        position = 0  # the next job to start
        for current in jobs:
            while True:
                while position < len(jobs) and self._room(running, parallel):
                    running.append(jobs[position].start())
                    position += 1
                if not current.started:
                    current.skipped = True  # blocked: nothing more starts
                    break
                self._reap(running)
                if current.done or current.left_behind:
                    break
                self._wait(running)
            yield current

    def _room(self, running, parallel):
        """Whether another job may start: ``parallel`` at a time, and once calls were left behind only as
        many as keep those and the running ones below STUCK_LIMIT (each holds one of libvirtd's places)."""
        if len(running) >= parallel:
            return False
        return self.stuck == 0 or self.stuck + len(running) < self.stuck_limit

    def _reap(self, running):
        now = time.monotonic()
        for job in list(running):
            if job.done:
                running.remove(job)
            elif now - job.progress >= self.seconds:
                job.left_behind = True
                self.stuck += 1
                running.remove(job)

    def _wait(self, running):
        if not running:
            return
        with self._cond:
            if any(job.done for job in running):
                return
            earliest = min(job.progress for job in running) + self.seconds
            self._cond.wait(max(0.0, earliest - time.monotonic()) + 0.001)

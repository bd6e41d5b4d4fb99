"""Background tasks: seed 004's REST surface (``/api/background/``) over registry tasks,
and the built-in task types (:mod:`.builtin`), which run on the worker SDK
(:mod:`mediatasks.worker`) like any type a user writes.

The façade (:mod:`.facade`) runs inside the registry process; the built-in types run in
a worker process: ``mediatasks worker --app mediatasks.background.builtin:tasks``.
"""

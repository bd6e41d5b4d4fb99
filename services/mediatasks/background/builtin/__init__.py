"""The built-in background task types, as one :class:`~mediatasks.worker.TaskApp`:
``mediatasks worker --app mediatasks.background.builtin:tasks`` runs them.

Each is written on the public worker SDK exactly as a user's type would be.
"""

from mediatasks.background.builtin.analytics import ANALYTICS_PROCESSING
from mediatasks.background.builtin.documents import DOCUMENT_PROCESSING
from mediatasks.background.builtin.email import EMAIL_NOTIFICATION
from mediatasks.background.builtin.http_calls import EXTERNAL_SYNC, WEBHOOK_DELIVERY
from mediatasks.worker import TaskApp

tasks = TaskApp()
for _definition in (WEBHOOK_DELIVERY, EMAIL_NOTIFICATION, EXTERNAL_SYNC, DOCUMENT_PROCESSING, ANALYTICS_PROCESSING):
    tasks.add(_definition)

__all__ = ["tasks"]

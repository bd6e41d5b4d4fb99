"""Indexes for filtered task lists at a million tasks: an owner's tasks of one status or
one type, newest first, are read from the index in order instead of filtering the owner's
whole history (ListTasks with status= or task_type=, the capped count beside it).

Revision ID: 0008_list_indexes
Revises: 0006_task_types
Create Date: 2026-12-01
"""

from mediatasks.registry.online_ddl import create_index_online, drop_index_online

revision = "0008_list_indexes"
down_revision = "0006_task_types"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Built concurrently: submits and completions go on while they are built.
    create_index_online("ix_tasks_owner_status_created", "tasks", ["owner", "status", "created_at"])
    create_index_online("ix_tasks_owner_type_created", "tasks", ["owner", "task_type", "created_at"])


def downgrade() -> None:
    drop_index_online("ix_tasks_owner_type_created", "tasks")
    drop_index_online("ix_tasks_owner_status_created", "tasks")

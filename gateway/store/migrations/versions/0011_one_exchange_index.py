"""messages: no index on exchange_id alone; the unique (exchange_id, position) index serves those look-ups

Revision ID: 0011_one_exchange_index
Revises: 0010_robust
"""
from alembic import op


revision = '0011_one_exchange_index'
down_revision = '0010_robust'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # exchange_id leads the unique (exchange_id, position) index, which SQLite and PostgreSQL both
    # use for a filter on exchange_id alone; the second index only cost each message insert a b-tree.
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_messages_exchange_id'))


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_messages_exchange_id'), ['exchange_id'], unique=False)

"""interchanges: no index on exchange_id alone; the unique (exchange_id, position) index serves those look-ups

Revision ID: 0012_one_interchange_index
Revises: 0011_one_exchange_index
"""
from alembic import op


revision = '0012_one_interchange_index'
down_revision = '0011_one_exchange_index'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # As 0011 did for messages: exchange_id leads the unique (exchange_id, position) index, which
    # both databases use for a filter on exchange_id alone.
    with op.batch_alter_table('interchanges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_interchanges_exchange_id'))


def downgrade() -> None:
    with op.batch_alter_table('interchanges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_interchanges_exchange_id'), ['exchange_id'], unique=False)

"""acknowledgments and control numbers: control_numbers; ack links on messages and exchanges;
interchange direction

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('control_numbers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner', sa.String(length=100), nullable=False),
    sa.Column('standard', sa.String(length=10), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('next_value', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('partner', 'standard', 'kind')
    )
    with op.batch_alter_table('exchanges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ack_state', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('ack_exchange_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_exchanges_ack_state'), ['ack_state'], unique=False)
        batch_op.create_foreign_key('fk_exchanges_ack_exchange_id', 'exchanges', ['ack_exchange_id'], ['id'])
    # Exchanges recorded before acknowledgments existed are not acknowledged after an upgrade.
    op.execute("UPDATE exchanges SET ack_state = 'none' WHERE direction = 'in' AND state != 'received'")
    with op.batch_alter_table('interchanges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('direction', sa.String(length=3), nullable=False, server_default='in'))
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('acknowledged_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('ack_due_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('ack_detail', sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f('ix_messages_acknowledged_by_id'), ['acknowledged_by_id'], unique=False)
        batch_op.create_foreign_key('fk_messages_acknowledged_by_id', 'messages', ['acknowledged_by_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_constraint('fk_messages_acknowledged_by_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_messages_acknowledged_by_id'))
        batch_op.drop_column('ack_detail')
        batch_op.drop_column('ack_due_at')
        batch_op.drop_column('acknowledged_by_id')
    with op.batch_alter_table('interchanges', schema=None) as batch_op:
        batch_op.drop_column('direction')
    with op.batch_alter_table('exchanges', schema=None) as batch_op:
        batch_op.drop_constraint('fk_exchanges_ack_exchange_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_exchanges_ack_state'))
        batch_op.drop_column('ack_exchange_id')
        batch_op.drop_column('ack_state')
    op.drop_table('control_numbers')

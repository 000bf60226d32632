"""order threads and exceptions: each message's order, and the differences that wait for a person

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('order_ref', sa.String(length=100), nullable=True))
        batch_op.create_index(batch_op.f('ix_messages_order_ref'), ['order_ref'], unique=False)
    op.create_table('exceptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('partner', sa.String(length=100), nullable=False),
    sa.Column('order_ref', sa.String(length=100), nullable=True),
    sa.Column('document_type', sa.String(length=30), nullable=True),
    sa.Column('line', sa.String(length=30), nullable=True),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('exceptions', schema=None) as batch_op:
        batch_op.create_index('ix_exceptions_partner_state', ['partner', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_exceptions_order_ref'), ['order_ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_exceptions_message_id'), ['message_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('exceptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exceptions_message_id'))
        batch_op.drop_index(batch_op.f('ix_exceptions_order_ref'))
        batch_op.drop_index('ix_exceptions_partner_state')
    op.drop_table('exceptions')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_messages_order_ref'))
        batch_op.drop_column('order_ref')

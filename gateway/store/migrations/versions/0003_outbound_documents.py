"""outbound documents: change-detection cursors and the records sent, once per state

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outbound_cursors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner', sa.String(length=100), nullable=False),
    sa.Column('document_type', sa.String(length=30), nullable=False),
    sa.Column('write_date', sa.String(length=19), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('partner', 'document_type')
    )
    op.create_table('sent_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner', sa.String(length=100), nullable=False),
    sa.Column('document_type', sa.String(length=30), nullable=False),
    sa.Column('model', sa.String(length=60), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=30), nullable=False),
    sa.Column('document_number', sa.String(length=100), nullable=True),
    sa.Column('exchange_id', sa.Integer(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=False),
    sa.Column('replays', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['exchange_id'], ['exchanges.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('partner', 'document_type', 'model', 'record_id', 'state')
    )
    with op.batch_alter_table('sent_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sent_records_exchange_id'), ['exchange_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sent_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sent_records_exchange_id'))
    op.drop_table('sent_records')
    op.drop_table('outbound_cursors')

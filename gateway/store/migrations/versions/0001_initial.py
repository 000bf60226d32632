"""initial schema: exchanges, interchanges, messages, audit events

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 09:49:39.485391
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=10), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('from_state', sa.String(length=20), nullable=True),
    sa.Column('to_state', sa.String(length=20), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_subject', ['subject', 'subject_id'], unique=False)

    op.create_table('exchanges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner', sa.String(length=100), nullable=False),
    sa.Column('channel', sa.String(length=100), nullable=False),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('original_name', sa.String(length=500), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('standard', sa.String(length=10), nullable=True),
    sa.Column('duplicate_of', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['duplicate_of'], ['exchanges.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('exchanges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exchanges_partner'), ['partner'], unique=False)
        batch_op.create_index(batch_op.f('ix_exchanges_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_exchanges_state'), ['state'], unique=False)

    op.create_table('interchanges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('exchange_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('standard', sa.String(length=10), nullable=False),
    sa.Column('sender', sa.String(length=100), nullable=True),
    sa.Column('receiver', sa.String(length=100), nullable=True),
    sa.Column('control_ref', sa.String(length=50), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('header', sa.Text(), nullable=False),
    sa.Column('errors', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['exchange_id'], ['exchanges.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('exchange_id', 'position')
    )
    with op.batch_alter_table('interchanges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_interchanges_exchange_id'), ['exchange_id'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('exchange_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('interchange_position', sa.Integer(), nullable=False),
    sa.Column('partner', sa.String(length=100), nullable=False),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('standard', sa.String(length=10), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=True),
    sa.Column('version', sa.String(length=30), nullable=True),
    sa.Column('ref', sa.String(length=50), nullable=True),
    sa.Column('interchange_ref', sa.String(length=50), nullable=True),
    sa.Column('group_ref', sa.String(length=50), nullable=True),
    sa.Column('document_type', sa.String(length=30), nullable=True),
    sa.Column('document_number', sa.String(length=100), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('errors', sa.Text(), nullable=False),
    sa.Column('document', sa.Text(), nullable=True),
    sa.Column('result', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['exchange_id'], ['exchanges.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('exchange_id', 'position')
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_messages_document_number'), ['document_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_exchange_id'), ['exchange_id'], unique=False)
        batch_op.create_index('ix_messages_partner_state', ['partner', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_state'), ['state'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_messages_state'))
        batch_op.drop_index('ix_messages_partner_state')
        batch_op.drop_index(batch_op.f('ix_messages_exchange_id'))
        batch_op.drop_index(batch_op.f('ix_messages_document_number'))

    op.drop_table('messages')
    with op.batch_alter_table('interchanges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_interchanges_exchange_id'))

    op.drop_table('interchanges')
    with op.batch_alter_table('exchanges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exchanges_state'))
        batch_op.drop_index(batch_op.f('ix_exchanges_sha256'))
        batch_op.drop_index(batch_op.f('ix_exchanges_partner'))

    op.drop_table('exchanges')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_subject')

    op.drop_table('audit_events')

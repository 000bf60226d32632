"""support console: users who sign in, each message's Odoo record name, and the indexes search uses

Revision ID: 0006_console
Revises: 0004
"""
import json

from alembic import op
import sqlalchemy as sa


revision = '0006_console'
down_revision = '0005_edi'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(), nullable=True),
    sa.Column('last_login_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('record_name', sa.String(length=100), nullable=True))
        batch_op.create_index(batch_op.f('ix_messages_record_name'), ['record_name'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_ref'), ['ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_interchange_ref'), ['interchange_ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_group_ref'), ['group_ref'], unique=False)
    with op.batch_alter_table('exchanges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exchanges_original_name'), ['original_name'], unique=False)
        batch_op.create_index(batch_op.f('ix_exchanges_received_at'), ['received_at'], unique=False)
    # Messages delivered before this version: their record's name, from the result kept on them.
    messages = sa.table('messages', sa.column('id', sa.Integer), sa.column('result', sa.Text),
                        sa.column('record_name', sa.String))
    connection = op.get_bind()
    for message_id, result in connection.execute(sa.select(messages.c.id, messages.c.result).where(
            messages.c.result.is_not(None))).all():
        name = _record_name(result)
        if name:
            connection.execute(messages.update().where(messages.c.id == message_id).values(record_name=name))


def _record_name(result: str) -> str | None:
    try:
        value = json.loads(result)
    except ValueError:
        return None
    name = value.get("name") if isinstance(value, dict) else None
    return str(name)[:100] if name else None


def downgrade() -> None:
    with op.batch_alter_table('exchanges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exchanges_received_at'))
        batch_op.drop_index(batch_op.f('ix_exchanges_original_name'))
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_messages_group_ref'))
        batch_op.drop_index(batch_op.f('ix_messages_interchange_ref'))
        batch_op.drop_index(batch_op.f('ix_messages_ref'))
        batch_op.drop_index(batch_op.f('ix_messages_record_name'))
        batch_op.drop_column('record_name')
    op.drop_table('users')

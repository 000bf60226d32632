"""seals: an HMAC over each exchange's and message's protected columns, checked by `audit verify`

Revision ID: 0010_robust
Revises: 0009_scale
"""
from alembic import op
import sqlalchemy as sa


revision = '0010_robust'
down_revision = '0009_scale'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows recorded before this version stay unsealed; audit verify knows from when rows are sealed.
    with op.batch_alter_table('exchanges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seal', sa.String(length=64), nullable=True))
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seal', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('seal')
    with op.batch_alter_table('exchanges', schema=None) as batch_op:
        batch_op.drop_column('seal')

"""exceptions name the Odoo record they are about, so only a document of that record settles them

Revision ID: 0005_edi
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa


revision = '0005_edi'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('exceptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('record', sa.String(length=120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('exceptions', schema=None) as batch_op:
        batch_op.drop_column('record')

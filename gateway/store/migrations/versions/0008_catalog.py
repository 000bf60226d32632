"""catalogs: the items of the last catalog sent to each customer, for catalogs of changes

Revision ID: 0008_catalog
Revises: 0007_stock
"""
from alembic import op
import sqlalchemy as sa


revision = '0008_catalog'
down_revision = '0007_stock'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('catalog_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner', sa.String(length=100), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('line', sa.Text(), nullable=False),
    sa.Column('exchange_id', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['exchange_id'], ['exchanges.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('partner', 'key')
    )
    with op.batch_alter_table('catalog_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_items_partner'), ['partner'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('catalog_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_items_partner'))
    op.drop_table('catalog_items')

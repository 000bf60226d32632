"""stock reports: the quantity of each product last reported to each customer (mode: changes)

Revision ID: 0007_stock
Revises: 0006_console
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_stock'
down_revision = '0006_console'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('stock_levels_sent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner', sa.String(length=100), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.String(length=40), nullable=False),
    sa.Column('document_number', sa.String(length=100), nullable=False),
    sa.Column('exchange_id', sa.Integer(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['exchange_id'], ['exchanges.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('partner', 'product_id')
    )


def downgrade() -> None:
    op.drop_table('stock_levels_sent')

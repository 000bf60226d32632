"""scale-out: the archive kept in the database ([archive] url), files and their 1 MiB chunks

Revision ID: 0009_scale
Revises: 0008_catalog
"""
from alembic import op
import sqlalchemy as sa


revision = '0009_scale'
down_revision = '0008_catalog'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('archive_files',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('stored_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('sha256')
    )
    op.create_table('archive_chunks',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['sha256'], ['archive_files.sha256'], ),
    sa.PrimaryKeyConstraint('sha256', 'seq')
    )


def downgrade() -> None:
    op.drop_table('archive_chunks')
    op.drop_table('archive_files')

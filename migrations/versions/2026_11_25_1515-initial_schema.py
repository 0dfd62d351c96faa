"""Initial schema: villages, users, lots, registrations, idempotency records and the event log.

The event table is append-only in the database itself: triggers refuse UPDATE, DELETE (and on
PostgreSQL TRUNCATE), so not even a bug in the app can rewrite history.

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 15:14:00.328425+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64


def upgrade() -> None:
    op.create_table('log_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_log_head_single_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_log_head'))
    )
    op.create_table('villages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('township', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_villages'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('village_id', sa.Integer(), nullable=True),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role != 'official' OR village_id IS NOT NULL", name=op.f('ck_users_official_village')),
    sa.CheckConstraint("role IN ('admin', 'official', 'bidder', 'auditor')", name=op.f('ck_users_role')),
    sa.ForeignKeyConstraint(['village_id'], ['villages.id'], name=op.f('fk_users_village_id_villages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_village_id'), ['village_id'], unique=False)

    op.create_table('lots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('village_id', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('asset_kind', sa.String(length=32), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('location', sa.String(length=200), nullable=False),
    sa.Column('area_m2', sa.BigInteger(), nullable=True),
    sa.Column('lease_term_months', sa.Integer(), nullable=False),
    sa.Column('format', sa.String(length=16), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('phase', sa.String(length=32), nullable=True),
    sa.Column('current_price_fen', sa.BigInteger(), nullable=True),
    sa.Column('leader', sa.String(length=8), nullable=True),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('turn', sa.String(length=8), nullable=True),
    sa.Column('deadline', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('head_hash', sa.String(length=64), nullable=True),
    sa.Column('bid_count', sa.Integer(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("format IN ('timed', 'sequential', 'sealed')", name=op.f('ck_lots_format')),
    sa.CheckConstraint("status IN ('draft', 'registration', 'open', 'paused', 'closed', 'cancelled')", name=op.f('ck_lots_status')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_lots_created_by_users')),
    sa.ForeignKeyConstraint(['village_id'], ['villages.id'], name=op.f('fk_lots_village_id_villages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lots'))
    )
    with op.batch_alter_table('lots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lots_asset_kind'), ['asset_kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_lots_next_due_at'), ['next_due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_lots_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_lots_village_id'), ['village_id'], unique=False)

    op.create_table('events',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=True),
    sa.Column('lot_seq', sa.Integer(), nullable=True),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('actor', sa.String(length=40), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('lot_prev_hash', sa.String(length=64), nullable=True),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['lot_id'], ['lots.id'], name=op.f('fk_events_lot_id_lots')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_events')),
    sa.UniqueConstraint('hash', name=op.f('uq_events_hash')),
    sa.UniqueConstraint('lot_id', 'lot_seq', name=op.f('uq_events_lot_id_lot_seq'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_events_actor'), ['actor'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_lot_id'), ['lot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_type'), ['type'], unique=False)

    op.create_table('idempotent_requests',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['lot_id'], ['lots.id'], name=op.f('fk_idempotent_requests_lot_id_lots')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_idempotent_requests_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', 'key', name=op.f('pk_idempotent_requests'))
    )
    op.create_table('registrations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('bidder_number', sa.String(length=8), nullable=True),
    sa.Column('initial_bid_fen', sa.BigInteger(), nullable=True),
    sa.Column('priority', sa.Boolean(), nullable=False),
    sa.Column('deposit_fen', sa.BigInteger(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('reject_reason', sa.Text(), nullable=False),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')", name=op.f('ck_registrations_status')),
    sa.ForeignKeyConstraint(['decided_by'], ['users.id'], name=op.f('fk_registrations_decided_by_users')),
    sa.ForeignKeyConstraint(['lot_id'], ['lots.id'], name=op.f('fk_registrations_lot_id_lots')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_registrations_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registrations')),
    sa.UniqueConstraint('lot_id', 'bidder_number', name=op.f('uq_registrations_lot_id_bidder_number')),
    sa.UniqueConstraint('lot_id', 'user_id', name=op.f('uq_registrations_lot_id_user_id'))
    )
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registrations_lot_id'), ['lot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_registrations_user_id'), ['user_id'], unique=False)

    op.execute(sa.text("INSERT INTO log_head (id, seq, hash) VALUES (1, 0, :genesis)").bindparams(
        genesis=GENESIS_HASH
    ))
    _create_append_only_triggers()


def _create_append_only_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER events_refuse_{action.lower()} BEFORE {action} ON events "
                "BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'the event log is append-only' "
        "USING ERRCODE = 'insufficient_privilege'; END $$"
    )
    op.execute(
        "CREATE TRIGGER events_refuse_change BEFORE UPDATE OR DELETE ON events "
        "FOR EACH ROW EXECUTE FUNCTION events_refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER events_refuse_truncate BEFORE TRUNCATE ON events "
        "FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_refuse_truncate ON events")
        op.execute("DROP TRIGGER IF EXISTS events_refuse_change ON events")
        op.execute("DROP FUNCTION IF EXISTS events_refuse_change()")
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registrations_user_id'))
        batch_op.drop_index(batch_op.f('ix_registrations_lot_id'))

    op.drop_table('registrations')
    op.drop_table('idempotent_requests')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_type'))
        batch_op.drop_index(batch_op.f('ix_events_lot_id'))
        batch_op.drop_index(batch_op.f('ix_events_at'))
        batch_op.drop_index(batch_op.f('ix_events_actor'))

    op.drop_table('events')
    with op.batch_alter_table('lots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lots_village_id'))
        batch_op.drop_index(batch_op.f('ix_lots_status'))
        batch_op.drop_index(batch_op.f('ix_lots_next_due_at'))
        batch_op.drop_index(batch_op.f('ix_lots_asset_kind'))

    op.drop_table('lots')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_village_id'))

    op.drop_table('users')
    op.drop_table('villages')
    op.drop_table('log_head')

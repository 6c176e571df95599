"""secrets at rest (密钥与查询码加密存储): portal secrets and replayed answers sealed, query
codes keyed, with the keyring kept outside the database (shared.keyring)

- ``portal_clients.secret`` (in clear) becomes ``sealed_secret``: each row sealed (AES-GCM).
- ``applications.query_code_hash`` (SHA-256 of number and code) is wrapped in an HMAC keyed
  from the keyring, ``<key id>.<hex>``: every code given out before still works.
- ``portal_idempotency_keys.body`` (the first answer, with a new application's query code)
  is sealed, ``{"sealed": "hk1.…"}``.

Downgrade opens the portal secrets and the answers again; keyed query-code hashes cannot be
turned back into plain SHA-256 (that is the point), so a downgrade with applications on file
is refused rather than break every query code.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from services.intake.applications.query_codes import keyed
from services.intake.portal.idempotency import SEALED, open_answer, seal_answer
from services.intake.portal.service import open_secret, seal_secret
from shared.keyring import Keyring

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_clients = sa.table(
    'portal_clients',
    sa.column('id', sa.Integer),
    sa.column('key_id', sa.String),
    sa.column('secret', sa.String),
    sa.column('sealed_secret', sa.String),
)
_applications = sa.table(
    'applications', sa.column('id', sa.Integer), sa.column('query_code_hash', sa.String)
)
_answers = sa.table(
    'portal_idempotency_keys',
    sa.column('id', sa.Integer),
    sa.column('key_id', sa.String),
    sa.column('idempotency_key', sa.String),
    sa.column('body', sa.JSON),
)


def _keyring() -> Keyring:
    keyring: Keyring = context.config.attributes['keyring']
    return keyring


def upgrade() -> None:
    keyring = _keyring()
    conn = op.get_bind()
    with op.batch_alter_table('portal_clients') as batch:
        batch.add_column(sa.Column('sealed_secret', sa.String(length=255), nullable=True))
    for row in conn.execute(sa.select(_clients.c.id, _clients.c.key_id, _clients.c.secret)):
        conn.execute(
            _clients.update()
            .where(_clients.c.id == row.id)
            .values(sealed_secret=seal_secret(keyring, row.key_id, row.secret))
        )
    with op.batch_alter_table('portal_clients') as batch:
        batch.alter_column('sealed_secret', existing_type=sa.String(length=255), nullable=False)
        batch.drop_column('secret')

    with op.batch_alter_table('applications') as batch:
        batch.alter_column(
            'query_code_hash',
            existing_type=sa.String(length=64),
            type_=sa.String(length=100),
            existing_nullable=False,
        )
    for row in conn.execute(sa.select(_applications.c.id, _applications.c.query_code_hash)):
        if '.' not in row.query_code_hash:  # plain SHA-256 hex
            conn.execute(
                _applications.update()
                .where(_applications.c.id == row.id)
                .values(query_code_hash=keyed(keyring, row.query_code_hash))
            )

    for row in conn.execute(sa.select(_answers)):
        body = row.body or {}
        if SEALED not in body:
            conn.execute(
                _answers.update()
                .where(_answers.c.id == row.id)
                .values(body=seal_answer(keyring, row.key_id, row.idempotency_key, body))
            )


def downgrade() -> None:
    keyring = _keyring()
    conn = op.get_bind()
    on_file = conn.execute(sa.select(sa.func.count()).select_from(_applications)).scalar_one()
    if on_file:
        raise RuntimeError(
            'intake 0012 cannot be downgraded with applications on file: their query codes '
            'are keyed (HMAC) and cannot be turned back into the plain hashes 0011 reads'
        )
    for row in conn.execute(sa.select(_answers)):
        body = row.body or {}
        if SEALED in body:
            conn.execute(
                _answers.update()
                .where(_answers.c.id == row.id)
                .values(body=open_answer(keyring, row.key_id, row.idempotency_key, body))
            )
    with op.batch_alter_table('applications') as batch:
        batch.alter_column(
            'query_code_hash',
            existing_type=sa.String(length=100),
            type_=sa.String(length=64),
            existing_nullable=False,
        )
    with op.batch_alter_table('portal_clients') as batch:
        batch.add_column(sa.Column('secret', sa.String(length=128), nullable=True))
    for row in conn.execute(sa.select(_clients.c.id, _clients.c.key_id, _clients.c.sealed_secret)):
        secret = open_secret(keyring, row.key_id, row.sealed_secret)
        conn.execute(_clients.update().where(_clients.c.id == row.id).values(secret=secret))
    with op.batch_alter_table('portal_clients') as batch:
        batch.alter_column('secret', existing_type=sa.String(length=128), nullable=False)
        batch.drop_column('sealed_secret')

"""shops, members and merchant applications

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shops",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("logo_path", sa.String(length=300), nullable=True),
        sa.Column("main_category_id", sa.Integer(), nullable=False),
        sa.Column(
            "entity_type",
            sa.Enum(
                "individual",
                "individual_business",
                "enterprise",
                name="entitytype",
                native_enum=False,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("legal_name", sa.String(length=100), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["main_category_id"],
            ["categories.id"],
            name=op.f("fk_shops_main_category_id_categories"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shops")),
        sa.UniqueConstraint("name", name=op.f("uq_shops_name")),
    )
    op.create_table(
        "merchant_applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("applicant_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "submitted",
                "approved",
                "rejected",
                name="applicationstatus",
                native_enum=False,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column(
            "entity_type",
            sa.Enum(
                "individual",
                "individual_business",
                "enterprise",
                name="entitytype",
                native_enum=False,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("legal_name", sa.String(length=100), nullable=False),
        sa.Column("license_no", sa.String(length=18), nullable=False),
        sa.Column("contact_name", sa.String(length=40), nullable=False),
        sa.Column("contact_phone", sa.String(length=20), nullable=False),
        sa.Column("main_category_id", sa.Integer(), nullable=False),
        sa.Column("shop_name", sa.String(length=40), nullable=False),
        sa.Column("logo_path", sa.String(length=300), nullable=True),
        sa.Column("license_image_path", sa.String(length=300), nullable=True),
        sa.Column("reject_reason", sa.Text(), nullable=True),
        sa.Column("shop_id", sa.Integer(), nullable=True),
        sa.Column("submitted_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["applicant_id"], ["users.id"], name=op.f("fk_merchant_applications_applicant_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_merchant_applications_decided_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["main_category_id"],
            ["categories.id"],
            name=op.f("fk_merchant_applications_main_category_id_categories"),
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_merchant_applications_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchant_applications")),
    )
    op.create_index(
        "ix_merchant_applications_applicant_id",
        "merchant_applications",
        ["applicant_id"],
        unique=False,
    )
    op.create_index(
        "ix_merchant_applications_status", "merchant_applications", ["status"], unique=False
    )
    op.create_index(
        "uq_merchant_applications_open_applicant_id",
        "merchant_applications",
        ["applicant_id"],
        unique=True,
        sqlite_where=sa.text("status = 'submitted'"),
        postgresql_where=sa.text("status = 'submitted'"),
    )
    op.create_index(
        "uq_merchant_applications_open_shop_name",
        "merchant_applications",
        ["shop_name"],
        unique=True,
        sqlite_where=sa.text("status = 'submitted'"),
        postgresql_where=sa.text("status = 'submitted'"),
    )
    op.create_table(
        "shop_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "role",
            sa.Enum("owner", "staff", name="memberrole", native_enum=False, length=30),
            nullable=False,
        ),
        sa.Column("added_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["added_by_id"], ["users.id"], name=op.f("fk_shop_members_added_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_shop_members_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_shop_members_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shop_members")),
        sa.UniqueConstraint("shop_id", "user_id", name=op.f("uq_shop_members_shop_id_user_id")),
    )
    op.create_index("ix_shop_members_shop_id", "shop_members", ["shop_id"], unique=False)
    op.create_index("ix_shop_members_user_id", "shop_members", ["user_id"], unique=False)
    op.create_table(
        "merchant_application_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_merchant_application_events_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["merchant_applications.id"],
            name=op.f("fk_merchant_application_events_application_id_merchant_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchant_application_events")),
    )
    op.create_index(
        "ix_merchant_application_events_application_id",
        "merchant_application_events",
        ["application_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("merchant_application_events")
    op.drop_table("shop_members")
    op.drop_table("merchant_applications")
    op.drop_table("shops")

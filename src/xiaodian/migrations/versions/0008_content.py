"""short videos: videos, their products and tags, likes, metrics, events

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "videos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=True),
        sa.Column("caption", sa.String(length=200), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "published", "hidden", "removed", name="videostatus", native_enum=False, length=30
            ),
            nullable=False,
        ),
        sa.Column("file_path", sa.String(length=300), nullable=False),
        sa.Column("content_type", sa.String(length=20), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("cover_path", sa.String(length=300), nullable=True),
        sa.Column("cover_thumb_path", sa.String(length=300), nullable=True),
        sa.Column("view_count", sa.Integer(), nullable=False),
        sa.Column("like_count", sa.Integer(), nullable=False),
        sa.Column("impression_count", sa.Integer(), nullable=False),
        sa.Column("click_count", sa.Integer(), nullable=False),
        sa.Column("rank_base", sa.Integer(), nullable=False),
        sa.Column("rank_score", sa.Integer(), nullable=False),
        sa.Column("screening_hits", sa.JSON(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("removed_reason", sa.Text(), nullable=True),
        sa.Column("removed_by_id", sa.Integer(), nullable=True),
        sa.Column("removed_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_videos_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["removed_by_id"], ["users.id"], name=op.f("fk_videos_removed_by_id_users")
        ),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], name=op.f("fk_videos_shop_id_shops")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_videos")),
    )
    op.create_index("ix_videos_author_created", "videos", ["author_id", "created_at"], unique=False)
    op.create_index("ix_videos_flagged_created", "videos", ["flagged", "created_at"], unique=False)
    op.create_index("ix_videos_shop_created", "videos", ["shop_id", "created_at"], unique=False)
    op.create_index("ix_videos_status_rank", "videos", ["status", "rank_score", "id"], unique=False)
    op.create_table(
        "video_daily_stats",
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.Column("impressions", sa.Integer(), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_video_daily_stats_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("video_id", "day", "product_id", name=op.f("pk_video_daily_stats")),
    )
    op.create_index(
        op.f("ix_video_daily_stats_product_id"), "video_daily_stats", ["product_id"], unique=False
    )
    op.create_table(
        "video_event_marks",
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("viewer", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("last_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_video_event_marks_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "video_id", "viewer", "kind", "product_id", name=op.f("pk_video_event_marks")
        ),
    )
    op.create_index(
        op.f("ix_video_event_marks_last_at"), "video_event_marks", ["last_at"], unique=False
    )
    op.create_table(
        "video_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_video_events_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_video_events_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_video_events")),
    )
    op.create_index(op.f("ix_video_events_video_id"), "video_events", ["video_id"], unique=False)
    op.create_table(
        "video_likes",
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_video_likes_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_video_likes_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("video_id", "user_id", name=op.f("pk_video_likes")),
    )
    op.create_index(op.f("ix_video_likes_user_id"), "video_likes", ["user_id"], unique=False)
    op.create_table(
        "video_products",
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_video_products_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_video_products_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("video_id", "product_id", name=op.f("pk_video_products")),
    )
    op.create_index(
        op.f("ix_video_products_product_id"), "video_products", ["product_id"], unique=False
    )
    op.create_table(
        "video_tags",
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_video_tags_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("video_id", "tag", name=op.f("pk_video_tags")),
    )
    op.create_index("ix_video_tags_tag_video", "video_tags", ["tag", "video_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_video_tags_tag_video", table_name="video_tags")
    op.drop_table("video_tags")
    op.drop_index(op.f("ix_video_products_product_id"), table_name="video_products")
    op.drop_table("video_products")
    op.drop_index(op.f("ix_video_likes_user_id"), table_name="video_likes")
    op.drop_table("video_likes")
    op.drop_index(op.f("ix_video_events_video_id"), table_name="video_events")
    op.drop_table("video_events")
    op.drop_index(op.f("ix_video_event_marks_last_at"), table_name="video_event_marks")
    op.drop_table("video_event_marks")
    op.drop_index(op.f("ix_video_daily_stats_product_id"), table_name="video_daily_stats")
    op.drop_table("video_daily_stats")
    op.drop_index("ix_videos_status_rank", table_name="videos")
    op.drop_index("ix_videos_shop_created", table_name="videos")
    op.drop_index("ix_videos_flagged_created", table_name="videos")
    op.drop_index("ix_videos_author_created", table_name="videos")
    op.drop_table("videos")

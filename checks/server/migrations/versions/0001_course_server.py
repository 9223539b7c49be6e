"""The course server's first schema: members and their tokens, uploads and grading jobs, LIME submissions,
TA marks.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "members",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True, index=True),
        sa.Column("member_id", sa.String(64), sa.ForeignKey("members.id"), nullable=False, index=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime, nullable=True),
    )
    op.create_table(
        "uploads",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("member_id", sa.String(64), sa.ForeignKey("members.id"), nullable=False, index=True),
        sa.Column("assignment", sa.String(64), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("upload_digest", sa.String(64), sa.ForeignKey("uploads.digest"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=True),
        sa.Column("finished_at", sa.DateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("grading_key", sa.String(64), nullable=True, index=True),
        sa.Column("reused_from", sa.Integer, nullable=True),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("result_json", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_table(
        "lime_submissions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("member_id", sa.String(64), sa.ForeignKey("members.id"), nullable=False, index=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("avg_iou", sa.Float, nullable=True),
        sa.Column("avg_time", sa.Float, nullable=True),
        sa.Column("result_json", sa.Text, nullable=False),
    )
    op.create_table(
        "ta_marks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("assignment", sa.String(64), nullable=False, index=True),
        sa.Column("student", sa.String(128), nullable=False),
        sa.Column("item", sa.String(255), nullable=False),
        sa.Column("marks", sa.Float, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("marked_by", sa.String(64), sa.ForeignKey("members.id"), nullable=False),
        sa.Column("marked_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ("ta_marks", "lime_submissions", "jobs", "uploads", "tokens", "members"):
        op.drop_table(table)

"""Numbered schema migrations. The database's `PRAGMA user_version` is the number applied.

Append new steps; never edit a step that has shipped.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: images stored once, conversations keyed by thread, turns, jobs.
    """
    CREATE TABLE images (
        sha256     TEXT PRIMARY KEY,
        mime_type  TEXT NOT NULL,
        size       INTEGER NOT NULL,
        data       BLOB NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE conversations (
        thread_id    INTEGER PRIMARY KEY,
        guild_id     INTEGER,
        channel_id   INTEGER NOT NULL,
        owner_id     INTEGER NOT NULL,
        workflow     TEXT NOT NULL,
        model        TEXT NOT NULL,
        aspect_ratio TEXT,
        image_size   TEXT,
        last_image   TEXT REFERENCES images(sha256),
        created_at   REAL NOT NULL,
        updated_at   REAL NOT NULL
    );
    CREATE INDEX conversations_by_age ON conversations(updated_at);
    CREATE TABLE turns (
        id          INTEGER PRIMARY KEY,
        thread_id   INTEGER NOT NULL REFERENCES conversations(thread_id) ON DELETE CASCADE,
        job_id      TEXT NOT NULL,
        role        TEXT NOT NULL CHECK (role IN ('user', 'model')),
        content     TEXT NOT NULL,
        image_refs  TEXT NOT NULL,
        image_count INTEGER NOT NULL,
        blocked     INTEGER NOT NULL DEFAULT 0,
        created_at  REAL NOT NULL
    );
    CREATE INDEX turns_by_thread ON turns(thread_id, id);
    CREATE TABLE turn_images (
        turn_id INTEGER NOT NULL REFERENCES turns(id) ON DELETE CASCADE,
        sha256  TEXT NOT NULL REFERENCES images(sha256),
        PRIMARY KEY (turn_id, sha256)
    ) WITHOUT ROWID;
    CREATE INDEX turn_images_by_image ON turn_images(sha256);
    CREATE TABLE jobs (
        id            TEXT PRIMARY KEY,
        kind          TEXT NOT NULL,
        state         TEXT NOT NULL,
        user_id       INTEGER NOT NULL,
        guild_id      INTEGER,
        channel_id    INTEGER NOT NULL,
        thread_id     INTEGER,
        message_id    INTEGER,
        request       TEXT NOT NULL,
        error_kind    TEXT,
        error_message TEXT,
        cost_usd      REAL NOT NULL DEFAULT 0,
        created_at    REAL NOT NULL,
        started_at    REAL,
        finished_at   REAL
    );
    CREATE INDEX jobs_unfinished ON jobs(state) WHERE state IN ('queued', 'running');
    CREATE INDEX jobs_by_user ON jobs(user_id, created_at);
    CREATE INDEX jobs_by_age ON jobs(created_at);
    CREATE TABLE job_images (
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        sha256 TEXT NOT NULL REFERENCES images(sha256),
        PRIMARY KEY (job_id, sha256)
    ) WITHOUT ROWID;
    CREATE INDEX job_images_by_image ON job_images(sha256);
    """,
    # 2: the image a job produced, so any result can be refined, varied or shown again.
    """
    ALTER TABLE jobs ADD COLUMN result_image TEXT REFERENCES images(sha256);
    CREATE INDEX jobs_by_result_image ON jobs(result_image) WHERE result_image IS NOT NULL;
    """,
    # 3: all the images a job showed, in order (Imagen shows up to four); each one is also
    # linked in job_images, which keeps it from being cleaned up while the job exists.
    """
    ALTER TABLE jobs ADD COLUMN outputs TEXT NOT NULL DEFAULT '[]';
    """,
)

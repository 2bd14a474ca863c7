"""Numbered schema migrations of the PostgreSQL store. `schema_version` holds the number
applied; each step runs in one transaction (PostgreSQL's DDL is transactional).

Append new steps; never edit a step that has shipped. Step 1 is the schema the SQLite store
reached in its step 4, in PostgreSQL's types: Discord ids are BIGINT, times DOUBLE PRECISION
(epoch seconds, as in the code), image bytes BYTEA, JSON kept as the text the code writes.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: images stored once, conversations as chains of jobs, the queue, exchanges per job.
    """
    CREATE TABLE images (
        sha256     TEXT PRIMARY KEY,
        mime_type  TEXT NOT NULL,
        size       INTEGER NOT NULL,
        data       BYTEA NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    );
    -- PNG and JPEG are compressed already: keep them out of line without trying again.
    ALTER TABLE images ALTER COLUMN data SET STORAGE EXTERNAL;
    CREATE TABLE conversations (
        thread_id    BIGINT PRIMARY KEY,
        guild_id     BIGINT,
        channel_id   BIGINT NOT NULL,
        owner_id     BIGINT NOT NULL,
        workflow     TEXT NOT NULL,
        model        TEXT NOT NULL,
        aspect_ratio TEXT,
        image_size   TEXT,
        head_job     TEXT,
        last_image   TEXT REFERENCES images(sha256),
        created_at   DOUBLE PRECISION NOT NULL,
        updated_at   DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX conversations_by_age ON conversations(updated_at);
    CREATE INDEX conversations_by_last_image ON conversations(last_image);
    -- Places in line: taken by whichever process queues a job, never reused.
    CREATE SEQUENCE job_seq;
    CREATE TABLE jobs (
        id              TEXT PRIMARY KEY,
        kind            TEXT NOT NULL,
        state           TEXT NOT NULL,
        user_id         BIGINT NOT NULL,
        guild_id        BIGINT,
        channel_id      BIGINT NOT NULL,
        thread_id       BIGINT,
        message_id      BIGINT,
        reply_to        BIGINT,
        home_channel_id BIGINT,
        request         TEXT NOT NULL,
        error_kind      TEXT,
        error_message   TEXT,
        cost_usd        DOUBLE PRECISION NOT NULL DEFAULT 0,
        outputs         TEXT NOT NULL DEFAULT '[]',
        chosen          INTEGER NOT NULL DEFAULT 0,
        result_image    TEXT REFERENCES images(sha256),
        parent_job      TEXT,
        seq             BIGINT,
        attempts        INTEGER NOT NULL DEFAULT 0,
        lane            TEXT,
        dedupe          TEXT,
        report          TEXT,
        created_at      DOUBLE PRECISION NOT NULL,
        started_at      DOUBLE PRECISION,
        finished_at     DOUBLE PRECISION,
        shown_at        DOUBLE PRECISION
    );
    CREATE INDEX jobs_by_user ON jobs(user_id, created_at);
    CREATE INDEX jobs_by_age ON jobs(created_at);
    CREATE INDEX jobs_by_result_image ON jobs(result_image) WHERE result_image IS NOT NULL;
    CREATE INDEX jobs_waiting ON jobs(seq) WHERE state = 'queued';
    CREATE INDEX jobs_running ON jobs(user_id) WHERE state = 'running';
    CREATE INDEX jobs_by_lane ON jobs(lane, seq) WHERE state IN ('queued', 'running');
    CREATE UNIQUE INDEX jobs_dedupe ON jobs(dedupe)
        WHERE dedupe IS NOT NULL AND state IN ('queued', 'running');
    CREATE INDEX jobs_unshown ON jobs(finished_at)
        WHERE shown_at IS NULL AND state NOT IN ('pending', 'queued', 'running');
    CREATE INDEX jobs_by_thread ON jobs(thread_id) WHERE thread_id IS NOT NULL;
    CREATE INDEX jobs_by_parent ON jobs(parent_job) WHERE parent_job IS NOT NULL;
    CREATE TABLE job_images (
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        sha256 TEXT NOT NULL REFERENCES images(sha256),
        PRIMARY KEY (job_id, sha256)
    );
    CREATE INDEX job_images_by_image ON job_images(sha256);
    CREATE TABLE job_turns (
        id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        job_id      TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        candidate   INTEGER NOT NULL DEFAULT 0,
        role        TEXT NOT NULL CHECK (role IN ('user', 'model')),
        content     TEXT NOT NULL,
        image_refs  TEXT NOT NULL,
        image_count INTEGER NOT NULL,
        image_bytes BIGINT NOT NULL,
        created_at  DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX job_turns_by_job ON job_turns(job_id, candidate, id);
    """,
    # 2: guard rails, as the SQLite store's step 5: a job's reservation against the quotas
    # (what it reserved and when it was accepted), hourly totals of delivered jobs for the
    # server and bot spend, and the admins' pauses, bans and limits per member or role.
    """
    ALTER TABLE jobs ADD COLUMN reserved_usd DOUBLE PRECISION NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN reserved_images INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN charged_at DOUBLE PRECISION;
    UPDATE jobs SET charged_at = created_at WHERE state <> 'pending';
    UPDATE jobs SET reserved_images = COALESCE((request::json ->> 'count')::integer, 1)
        WHERE state IN ('queued', 'running');
    CREATE INDEX jobs_charged_by_member ON jobs(user_id, guild_id, charged_at)
        WHERE charged_at IS NOT NULL;
    CREATE INDEX jobs_charged_by_guild ON jobs(guild_id, charged_at)
        WHERE charged_at IS NOT NULL;
    CREATE INDEX jobs_active_by_guild ON jobs(guild_id, charged_at)
        WHERE state IN ('queued', 'running');
    CREATE TABLE usage_hours (
        guild_id BIGINT NOT NULL,  -- 0: the whole bot
        hour     BIGINT NOT NULL,  -- epoch seconds // 3600
        images   INTEGER NOT NULL,
        usd      DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (guild_id, hour)
    );
    CREATE INDEX usage_hours_by_hour ON usage_hours(hour);
    INSERT INTO usage_hours (guild_id, hour, images, usd)
        SELECT 0, floor(charged_at / 3600), SUM(json_array_length(outputs::json)), SUM(cost_usd)
        FROM jobs WHERE state = 'delivered' GROUP BY 2;
    INSERT INTO usage_hours (guild_id, hour, images, usd)
        SELECT guild_id, floor(charged_at / 3600), SUM(json_array_length(outputs::json)),
               SUM(cost_usd)
        FROM jobs WHERE state = 'delivered' AND guild_id IS NOT NULL GROUP BY 1, 2;
    CREATE TABLE guild_pauses (
        guild_id   BIGINT PRIMARY KEY,
        message    TEXT NOT NULL,
        by_user    BIGINT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE bans (
        guild_id   BIGINT NOT NULL,
        user_id    BIGINT NOT NULL,
        by_user    BIGINT NOT NULL,
        reason     TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (guild_id, user_id)
    );
    -- Shown results whose thread is still to open (Discord paces thread creation).
    CREATE TABLE threads_owed (
        job_id     TEXT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
        created_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE quota_overrides (
        guild_id   BIGINT NOT NULL,
        target     TEXT NOT NULL CHECK (target IN ('member', 'role')),
        target_id  BIGINT NOT NULL,
        name       TEXT NOT NULL,
        value      DOUBLE PRECISION NOT NULL,
        by_user    BIGINT NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (guild_id, target, target_id, name)
    );
    """,
    # 3: creative controls, as the SQLite store's step 6: the image of its parent a job
    # continued and of its head a conversation continues from, the head a job replaced (for
    # Undo), and the reference library.
    """
    ALTER TABLE jobs ADD COLUMN parent_candidate INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN previous_head TEXT;
    ALTER TABLE jobs ADD COLUMN previous_candidate INTEGER NOT NULL DEFAULT 0;
    UPDATE jobs SET parent_candidate = p.chosen FROM jobs p WHERE p.id = jobs.parent_job;
    ALTER TABLE conversations ADD COLUMN head_candidate INTEGER NOT NULL DEFAULT 0;
    UPDATE conversations SET head_candidate = j.chosen FROM jobs j WHERE j.id = head_job;
    CREATE TABLE refs (
        guild_id   BIGINT NOT NULL,
        owner_id   BIGINT NOT NULL,  -- 0: the whole server's
        key        TEXT NOT NULL,
        name       TEXT NOT NULL,
        kind       TEXT NOT NULL CHECK (kind IN ('style', 'character', 'object')),
        sha256     TEXT NOT NULL REFERENCES images(sha256),
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (guild_id, owner_id, key)
    );
    CREATE INDEX refs_by_image ON refs(sha256);
    """,
    # 4: processes sharing the database, as the SQLite store's step 7: each registers and
    # beats a heartbeat (shard_count NULL: every shard), a job records the process that
    # claimed it, and the pace of the concurrency limit is one row every process reads.
    """
    ALTER TABLE jobs ADD COLUMN owner TEXT;
    CREATE TABLE processes (
        id           TEXT PRIMARY KEY,
        shard_count  INTEGER,
        shard_ids    TEXT NOT NULL,
        host         TEXT NOT NULL,
        started_at   DOUBLE PRECISION NOT NULL,
        heartbeat_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE pace (
        id           INTEGER PRIMARY KEY CHECK (id = 1),
        concurrency  INTEGER NOT NULL,
        paused_until DOUBLE PRECISION NOT NULL,
        last_cut     DOUBLE PRECISION NOT NULL
    );
    """,
)

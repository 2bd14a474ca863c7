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
    # 4: the job pipeline. The queue lives here (seq, lane: claimed with compare-and-set, so
    # it survives restarts and can be shared by several processes); outcomes are stored
    # before they are posted (shown_at); a conversation is a chain of jobs (parent_job, the
    # head_job of the conversation) whose exchanges are kept per job (job_turns; every image
    # a job's turns use is linked in job_images), which makes undo and branches exact.
    # Imagen-era requests become Gemini ones; blocked turns, never sent again, are dropped.
    """
    ALTER TABLE jobs ADD COLUMN reply_to INTEGER;
    ALTER TABLE jobs ADD COLUMN home_channel_id INTEGER;
    ALTER TABLE jobs ADD COLUMN chosen INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN parent_job TEXT;
    ALTER TABLE jobs ADD COLUMN seq INTEGER;
    ALTER TABLE jobs ADD COLUMN lane TEXT;
    ALTER TABLE jobs ADD COLUMN dedupe TEXT;
    ALTER TABLE jobs ADD COLUMN shown_at REAL;
    ALTER TABLE jobs ADD COLUMN report TEXT;
    ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    UPDATE jobs SET state = 'delivered' WHERE state = 'succeeded';
    UPDATE jobs SET shown_at = COALESCE(finished_at, created_at)
        WHERE state NOT IN ('pending', 'queued', 'running');
    UPDATE jobs SET home_channel_id = (SELECT c.channel_id FROM conversations c
        WHERE c.thread_id = jobs.thread_id) WHERE thread_id IS NOT NULL;
    UPDATE jobs SET seq = rowid, lane = CASE WHEN thread_id IS NULL THEN NULL
        ELSE 'thread:' || thread_id END WHERE state IN ('queued', 'running');
    UPDATE jobs SET request = json_remove(
        json_set(request, '$.count', COALESCE(json_extract(request, '$.number_of_images'), 1)),
        '$.provider', '$.number_of_images', '$.person_generation', '$.negative_prompt');
    CREATE TABLE job_turns (
        id          INTEGER PRIMARY KEY,
        job_id      TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        candidate   INTEGER NOT NULL DEFAULT 0,
        role        TEXT NOT NULL CHECK (role IN ('user', 'model')),
        content     TEXT NOT NULL,
        image_refs  TEXT NOT NULL,
        image_count INTEGER NOT NULL,
        image_bytes INTEGER NOT NULL,
        created_at  REAL NOT NULL
    );
    CREATE INDEX job_turns_by_job ON job_turns(job_id, candidate, id);
    INSERT INTO job_turns (id, job_id, role, content, image_refs, image_count, image_bytes,
                           created_at)
        SELECT t.id, t.job_id, t.role, t.content, t.image_refs, t.image_count,
               COALESCE((SELECT SUM(i.size) FROM turn_images ti JOIN images i
                         ON i.sha256 = ti.sha256 WHERE ti.turn_id = t.id), 0),
               t.created_at
        FROM turns t
        WHERE t.blocked = 0 AND EXISTS (SELECT 1 FROM jobs j WHERE j.id = t.job_id);
    INSERT OR IGNORE INTO job_images (job_id, sha256)
        SELECT t.job_id, ti.sha256 FROM turn_images ti JOIN job_turns t ON t.id = ti.turn_id;
    WITH exchanges AS (
        SELECT thread_id, job_id, MIN(id) AS first_turn FROM turns WHERE blocked = 0
        GROUP BY thread_id, job_id
        HAVING SUM(role = 'user') > 0 AND SUM(role = 'model') > 0
    ), chained AS (
        SELECT job_id, LAG(job_id) OVER (PARTITION BY thread_id ORDER BY first_turn) AS parent
        FROM exchanges
    )
    UPDATE jobs SET parent_job = (SELECT parent FROM chained WHERE chained.job_id = jobs.id)
        WHERE id IN (SELECT job_id FROM chained);
    ALTER TABLE conversations ADD COLUMN head_job TEXT;
    UPDATE conversations SET head_job = COALESCE(
        (SELECT t.job_id FROM turns t WHERE t.thread_id = conversations.thread_id
            AND t.blocked = 0 AND t.role = 'model' ORDER BY t.id DESC LIMIT 1),
        (SELECT j.id FROM jobs j WHERE j.thread_id = conversations.thread_id
            AND j.result_image = conversations.last_image ORDER BY j.created_at DESC LIMIT 1),
        (SELECT j.id FROM jobs j, json_each(j.outputs) e WHERE j.thread_id =
            conversations.thread_id AND e.value = conversations.last_image
            ORDER BY j.created_at DESC LIMIT 1));
    UPDATE jobs SET chosen = COALESCE((SELECT CAST(e.key AS INTEGER)
        FROM conversations c, json_each(jobs.outputs) e
        WHERE c.head_job = jobs.id AND e.value = c.last_image), 0);
    DROP TABLE turn_images;
    DROP TABLE turns;
    DROP INDEX jobs_unfinished;
    CREATE INDEX jobs_waiting ON jobs(seq) WHERE state = 'queued';
    CREATE INDEX jobs_running ON jobs(user_id) WHERE state = 'running';
    CREATE INDEX jobs_by_lane ON jobs(lane, seq) WHERE state IN ('queued', 'running');
    CREATE UNIQUE INDEX jobs_dedupe ON jobs(dedupe)
        WHERE dedupe IS NOT NULL AND state IN ('queued', 'running');
    CREATE INDEX jobs_unshown ON jobs(finished_at)
        WHERE shown_at IS NULL AND state NOT IN ('pending', 'queued', 'running');
    CREATE INDEX jobs_by_thread ON jobs(thread_id) WHERE thread_id IS NOT NULL;
    CREATE INDEX jobs_by_parent ON jobs(parent_job) WHERE parent_job IS NOT NULL;
    -- The next place in line is MAX(seq) + 1, and the retention sweep asks which images a
    -- conversation still shows.
    CREATE INDEX jobs_by_seq ON jobs(seq);
    CREATE INDEX conversations_by_last_image ON conversations(last_image);
    """,
    # 5: guard rails. A job's reservation against the quotas (what it reserved and when it was
    # accepted: usage is summed per window, over the member's own jobs, and for a server or
    # the whole bot over hourly totals of delivered jobs plus the jobs still active); jobs
    # from before count from when they were created. Admin controls per server: a pause,
    # bans, limits set per member or role.
    """
    ALTER TABLE jobs ADD COLUMN reserved_usd REAL NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN reserved_images INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN charged_at REAL;
    UPDATE jobs SET charged_at = created_at WHERE state != 'pending';
    UPDATE jobs SET reserved_images = COALESCE(json_extract(request, '$.count'), 1)
        WHERE state IN ('queued', 'running');
    CREATE INDEX jobs_charged_by_member ON jobs(user_id, guild_id, charged_at)
        WHERE charged_at IS NOT NULL;
    CREATE INDEX jobs_charged_by_guild ON jobs(guild_id, charged_at)
        WHERE charged_at IS NOT NULL;
    CREATE INDEX jobs_active_by_guild ON jobs(guild_id, charged_at)
        WHERE state IN ('queued', 'running');
    CREATE TABLE usage_hours (
        guild_id INTEGER NOT NULL,
        hour     INTEGER NOT NULL,
        images   INTEGER NOT NULL,
        usd      REAL NOT NULL,
        PRIMARY KEY (guild_id, hour)
    ) WITHOUT ROWID;
    CREATE INDEX usage_hours_by_hour ON usage_hours(hour);
    INSERT INTO usage_hours (guild_id, hour, images, usd)
        SELECT 0, CAST(charged_at / 3600 AS INTEGER), SUM(json_array_length(outputs)),
               SUM(cost_usd)
        FROM jobs WHERE state = 'delivered' GROUP BY 2;
    INSERT INTO usage_hours (guild_id, hour, images, usd)
        SELECT guild_id, CAST(charged_at / 3600 AS INTEGER), SUM(json_array_length(outputs)),
               SUM(cost_usd)
        FROM jobs WHERE state = 'delivered' AND guild_id IS NOT NULL GROUP BY 1, 2;
    CREATE TABLE guild_pauses (
        guild_id   INTEGER PRIMARY KEY,
        message    TEXT NOT NULL,
        by_user    INTEGER NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE bans (
        guild_id   INTEGER NOT NULL,
        user_id    INTEGER NOT NULL,
        by_user    INTEGER NOT NULL,
        reason     TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (guild_id, user_id)
    ) WITHOUT ROWID;
    -- Shown results whose thread is still to open (Discord paces thread creation).
    CREATE TABLE threads_owed (
        job_id     TEXT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
        created_at REAL NOT NULL
    );
    CREATE TABLE quota_overrides (
        guild_id   INTEGER NOT NULL,
        target     TEXT NOT NULL CHECK (target IN ('member', 'role')),
        target_id  INTEGER NOT NULL,
        name       TEXT NOT NULL,
        value      REAL NOT NULL,
        by_user    INTEGER NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (guild_id, target, target_id, name)
    ) WITHOUT ROWID;
    """,
    # 6: creative controls. Which of its parent's images a job continued, and which image of
    # its head a conversation continues from (so several conversations, branches, can share
    # a job and each keep their own choice); the head a job replaced, for Undo; the
    # reference library (per member, or server-wide with owner 0), keyed case-insensitively.
    """
    ALTER TABLE jobs ADD COLUMN parent_candidate INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN previous_head TEXT;
    ALTER TABLE jobs ADD COLUMN previous_candidate INTEGER NOT NULL DEFAULT 0;
    UPDATE jobs SET parent_candidate = COALESCE(
        (SELECT p.chosen FROM jobs p WHERE p.id = jobs.parent_job), 0)
        WHERE parent_job IS NOT NULL;
    ALTER TABLE conversations ADD COLUMN head_candidate INTEGER NOT NULL DEFAULT 0;
    UPDATE conversations SET head_candidate = COALESCE(
        (SELECT j.chosen FROM jobs j WHERE j.id = conversations.head_job), 0);
    CREATE TABLE refs (
        guild_id   INTEGER NOT NULL,
        owner_id   INTEGER NOT NULL,
        key        TEXT NOT NULL,
        name       TEXT NOT NULL,
        kind       TEXT NOT NULL CHECK (kind IN ('style', 'character', 'object')),
        sha256     TEXT NOT NULL REFERENCES images(sha256),
        created_at REAL NOT NULL,
        PRIMARY KEY (guild_id, owner_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX refs_by_image ON refs(sha256);
    """,
    # 7: processes sharing the database (shards): each registers and beats a heartbeat, a job
    # records the process that claimed it (a gone process's jobs are adopted by another), and
    # the concurrency limit's pace against the Gemini quota is one row every process reads.
    """
    ALTER TABLE jobs ADD COLUMN owner TEXT;
    CREATE TABLE processes (
        id           TEXT PRIMARY KEY,
        shard_count  INTEGER,
        shard_ids    TEXT NOT NULL,
        host         TEXT NOT NULL,
        started_at   REAL NOT NULL,
        heartbeat_at REAL NOT NULL
    );
    CREATE TABLE pace (
        id           INTEGER PRIMARY KEY CHECK (id = 1),
        concurrency  INTEGER NOT NULL,
        paused_until REAL NOT NULL,
        last_cut     REAL NOT NULL
    );
    """,
)

-- income 001: the append-only income ledger, its rollups, and the read
-- models of regions, projects, households and enrollments learned from
-- regions.v1, projects.v1 and households.v1 (never from other schemas).
--
-- Money is integer fen. The ledger is never updated or deleted (a trigger
-- refuses it); a correction is a reversing entry with the negated amount and
-- the same dimensions, pointing at the entry it reverses. Every insert into
-- the ledger updates the rollups in the same statement (a statement-level
-- trigger over the inserted rows), so the views read the rollups, never the
-- ledger. verify_rollups() recomputes them from the ledger and lists every
-- difference.

CREATE TABLE regions (
    code       char(12) PRIMARY KEY,
    name       text NOT NULL,
    level      text NOT NULL,
    parent     char(12),
    side       text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE projects (
    id            uuid PRIMARY KEY,
    name          text NOT NULL,
    status        text NOT NULL,
    village_codes text[] NOT NULL,
    notable_ids   text[] NOT NULL,
    start_date    date,
    closed_on     date,   -- the day it was last seen closing, for "active in a year"
    version       integer NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE households (
    id                      uuid PRIMARY KEY,
    head_name               text NOT NULL,
    phone                   text NOT NULL,
    village_code            char(12) NOT NULL,
    members_count           integer NOT NULL CHECK (members_count > 0),
    low_income              boolean NOT NULL,
    baseline_per_capita_fen bigint,
    version                 integer NOT NULL,
    updated_at              timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE enrollments (
    id           uuid PRIMARY KEY,
    household_id uuid NOT NULL,
    project_id   uuid NOT NULL,
    kind         text NOT NULL,
    village_code char(12) NOT NULL,
    area_mu_x100 integer,
    start_date   date NOT NULL,
    end_date     date,
    low_income   boolean NOT NULL DEFAULT false  -- the household's flag, kept in step
);
CREATE INDEX enrollments_household ON enrollments (household_id, project_id, kind);

-- enrollments_low_income: an enrollment takes its household's low-income
-- flag (households_copy keeps it in step when the household changes), so
-- that the head counts read enrollments alone, without a join over every
-- household.
CREATE FUNCTION enrollments_low_income() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.low_income := coalesce((SELECT h.low_income FROM households h
                                WHERE h.id = NEW.household_id), false);
    RETURN NEW;
END $$;
CREATE TRIGGER enrollments_low_income BEFORE INSERT ON enrollments
    FOR EACH ROW EXECUTE FUNCTION enrollments_low_income();
CREATE INDEX enrollments_period ON enrollments (start_date, end_date);

CREATE TABLE entries (
    id           uuid PRIMARY KEY,          -- UUIDv7: id order is recording order
    kind         text NOT NULL CHECK (kind IN ('project_revenue', 'wage', 'land_rent',
                                               'dividend', 'sales', 'collective')),
    project_id   uuid NOT NULL,
    household_id uuid,
    village_code char(12) NOT NULL,
    low_income   boolean NOT NULL DEFAULT false, -- the household's flag when recorded
    amount_fen   bigint NOT NULL,
    period_date  date NOT NULL,                  -- the day it belongs to, Asia/Shanghai
    source_ref   text NOT NULL,
    note         text,
    reverses     uuid REFERENCES entries (id),
    reason       text,
    recorded_by  text NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind IN ('wage', 'land_rent', 'dividend', 'sales')) = (household_id IS NOT NULL)),
    CHECK ((reverses IS NULL AND amount_fen > 0) OR (reverses IS NOT NULL AND amount_fen < 0))
);
CREATE UNIQUE INDEX entries_reversed_once ON entries (reverses) WHERE reverses IS NOT NULL;
CREATE INDEX entries_household ON entries (household_id, id) WHERE household_id IS NOT NULL;
CREATE INDEX entries_project ON entries (project_id, id);

CREATE FUNCTION entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the income ledger is append-only: record a reversing entry instead'
        USING ERRCODE = '55000';
END $$;
CREATE TRIGGER entries_no_change BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION entries_append_only();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION entries_append_only();

-- rollup_cells: the ledger summed by month, project, village, kind and the
-- household's low-income flag. entries counts live entries (a reversal
-- subtracts one), so a reversed entry leaves amount and count as before it.
CREATE TABLE rollup_cells (
    year         smallint NOT NULL,
    month        smallint NOT NULL,
    project_id   uuid NOT NULL,
    village_code char(12) NOT NULL,
    kind         text NOT NULL,
    low_income   boolean NOT NULL,
    amount_fen   bigint NOT NULL,
    entries      integer NOT NULL,
    PRIMARY KEY (year, month, project_id, village_code, kind, low_income)
);

-- rollup_years: rollup_cells summed over the months of each year, and on
-- the rows of year 0 over every year (to date): the views of a whole year or
-- to date read these, a twelfth of the cells or fewer.
CREATE TABLE rollup_years (
    year         smallint NOT NULL,   -- 0: every year
    project_id   uuid NOT NULL,
    village_code char(12) NOT NULL,
    kind         text NOT NULL,
    low_income   boolean NOT NULL,
    amount_fen   bigint NOT NULL,
    entries      integer NOT NULL,
    PRIMARY KEY (year, project_id, village_code, kind, low_income)
);

-- rollup_months: rollup_cells summed over the projects: the months of a
-- region without a project filter read these.
CREATE TABLE rollup_months (
    year         smallint NOT NULL,
    month        smallint NOT NULL,
    village_code char(12) NOT NULL,
    kind         text NOT NULL,
    low_income   boolean NOT NULL,
    amount_fen   bigint NOT NULL,
    entries      integer NOT NULL,
    PRIMARY KEY (year, month, village_code, kind, low_income)
);

-- household_income: each household's income by year, project and kind.
CREATE TABLE household_income (
    household_id uuid NOT NULL,
    year         smallint NOT NULL,
    project_id   uuid NOT NULL,
    kind         text NOT NULL,
    amount_fen   bigint NOT NULL,
    entries      integer NOT NULL,
    PRIMARY KEY (household_id, year, project_id, kind)
);
CREATE INDEX household_income_year ON household_income (year, household_id);

-- household_years: each household's income by year over every project and
-- kind, and on the row of year 0 over every year (to date), with the
-- household's low-income flag, village, members and baseline copied from
-- the read model (households_copy keeps them in step), so that the
-- low-income uplift reads one row per low-income household of the region
-- with income, whatever the ledger's size.
CREATE TABLE household_years (
    household_id            uuid NOT NULL,
    year                    smallint NOT NULL,   -- 0: every year
    amount_fen              bigint NOT NULL,
    entries                 integer NOT NULL,
    low_income              boolean NOT NULL,    -- false when the household is unknown
    village_code            char(12),
    members_count           integer,
    baseline_per_capita_fen bigint,
    PRIMARY KEY (household_id, year)
);
CREATE INDEX household_years_uplift ON household_years (year, village_code)
    INCLUDE (amount_fen, members_count, baseline_per_capita_fen)
    WHERE low_income AND amount_fen > 0;
CREATE INDEX households_low_income ON households (village_code) WHERE low_income;

-- households_copy: a household learned or changed: copy its flag, village,
-- members and baseline onto its household_years rows.
CREATE FUNCTION households_copy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE household_years
    SET low_income = NEW.low_income, village_code = NEW.village_code,
        members_count = NEW.members_count, baseline_per_capita_fen = NEW.baseline_per_capita_fen
    WHERE household_id = NEW.id
      AND (low_income, village_code, members_count, baseline_per_capita_fen) IS DISTINCT FROM
          (NEW.low_income, NEW.village_code, NEW.members_count, NEW.baseline_per_capita_fen);
    UPDATE enrollments SET low_income = NEW.low_income
    WHERE household_id = NEW.id AND low_income IS DISTINCT FROM NEW.low_income;
    RETURN NULL;
END $$;
CREATE TRIGGER households_copy AFTER INSERT OR UPDATE ON households
    FOR EACH ROW EXECUTE FUNCTION households_copy();

-- entries_rollup: add the inserted rows to the rollups, in key order so
-- that concurrent transactions lock cells in the same order.
CREATE FUNCTION entries_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollup_cells AS c
    SELECT extract(year FROM period_date), extract(month FROM period_date), project_id,
           village_code, kind, low_income, sum(amount_fen), sum(sign(amount_fen))
    FROM new_rows GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (year, month, project_id, village_code, kind, low_income) DO UPDATE
        SET amount_fen = c.amount_fen + EXCLUDED.amount_fen,
            entries = c.entries + EXCLUDED.entries;
    INSERT INTO rollup_years AS t
    SELECT coalesce(year, 0), project_id, village_code, kind, low_income, sum(amount_fen),
           sum(sign(amount_fen))
    FROM (SELECT extract(year FROM period_date)::smallint AS year, project_id, village_code, kind,
                 low_income, amount_fen FROM new_rows) n
    GROUP BY GROUPING SETS ((year, project_id, village_code, kind, low_income),
                            (project_id, village_code, kind, low_income))
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (year, project_id, village_code, kind, low_income) DO UPDATE
        SET amount_fen = t.amount_fen + EXCLUDED.amount_fen,
            entries = t.entries + EXCLUDED.entries;
    INSERT INTO rollup_months AS t
    SELECT extract(year FROM period_date), extract(month FROM period_date), village_code, kind,
           low_income, sum(amount_fen), sum(sign(amount_fen))
    FROM new_rows GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (year, month, village_code, kind, low_income) DO UPDATE
        SET amount_fen = t.amount_fen + EXCLUDED.amount_fen,
            entries = t.entries + EXCLUDED.entries;
    INSERT INTO household_income AS h
    SELECT household_id, extract(year FROM period_date), project_id, kind, sum(amount_fen),
           sum(sign(amount_fen))
    FROM new_rows WHERE household_id IS NOT NULL GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (household_id, year, project_id, kind) DO UPDATE
        SET amount_fen = h.amount_fen + EXCLUDED.amount_fen,
            entries = h.entries + EXCLUDED.entries;
    -- The households first (FOR SHARE, in id order): a concurrent change of
    -- one waits for this transaction, then households_copy sees its rows.
    PERFORM 1 FROM households WHERE id IN (SELECT household_id FROM new_rows) ORDER BY id
        FOR SHARE;
    INSERT INTO household_years AS t
    SELECT n.household_id, n.year, n.amount_fen, n.entries, coalesce(h.low_income, false),
           h.village_code, h.members_count, h.baseline_per_capita_fen
    FROM (SELECT household_id, coalesce(year, 0) AS year, sum(amount_fen) AS amount_fen,
                 sum(sign(amount_fen)) AS entries
          FROM (SELECT household_id, extract(year FROM period_date)::smallint AS year, amount_fen
                FROM new_rows WHERE household_id IS NOT NULL) e
          GROUP BY GROUPING SETS ((household_id, year), (household_id))) n
    LEFT JOIN households h ON h.id = n.household_id
    ORDER BY 1, 2
    ON CONFLICT (household_id, year) DO UPDATE
        SET amount_fen = t.amount_fen + EXCLUDED.amount_fen,
            entries = t.entries + EXCLUDED.entries, low_income = EXCLUDED.low_income,
            village_code = EXCLUDED.village_code, members_count = EXCLUDED.members_count,
            baseline_per_capita_fen = EXCLUDED.baseline_per_capita_fen;
    RETURN NULL;
END $$;
CREATE TRIGGER entries_rollup AFTER INSERT ON entries REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION entries_rollup();

-- verify_rollups: every difference between the stored rollups and the same
-- sums recomputed from the ledger; no rows means they agree.
CREATE FUNCTION verify_rollups() RETURNS TABLE (rollup text, cell text, stored_fen bigint,
                                                ledger_fen bigint, stored_entries bigint,
                                                ledger_entries bigint)
LANGUAGE sql STABLE AS $$
    WITH l AS (
        SELECT extract(year FROM period_date)::smallint AS year,
               extract(month FROM period_date)::smallint AS month, project_id, village_code,
               kind, low_income, sum(amount_fen)::bigint AS amount_fen,
               sum(sign(amount_fen))::bigint AS entries
        FROM entries GROUP BY 1, 2, 3, 4, 5, 6),
    hl AS (
        SELECT household_id, extract(year FROM period_date)::smallint AS year, project_id, kind,
               sum(amount_fen)::bigint AS amount_fen, sum(sign(amount_fen))::bigint AS entries
        FROM entries WHERE household_id IS NOT NULL GROUP BY 1, 2, 3, 4)
    SELECT 'rollup_cells', concat_ws('/', year, month, project_id, village_code, kind, low_income),
           c.amount_fen, l.amount_fen, c.entries::bigint, l.entries
    FROM rollup_cells c FULL JOIN l USING (year, month, project_id, village_code, kind, low_income)
    WHERE c.amount_fen IS DISTINCT FROM l.amount_fen OR c.entries IS DISTINCT FROM l.entries
    UNION ALL
    SELECT 'rollup_years', concat_ws('/', year, project_id, village_code, kind, low_income),
           y.amount_fen, ly.amount_fen, y.entries::bigint, ly.entries
    FROM rollup_years y FULL JOIN (
        SELECT coalesce(year, 0)::smallint AS year, project_id, village_code, kind, low_income,
               sum(amount_fen)::bigint AS amount_fen, sum(entries)::bigint AS entries
        FROM l GROUP BY GROUPING SETS ((year, project_id, village_code, kind, low_income),
                                       (project_id, village_code, kind, low_income))) ly
        USING (year, project_id, village_code, kind, low_income)
    WHERE y.amount_fen IS DISTINCT FROM ly.amount_fen OR y.entries IS DISTINCT FROM ly.entries
    UNION ALL
    SELECT 'rollup_months', concat_ws('/', year, month, village_code, kind, low_income),
           mo.amount_fen, lm.amount_fen, mo.entries::bigint, lm.entries
    FROM rollup_months mo FULL JOIN (
        SELECT year, month, village_code, kind, low_income, sum(amount_fen)::bigint AS amount_fen,
               sum(entries)::bigint AS entries
        FROM l GROUP BY 1, 2, 3, 4, 5) lm USING (year, month, village_code, kind, low_income)
    WHERE mo.amount_fen IS DISTINCT FROM lm.amount_fen OR mo.entries IS DISTINCT FROM lm.entries
    UNION ALL
    SELECT 'household_income', concat_ws('/', household_id, year, project_id, kind),
           h.amount_fen, hl.amount_fen, h.entries::bigint, hl.entries
    FROM household_income h FULL JOIN hl USING (household_id, year, project_id, kind)
    WHERE h.amount_fen IS DISTINCT FROM hl.amount_fen OR h.entries IS DISTINCT FROM hl.entries
    UNION ALL
    SELECT 'household_years', concat_ws('/', household_id, year),
           h.amount_fen, l.amount_fen, h.entries::bigint, l.entries
    FROM household_years h FULL JOIN (
        SELECT household_id, coalesce(year, 0)::smallint AS year, sum(amount_fen)::bigint AS amount_fen,
               sum(entries)::bigint AS entries
        FROM hl GROUP BY GROUPING SETS ((household_id, year), (household_id))) l
        USING (household_id, year)
    WHERE h.amount_fen IS DISTINCT FROM l.amount_fen OR h.entries IS DISTINCT FROM l.entries
    UNION ALL
    SELECT 'household_years (flag, village, members, baseline not those of households)',
           concat_ws('/', y.household_id, y.year), y.amount_fen, y.amount_fen, y.entries::bigint,
           y.entries::bigint
    FROM household_years y LEFT JOIN households h ON h.id = y.household_id
    WHERE (y.low_income, y.village_code, y.members_count, y.baseline_per_capita_fen)
          IS DISTINCT FROM (coalesce(h.low_income, false), h.village_code, h.members_count,
                            h.baseline_per_capita_fen)
    UNION ALL
    SELECT 'enrollments (low-income flag not that of households)', e.id::text,
           e.low_income::int::bigint, coalesce(h.low_income, false)::int::bigint, 0::bigint, 0::bigint
    FROM enrollments e LEFT JOIN households h ON h.id = e.household_id
    WHERE e.low_income IS DISTINCT FROM coalesce(h.low_income, false)
$$;

-- entry_json: one ledger entry as the API and the events show it.
CREATE FUNCTION entry_json(eid uuid) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', e.id, 'kind', e.kind, 'project_id', e.project_id, 'project_name', p.name,
        'household_id', e.household_id, 'village_code', e.village_code,
        'side', CASE left(e.village_code, 2) WHEN '33' THEN 'zhejiang' WHEN '31' THEN 'shanghai'
                ELSE 'other' END,
        'low_income', e.low_income, 'amount_fen', e.amount_fen,
        'date', to_char(e.period_date, 'YYYY-MM-DD'),
        'month', to_char(e.period_date, 'YYYY-MM'), 'source_ref', e.source_ref,
        'note', e.note, 'reverses', e.reverses, 'reason', e.reason,
        'reversed_by', (SELECT r.id FROM entries r WHERE r.reverses = e.id),
        'recorded_by', e.recorded_by, 'recorded_at', e.recorded_at)
    FROM entries e LEFT JOIN projects p ON p.id = e.project_id WHERE e.id = eid
$$;

-- The views. Filters everywhere: y (year; NULL = every year to date), m
-- (month 1-12 or NULL), prefix (the region's significant code prefix; ''
-- = both sides), pid (project or NULL), knd (income kind or NULL).

-- money_zero: the money block of no entries.
CREATE FUNCTION money_zero() RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('project_revenue_fen', 0, 'household_income_fen', 0,
        'low_income_household_income_fen', 0, 'collective_income_gain_fen', 0, 'wage_fen', 0,
        'land_rent_fen', 0, 'dividend_fen', 0, 'sales_fen', 0, 'entries', 0)
$$;

-- money_sets: the money blocks of the filtered cells of a period in one pass
-- (grouping sets): 'total' (the one block), 'kind', 'project' and 'child' (by
-- the first child_len digits of the village code: 2 side, 6 county, 9 town,
-- 12 village; NULL: none), each breakdown a JSON array of {"key", "name",
-- ...block} ordered by key. A whole year or to date (m NULL) reads
-- rollup_years, a month rollup_cells. Static SQL, so its plan is cached.
CREATE FUNCTION money_sets(y int, m int, prefix text, pid uuid, knd text, child_len int)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        WITH g AS (
            SELECT GROUPING(c.ck, c.kind, c.project_id) AS gs, c.ck, c.kind, c.project_id,
                   jsonb_build_object(
                'project_revenue_fen', coalesce(sum(c.amount_fen) FILTER (WHERE c.kind = 'project_revenue'), 0),
                'household_income_fen', coalesce(sum(c.amount_fen) FILTER (WHERE c.kind IN ('wage', 'land_rent', 'dividend', 'sales')), 0),
                'low_income_household_income_fen', coalesce(sum(c.amount_fen) FILTER (WHERE c.low_income AND c.kind IN ('wage', 'land_rent', 'dividend', 'sales')), 0),
                'collective_income_gain_fen', coalesce(sum(c.amount_fen) FILTER (WHERE c.kind = 'collective'), 0),
                'wage_fen', coalesce(sum(c.amount_fen) FILTER (WHERE c.kind = 'wage'), 0),
                'land_rent_fen', coalesce(sum(c.amount_fen) FILTER (WHERE c.kind = 'land_rent'), 0),
                'dividend_fen', coalesce(sum(c.amount_fen) FILTER (WHERE c.kind = 'dividend'), 0),
                'sales_fen', coalesce(sum(c.amount_fen) FILTER (WHERE c.kind = 'sales'), 0),
                'entries', coalesce(sum(c.entries), 0)) AS b
            FROM (SELECT CASE child_len WHEN 12 THEN r.village_code::text
                                        ELSE left(r.village_code, child_len) END AS ck,
                         r.kind, r.project_id, r.low_income, r.amount_fen, r.entries
                  FROM rollup_years r
                  WHERE m IS NULL AND r.year = coalesce(y, 0)
                    AND (prefix = '' OR left(r.village_code, length(prefix)) = prefix)
                    AND (pid IS NULL OR r.project_id = pid) AND (knd IS NULL OR r.kind = knd)
                  UNION ALL
                  SELECT CASE child_len WHEN 12 THEN r.village_code::text
                                        ELSE left(r.village_code, child_len) END,
                         r.kind, r.project_id, r.low_income, r.amount_fen, r.entries
                  FROM rollup_cells r
                  WHERE m IS NOT NULL AND r.year BETWEEN coalesce(y, -32768) AND coalesce(y, 32767)
                    AND r.month = m
                    AND (prefix = '' OR left(r.village_code, length(prefix)) = prefix)
                    AND (pid IS NULL OR r.project_id = pid) AND (knd IS NULL OR r.kind = knd)) c
            GROUP BY GROUPING SETS ((), (c.ck), (c.kind), (c.project_id)))
        SELECT jsonb_build_object(
            'total', coalesce((SELECT g.b FROM g WHERE g.gs = 7), money_zero()),
            'child', (SELECT coalesce(jsonb_agg(jsonb_build_object('key', g.ck, 'name',
                                (SELECT rg.name FROM regions rg WHERE rg.code = rpad(g.ck, 12, '0')))
                                || g.b ORDER BY g.ck), '[]')
                      FROM g WHERE g.gs = 3 AND child_len IS NOT NULL),
            'kind', (SELECT coalesce(jsonb_agg(jsonb_build_object('key', g.kind, 'name',
                         CASE g.kind WHEN 'project_revenue' THEN '项目收入' WHEN 'wage' THEN '工资'
                             WHEN 'land_rent' THEN '土地租金' WHEN 'dividend' THEN '分红'
                             WHEN 'sales' THEN '销售收入' WHEN 'collective' THEN '村集体收入' END)
                         || g.b ORDER BY g.kind), '[]')
                     FROM g WHERE g.gs = 5),
            'project', (SELECT coalesce(jsonb_agg(jsonb_build_object('key', g.project_id::text, 'name',
                            (SELECT p.name FROM projects p WHERE p.id = g.project_id))
                            || g.b ORDER BY g.project_id::text), '[]')
                        FROM g WHERE g.gs = 6)));
END $$;

-- money_total: the one money block of the filtered cells of a period.
CREATE FUNCTION money_total(y int, m int, prefix text, pid uuid, knd text)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT jsonb_build_object(
            'project_revenue_fen', coalesce(sum(c.amount_fen) FILTER (WHERE c.kind = 'project_revenue'), 0),
            'household_income_fen', coalesce(sum(c.amount_fen) FILTER (WHERE c.kind IN ('wage', 'land_rent', 'dividend', 'sales')), 0),
            'low_income_household_income_fen', coalesce(sum(c.amount_fen) FILTER (WHERE c.low_income AND c.kind IN ('wage', 'land_rent', 'dividend', 'sales')), 0),
            'collective_income_gain_fen', coalesce(sum(c.amount_fen) FILTER (WHERE c.kind = 'collective'), 0),
            'wage_fen', coalesce(sum(c.amount_fen) FILTER (WHERE c.kind = 'wage'), 0),
            'land_rent_fen', coalesce(sum(c.amount_fen) FILTER (WHERE c.kind = 'land_rent'), 0),
            'dividend_fen', coalesce(sum(c.amount_fen) FILTER (WHERE c.kind = 'dividend'), 0),
            'sales_fen', coalesce(sum(c.amount_fen) FILTER (WHERE c.kind = 'sales'), 0),
            'entries', coalesce(sum(c.entries), 0))
        FROM (SELECT r.kind, r.low_income, r.amount_fen, r.entries
              FROM rollup_years r
              WHERE m IS NULL AND r.year = coalesce(y, 0)
                AND (prefix = '' OR left(r.village_code, length(prefix)) = prefix)
                AND (pid IS NULL OR r.project_id = pid) AND (knd IS NULL OR r.kind = knd)
              UNION ALL
              SELECT r.kind, r.low_income, r.amount_fen, r.entries
              FROM rollup_cells r
              WHERE m IS NOT NULL AND r.year BETWEEN coalesce(y, -32768) AND coalesce(y, 32767)
                AND r.month = m
                AND (prefix = '' OR left(r.village_code, length(prefix)) = prefix)
                AND (pid IS NULL OR r.project_id = pid) AND (knd IS NULL OR r.kind = knd)) c);
END $$;

-- period_from / period_to: the days a filter covers (to date: up to today).
CREATE FUNCTION period_from(y int, m int) RETURNS date LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN y IS NULL THEN DATE '1900-01-01' ELSE make_date(y, coalesce(m, 1), 1) END
$$;
CREATE FUNCTION period_to(y int, m int) RETURNS date LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN y IS NULL THEN current_date
                WHEN m IS NULL THEN make_date(y, 12, 31)
                ELSE (make_date(y, m, 1) + interval '1 month' - interval '1 day')::date END
$$;

-- people_json: the enrollment figures of the period: enrollments active at
-- any time in it (to date: ever), in the region and project.
CREATE FUNCTION people_json(y int, m int, prefix text, pid uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    pf date := period_from(y, m);  -- once, not once per enrollment
    pt date := period_to(y, m);
BEGIN
    RETURN (SELECT jsonb_build_object(
            'people_employed', count(*) FILTER (WHERE e.kind = 'employment'),
            'low_income_employed', count(*) FILTER (WHERE e.kind = 'employment' AND e.low_income),
            'land_transfer_households',
                count(DISTINCT e.household_id) FILTER (WHERE e.kind = 'land_transfer'),
            'land_transferred_mu_x100',
                coalesce(sum(e.area_mu_x100) FILTER (WHERE e.kind = 'land_transfer'), 0),
            'land_transferred_mu',
                round(coalesce(sum(e.area_mu_x100) FILTER (WHERE e.kind = 'land_transfer'), 0) / 100.0, 2),
            'farmers_trained', count(*) FILTER (WHERE e.kind = 'training'),
            'shareholders', count(DISTINCT e.household_id) FILTER (WHERE e.kind = 'share'))
        FROM enrollments e
        WHERE e.start_date <= pt AND (e.end_date IS NULL OR e.end_date >= pf)
          AND (prefix = '' OR left(e.village_code, length(prefix)) = prefix)
          AND (pid IS NULL OR e.project_id = pid));
END $$;

-- projects_active_count: projects running at some time in the period (to
-- date: active now) with a host village in the region.
CREATE FUNCTION projects_active_count(y int, m int, prefix text, pid uuid) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT count(*) FROM projects p
        WHERE (pid IS NULL OR p.id = pid)
          AND (prefix = '' OR EXISTS (SELECT 1 FROM unnest(p.village_codes) v
                                      WHERE left(v, length(prefix)) = prefix))
          AND CASE WHEN y IS NULL THEN p.status = 'active'
                   ELSE p.status <> 'planned' AND coalesce(p.start_date, DATE '1900-01-01') <= period_to(y, m)
                        AND (p.closed_on IS NULL OR p.closed_on >= period_from(y, m)) END);
END $$;

-- uplift_json: low-income households with programme income in the year (to
-- date: ever) and their per-capita income from the programme, which is their
-- uplift against the baseline (the ledger holds programme income only).
-- Without a project it reads one household_years row per low-income
-- household of the region; for one project, its household_income rows.
CREATE FUNCTION uplift_json(y int, prefix text, pid uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF pid IS NULL THEN
        RETURN (SELECT jsonb_build_object(
                'low_income_households_reached', count(*),
                'low_income_per_capita_uplift_fen',
                    coalesce(floor(avg(hy.amount_fen::numeric / hy.members_count)), 0)::bigint,
                'low_income_per_capita_uplift_min_fen',
                    coalesce(floor(min(hy.amount_fen::numeric / hy.members_count)), 0)::bigint,
                'low_income_baseline_per_capita_fen',
                    coalesce(floor(avg(hy.baseline_per_capita_fen)), 0)::bigint)
            FROM household_years hy
            WHERE hy.year = coalesce(y, 0) AND hy.low_income AND hy.amount_fen > 0
              AND (prefix = '' OR left(hy.village_code, length(prefix)) = prefix));
    END IF;
    RETURN (WITH hh AS (
            SELECT sum(hi.amount_fen) AS income, h.members_count, h.baseline_per_capita_fen
            FROM household_income hi JOIN households h ON h.id = hi.household_id
            WHERE (y IS NULL OR hi.year = y) AND hi.project_id = pid AND h.low_income
              AND left(h.village_code, length(prefix)) = prefix
            GROUP BY h.id HAVING sum(hi.amount_fen) > 0)
        SELECT jsonb_build_object(
            'low_income_households_reached', count(*),
            'low_income_per_capita_uplift_fen',
                coalesce(floor(avg(hh.income::numeric / hh.members_count)), 0)::bigint,
            'low_income_per_capita_uplift_min_fen',
                coalesce(floor(min(hh.income::numeric / hh.members_count)), 0)::bigint,
            'low_income_baseline_per_capita_fen',
                coalesce(floor(avg(hh.baseline_per_capita_fen)), 0)::bigint)
        FROM hh);
END $$;

-- headcount_json: the figures of the period that are not money: projects,
-- people, land, low-income households and their uplift.
CREATE FUNCTION headcount_json(y int, m int, prefix text, pid uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('projects_active', projects_active_count(y, m, prefix, pid))
        || people_json(y, m, prefix, pid) || uplift_json(y, prefix, pid)
$$;

-- figures_json: every headline figure of the period.
CREATE FUNCTION figures_json(y int, m int, prefix text, pid uuid, knd text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT headcount_json(y, m, prefix, pid) || money_total(y, m, prefix, pid, knd)
$$;

-- filters_json: the filters a view answered, echoed back.
CREATE FUNCTION filters_json(y int, m int, prefix text, pid uuid, knd text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('year', y, 'month', m,
        'region', CASE WHEN prefix = '' THEN NULL ELSE rpad(prefix, 12, '0') END,
        'project_id', pid, 'kind', knd,
        'from', to_char(period_from(y, m), 'YYYY-MM-DD'),
        'to', to_char(period_to(y, m), 'YYYY-MM-DD'))
$$;

-- months_json: the twelve months of a year (this year when y is NULL),
-- zeros included, as a JSON array of {"key": "YYYY-MM", ...block}; from
-- rollup_months without a project, from rollup_cells for one.
CREATE FUNCTION months_json(y int, prefix text, pid uuid, knd text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    yr int := coalesce(y, extract(year FROM current_date)::int);
BEGIN
    RETURN (
        SELECT jsonb_agg(jsonb_build_object('key', to_char(make_date(yr, mm, 1), 'YYYY-MM'))
                         || coalesce(g.b, money_zero()) ORDER BY mm)
        FROM generate_series(1, 12) mm LEFT JOIN (
            SELECT r.month, jsonb_build_object(
                'project_revenue_fen', coalesce(sum(r.amount_fen) FILTER (WHERE r.kind = 'project_revenue'), 0),
                'household_income_fen', coalesce(sum(r.amount_fen) FILTER (WHERE r.kind IN ('wage', 'land_rent', 'dividend', 'sales')), 0),
                'low_income_household_income_fen', coalesce(sum(r.amount_fen) FILTER (WHERE r.low_income AND r.kind IN ('wage', 'land_rent', 'dividend', 'sales')), 0),
                'collective_income_gain_fen', coalesce(sum(r.amount_fen) FILTER (WHERE r.kind = 'collective'), 0),
                'wage_fen', coalesce(sum(r.amount_fen) FILTER (WHERE r.kind = 'wage'), 0),
                'land_rent_fen', coalesce(sum(r.amount_fen) FILTER (WHERE r.kind = 'land_rent'), 0),
                'dividend_fen', coalesce(sum(r.amount_fen) FILTER (WHERE r.kind = 'dividend'), 0),
                'sales_fen', coalesce(sum(r.amount_fen) FILTER (WHERE r.kind = 'sales'), 0),
                'entries', coalesce(sum(r.entries), 0)) AS b
            FROM (SELECT r.month, r.kind, r.low_income, r.amount_fen, r.entries
                  FROM rollup_months r
                  WHERE pid IS NULL AND r.year = yr
                    AND (prefix = '' OR left(r.village_code, length(prefix)) = prefix)
                    AND (knd IS NULL OR r.kind = knd)
                  UNION ALL
                  SELECT r.month, r.kind, r.low_income, r.amount_fen, r.entries
                  FROM rollup_cells r
                  WHERE pid IS NOT NULL AND r.year = yr AND r.project_id = pid
                    AND (prefix = '' OR left(r.village_code, length(prefix)) = prefix)
                    AND (knd IS NULL OR r.kind = knd)) r
            GROUP BY r.month) g ON g.month = mm);
END $$;

-- The views below compute the period's money blocks in one money_sets call
-- (OFFSET 0 keeps it one evaluation) and use its total both among the
-- figures and as the totals.

-- view_summary: the programme summary: the period's figures at the top
-- level, the same to date, and the money by side, kind and project.
CREATE FUNCTION view_summary(y int, m int, prefix text, pid uuid, knd text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object('filters', filters_json(y, m, prefix, pid, knd))
            || headcount_json(y, m, prefix, pid) || (s.x -> 'total')
            || jsonb_build_object(
                'to_date', figures_json(NULL, NULL, prefix, pid, knd),
                'by_side', s.x -> 'child',
                'by_kind', s.x -> 'kind',
                'by_project', s.x -> 'project',
                'totals', s.x -> 'total')
        FROM (SELECT money_sets(y, m, prefix, pid, knd, 2) AS x OFFSET 0) s);
END $$;

-- view_months: the twelve months of a year and the totals.
CREATE FUNCTION view_months(y int, prefix text, pid uuid, knd text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object(
            'filters', filters_json(y, NULL, prefix, pid, knd),
            'months', months_json(y, prefix, pid, knd),
            'totals', money_total(y, NULL, prefix, pid, knd)));
END $$;

-- view_project: one project's figures, by month, kind and village.
CREATE FUNCTION view_project(y int, m int, pid uuid, knd text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object(
            'project', jsonb_build_object('id', p.id, 'name', p.name, 'status', p.status,
                                          'village_codes', p.village_codes),
            'filters', filters_json(y, m, '', pid, knd))
            || headcount_json(y, m, '', pid) || (s.x -> 'total')
            || jsonb_build_object(
                'to_date', figures_json(NULL, NULL, '', pid, knd),
                'by_month', months_json(y, '', pid, knd),
                'by_kind', s.x -> 'kind',
                'by_village', s.x -> 'child',
                'totals', s.x -> 'total')
        FROM projects p, (SELECT money_sets(y, m, '', pid, knd, 12) AS x OFFSET 0) s WHERE p.id = pid);
END $$;

-- view_region: one region (or both sides, code 'all') with its next level
-- down, by project, kind and month.
CREATE FUNCTION view_region(y int, m int, rcode text, prefix text, pid uuid, knd text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object(
            'region', CASE WHEN prefix = '' THEN jsonb_build_object('code', 'all', 'name', '浙沪两地',
                                                                    'level', 'both_sides')
                      ELSE (SELECT jsonb_build_object('code', r.code, 'name', r.name, 'level', r.level,
                                                      'side', r.side)
                            FROM regions r WHERE r.code = rcode) END,
            'filters', filters_json(y, m, prefix, pid, knd))
            || headcount_json(y, m, prefix, pid) || (s.x -> 'total')
            || jsonb_build_object(
                'to_date', figures_json(NULL, NULL, prefix, pid, knd),
                'children_level', CASE length(prefix) WHEN 0 THEN 'province' WHEN 2 THEN 'county'
                                      WHEN 4 THEN 'county' WHEN 6 THEN 'town' WHEN 9 THEN 'village'
                                      ELSE NULL END,
                'children', s.x -> 'child',
                'by_project', s.x -> 'project',
                'by_kind', s.x -> 'kind',
                'by_month', months_json(y, prefix, pid, knd),
                'totals', s.x -> 'total')
        FROM (SELECT money_sets(y, m, prefix, pid, knd,
                                CASE length(prefix) WHEN 0 THEN 2 WHEN 2 THEN 6 WHEN 4 THEN 6
                                                    WHEN 6 THEN 9 WHEN 9 THEN 12 END) AS x OFFSET 0) s);
END $$;

-- view_household: one household's income by year with its per-capita
-- uplift against its baseline, and its latest ledger entries.
CREATE FUNCTION view_household(hid uuid) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'household', jsonb_build_object('id', h.id, 'village_code', h.village_code,
            'members_count', h.members_count, 'low_income', h.low_income,
            'baseline_per_capita_fen', h.baseline_per_capita_fen),
        'years', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                'year', y.year, 'income_fen', y.income,
                'per_capita_uplift_fen', floor(y.income::numeric / h.members_count)::bigint,
                'baseline_per_capita_fen', h.baseline_per_capita_fen,
                'per_capita_income_fen', coalesce(h.baseline_per_capita_fen, 0)
                                         + floor(y.income::numeric / h.members_count)::bigint,
                'wage_fen', y.wage, 'land_rent_fen', y.rent, 'dividend_fen', y.dividend,
                'sales_fen', y.sales) ORDER BY y.year)
            FROM (SELECT year, sum(amount_fen) AS income,
                         coalesce(sum(amount_fen) FILTER (WHERE kind = 'wage'), 0) AS wage,
                         coalesce(sum(amount_fen) FILTER (WHERE kind = 'land_rent'), 0) AS rent,
                         coalesce(sum(amount_fen) FILTER (WHERE kind = 'dividend'), 0) AS dividend,
                         coalesce(sum(amount_fen) FILTER (WHERE kind = 'sales'), 0) AS sales
                  FROM household_income WHERE household_id = h.id GROUP BY year) y), '[]'),
        'entries', coalesce((
            SELECT jsonb_agg(entry_json(e.id) ORDER BY e.id DESC)
            FROM (SELECT id FROM entries WHERE household_id = h.id ORDER BY id DESC LIMIT 500) e),
            '[]'))
    FROM households h WHERE h.id = hid
$$;

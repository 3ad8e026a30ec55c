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
    end_date     date
);
CREATE INDEX enrollments_household ON enrollments (household_id, project_id, kind);
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
    INSERT INTO household_income AS h
    SELECT household_id, extract(year FROM period_date), project_id, kind, sum(amount_fen),
           sum(sign(amount_fen))
    FROM new_rows WHERE household_id IS NOT NULL GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (household_id, year, project_id, kind) DO UPDATE
        SET amount_fen = h.amount_fen + EXCLUDED.amount_fen,
            entries = h.entries + EXCLUDED.entries;
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
        FROM entries GROUP BY 1, 2, 3, 4, 5, 6)
    SELECT 'rollup_cells', concat_ws('/', year, month, project_id, village_code, kind, low_income),
           c.amount_fen, l.amount_fen, c.entries::bigint, l.entries
    FROM rollup_cells c FULL JOIN l USING (year, month, project_id, village_code, kind, low_income)
    WHERE c.amount_fen IS DISTINCT FROM l.amount_fen OR c.entries IS DISTINCT FROM l.entries
    UNION ALL
    SELECT 'household_income', concat_ws('/', household_id, year, project_id, kind),
           h.amount_fen, l.amount_fen, h.entries::bigint, l.entries
    FROM household_income h FULL JOIN (
        SELECT household_id, extract(year FROM period_date)::smallint AS year, project_id, kind,
               sum(amount_fen)::bigint AS amount_fen, sum(sign(amount_fen))::bigint AS entries
        FROM entries WHERE household_id IS NOT NULL GROUP BY 1, 2, 3, 4) l
        USING (household_id, year, project_id, kind)
    WHERE h.amount_fen IS DISTINCT FROM l.amount_fen OR h.entries IS DISTINCT FROM l.entries
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

-- money_by: the money block of the filtered rollup cells grouped by grp
-- (all, month, kind, project, village, town, county, side), as a JSON array
-- of {"key", "name", ...block} ordered by key.
CREATE FUNCTION money_by(y int, m int, prefix text, pid uuid, knd text, grp text)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    keyexpr text;
    nameexpr text;
    result jsonb;
BEGIN
    keyexpr := CASE grp
        WHEN 'all' THEN '''all'''
        WHEN 'month' THEN 'to_char(make_date(year, month, 1), ''YYYY-MM'')'
        WHEN 'kind' THEN 'kind'
        WHEN 'project' THEN 'project_id::text'
        WHEN 'village' THEN 'village_code::text'
        WHEN 'town' THEN 'left(village_code, 9)'
        WHEN 'county' THEN 'left(village_code, 6)'
        WHEN 'side' THEN 'left(village_code, 2)' END;
    nameexpr := CASE
        WHEN grp = 'project' THEN '(SELECT p.name FROM projects p WHERE p.id::text = k)'
        WHEN grp = 'kind' THEN
            '(CASE k WHEN ''project_revenue'' THEN ''项目收入'' WHEN ''wage'' THEN ''工资'' '
            'WHEN ''land_rent'' THEN ''土地租金'' WHEN ''dividend'' THEN ''分红'' '
            'WHEN ''sales'' THEN ''销售收入'' WHEN ''collective'' THEN ''村集体收入'' END)'
        WHEN grp IN ('village', 'town', 'county', 'side') THEN
            '(SELECT r.name FROM regions r WHERE r.code = rpad(k, 12, ''0''))'
        ELSE 'NULL::text' END;
    IF keyexpr IS NULL THEN
        RAISE EXCEPTION 'unknown grouping %', grp USING ERRCODE = '22023';
    END IF;
    EXECUTE format($q$
        SELECT coalesce(jsonb_agg(jsonb_build_object('key', k, 'name', %s) || b ORDER BY k), '[]')
        FROM (SELECT %s AS k, jsonb_build_object(
            'project_revenue_fen', coalesce(sum(amount_fen) FILTER (WHERE kind = 'project_revenue'), 0),
            'household_income_fen', coalesce(sum(amount_fen) FILTER (WHERE kind IN ('wage', 'land_rent', 'dividend', 'sales')), 0),
            'low_income_household_income_fen', coalesce(sum(amount_fen) FILTER (WHERE low_income AND kind IN ('wage', 'land_rent', 'dividend', 'sales')), 0),
            'collective_income_gain_fen', coalesce(sum(amount_fen) FILTER (WHERE kind = 'collective'), 0),
            'wage_fen', coalesce(sum(amount_fen) FILTER (WHERE kind = 'wage'), 0),
            'land_rent_fen', coalesce(sum(amount_fen) FILTER (WHERE kind = 'land_rent'), 0),
            'dividend_fen', coalesce(sum(amount_fen) FILTER (WHERE kind = 'dividend'), 0),
            'sales_fen', coalesce(sum(amount_fen) FILTER (WHERE kind = 'sales'), 0),
            'entries', coalesce(sum(entries), 0)) AS b
            FROM rollup_cells
            WHERE ($1 IS NULL OR year = $1) AND ($2 IS NULL OR month = $2)
              AND left(village_code, length($3)) = $3
              AND ($4 IS NULL OR project_id = $4) AND ($5 IS NULL OR kind = $5)
            GROUP BY 1) g $q$, nameexpr, keyexpr)
    INTO result USING y, m, prefix, pid, knd;
    RETURN result;
END $$;

-- money_total: the one money block of the filtered cells.
CREATE FUNCTION money_total(y int, m int, prefix text, pid uuid, knd text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT coalesce((money_by(y, m, prefix, pid, knd, 'all') -> 0) - 'key' - 'name', money_zero())
$$;

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
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'people_employed', count(*) FILTER (WHERE e.kind = 'employment'),
        'low_income_employed', count(*) FILTER (WHERE e.kind = 'employment' AND h.low_income),
        'land_transfer_households',
            count(DISTINCT e.household_id) FILTER (WHERE e.kind = 'land_transfer'),
        'land_transferred_mu_x100',
            coalesce(sum(e.area_mu_x100) FILTER (WHERE e.kind = 'land_transfer'), 0),
        'land_transferred_mu',
            round(coalesce(sum(e.area_mu_x100) FILTER (WHERE e.kind = 'land_transfer'), 0) / 100.0, 2),
        'farmers_trained', count(*) FILTER (WHERE e.kind = 'training'),
        'shareholders', count(DISTINCT e.household_id) FILTER (WHERE e.kind = 'share'))
    FROM enrollments e JOIN households h ON h.id = e.household_id
    WHERE e.start_date <= period_to(y, m) AND (e.end_date IS NULL OR e.end_date >= period_from(y, m))
      AND left(e.village_code, length(prefix)) = prefix AND (pid IS NULL OR e.project_id = pid)
$$;

-- projects_active_count: projects running at some time in the period (to
-- date: active now) with a host village in the region.
CREATE FUNCTION projects_active_count(y int, m int, prefix text, pid uuid) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT count(*) FROM projects p
    WHERE (pid IS NULL OR p.id = pid)
      AND EXISTS (SELECT 1 FROM unnest(p.village_codes) v WHERE left(v, length(prefix)) = prefix)
      AND CASE WHEN y IS NULL THEN p.status = 'active'
               ELSE p.status <> 'planned' AND coalesce(p.start_date, DATE '1900-01-01') <= period_to(y, m)
                    AND (p.closed_on IS NULL OR p.closed_on >= period_from(y, m)) END
$$;

-- uplift_json: low-income households with programme income in the year (to
-- date: ever) and their per-capita income from the programme, which is their
-- uplift against the baseline (the ledger holds programme income only).
CREATE FUNCTION uplift_json(y int, prefix text, pid uuid) RETURNS jsonb LANGUAGE sql STABLE AS $$
    WITH hh AS (
        SELECT hi.household_id, sum(hi.amount_fen) AS income
        FROM household_income hi JOIN households h ON h.id = hi.household_id
        WHERE (y IS NULL OR hi.year = y) AND (pid IS NULL OR hi.project_id = pid) AND h.low_income
          AND left(h.village_code, length(prefix)) = prefix
        GROUP BY 1 HAVING sum(hi.amount_fen) > 0)
    SELECT jsonb_build_object(
        'low_income_households_reached', count(*),
        'low_income_per_capita_uplift_fen',
            coalesce(floor(avg(hh.income::numeric / h.members_count)), 0)::bigint,
        'low_income_per_capita_uplift_min_fen',
            coalesce(floor(min(hh.income::numeric / h.members_count)), 0)::bigint,
        'low_income_baseline_per_capita_fen',
            coalesce(floor(avg(h.baseline_per_capita_fen)), 0)::bigint)
    FROM hh JOIN households h ON h.id = hh.household_id
$$;

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
-- zeros included.
CREATE FUNCTION months_json(y int, prefix text, pid uuid, knd text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    WITH yy AS (SELECT coalesce(y, extract(year FROM current_date)::int) AS y),
    found AS (SELECT x ->> 'key' AS k, x - 'name' AS b
              FROM yy, jsonb_array_elements(money_by(yy.y, NULL, prefix, pid, knd, 'month')) x)
    SELECT jsonb_agg(coalesce(f.b, jsonb_build_object('key', s.k) || money_zero()) ORDER BY s.k)
    FROM (SELECT to_char(make_date(yy.y, mm, 1), 'YYYY-MM') AS k
          FROM yy, generate_series(1, 12) mm) s LEFT JOIN found f USING (k)
$$;

-- The views below compute the period's money block once (t.total) and use
-- it both among the figures and as the totals.

-- view_summary: the programme summary: the period's figures at the top
-- level, the same to date, and the money by side, kind and project.
CREATE FUNCTION view_summary(y int, m int, prefix text, pid uuid, knd text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('filters', filters_json(y, m, prefix, pid, knd))
        || headcount_json(y, m, prefix, pid) || t.total
        || jsonb_build_object(
            'to_date', figures_json(NULL, NULL, prefix, pid, knd),
            'by_side', money_by(y, m, prefix, pid, knd, 'side'),
            'by_kind', money_by(y, m, prefix, pid, knd, 'kind'),
            'by_project', money_by(y, m, prefix, pid, knd, 'project'),
            'totals', t.total)
    FROM (SELECT money_total(y, m, prefix, pid, knd) AS total) t
$$;

-- view_months: the twelve months of a year and the totals.
CREATE FUNCTION view_months(y int, prefix text, pid uuid, knd text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'filters', filters_json(y, NULL, prefix, pid, knd),
        'months', months_json(y, prefix, pid, knd),
        'totals', money_total(y, NULL, prefix, pid, knd))
$$;

-- view_project: one project's figures, by month, kind and village.
CREATE FUNCTION view_project(y int, m int, pid uuid, knd text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'project', jsonb_build_object('id', p.id, 'name', p.name, 'status', p.status,
                                      'village_codes', p.village_codes),
        'filters', filters_json(y, m, '', pid, knd))
        || headcount_json(y, m, '', pid) || t.total
        || jsonb_build_object(
            'to_date', figures_json(NULL, NULL, '', pid, knd),
            'by_month', months_json(y, '', pid, knd),
            'by_kind', money_by(y, m, '', pid, knd, 'kind'),
            'by_village', money_by(y, m, '', pid, knd, 'village'),
            'totals', t.total)
    FROM projects p, (SELECT money_total(y, m, '', pid, knd) AS total) t WHERE p.id = pid
$$;

-- view_region: one region (or both sides, code 'all') with its next level
-- down, by project, kind and month.
CREATE FUNCTION view_region(y int, m int, rcode text, prefix text, pid uuid, knd text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'region', CASE WHEN prefix = '' THEN jsonb_build_object('code', 'all', 'name', '浙沪两地',
                                                                'level', 'both_sides')
                  ELSE (SELECT jsonb_build_object('code', r.code, 'name', r.name, 'level', r.level,
                                                  'side', r.side)
                        FROM regions r WHERE r.code = rcode) END,
        'filters', filters_json(y, m, prefix, pid, knd))
        || headcount_json(y, m, prefix, pid) || t.total
        || jsonb_build_object(
            'to_date', figures_json(NULL, NULL, prefix, pid, knd),
            'children_level', CASE length(prefix) WHEN 0 THEN 'province' WHEN 2 THEN 'county'
                                  WHEN 4 THEN 'county' WHEN 6 THEN 'town' WHEN 9 THEN 'village'
                                  ELSE NULL END,
            'children', CASE length(prefix) WHEN 0 THEN money_by(y, m, prefix, pid, knd, 'side')
                            WHEN 2 THEN money_by(y, m, prefix, pid, knd, 'county')
                            WHEN 4 THEN money_by(y, m, prefix, pid, knd, 'county')
                            WHEN 6 THEN money_by(y, m, prefix, pid, knd, 'town')
                            WHEN 9 THEN money_by(y, m, prefix, pid, knd, 'village')
                            ELSE '[]'::jsonb END,
            'by_project', money_by(y, m, prefix, pid, knd, 'project'),
            'by_kind', money_by(y, m, prefix, pid, knd, 'kind'),
            'by_month', months_json(y, prefix, pid, knd),
            'totals', t.total)
    FROM (SELECT money_total(y, m, prefix, pid, knd) AS total) t
$$;

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

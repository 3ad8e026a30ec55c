-- suggestion 001: prosperity proposals (助富建议), their parts per side of the
-- border, the full history of every transition, handling units, and what
-- the service knows of regions, projects and notables from their topics.
--
-- The state machine itself lives in services/suggestion/suggestion_fsm.c;
-- these tables record what it decided. The proposal's row is the lock every
-- transition takes (SELECT ... FOR UPDATE), so two handlers acting at the
-- same moment are serialised and the second sees the first's result.

-- Read models (regions.v1, projects.v1, notables.v1).
CREATE TABLE regions (
    code       text PRIMARY KEY CHECK (code ~ '^[0-9]{12}$'),
    name       text NOT NULL,
    level      text NOT NULL,
    parent     text,
    side       text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE projects (
    id            uuid PRIMARY KEY,
    name          text NOT NULL,
    status        text NOT NULL,
    village_codes text[] NOT NULL,
    version       integer NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notables (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    phone      text,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Handling units (承办单位): a village committee, a town office, a county
-- bureau. Handlers carry the unit's id in their token.
CREATE TABLE units (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    region_code text NOT NULL REFERENCES regions (code),
    side        text NOT NULL CHECK (side IN ('zhejiang', 'shanghai')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE suggestions (
    id               uuid PRIMARY KEY,
    title            text NOT NULL,
    body             text NOT NULL,
    category         text NOT NULL CHECK (category IN ('助农', '助学', '助医', '助困', 'industry',
                                                       'infrastructure', 'other')),
    village_codes    text[] NOT NULL CHECK (cardinality(village_codes) BETWEEN 1 AND 20),
    sides            text[] NOT NULL,
    project_id       uuid,
    submitter_id     text NOT NULL,
    attachments      jsonb NOT NULL DEFAULT '[]',
    state            text NOT NULL CHECK (state IN ('submitted', 'accepted', 'rejected', 'assigned',
                                                    'in_progress', 'resolved', 'closed')),
    reject_reason    text,
    satisfied        boolean,
    feedback_comment text,
    closed_by        text CHECK (closed_by IN ('feedback', 'auto', 'supervisor')),
    reopen_count     integer NOT NULL DEFAULT 0,
    submitted_at     timestamptz NOT NULL,
    accepted_at      timestamptz,
    rejected_at      timestamptz,
    assigned_at      timestamptz,
    resolved_at      timestamptz,
    closed_at        timestamptz,
    version          integer NOT NULL DEFAULT 1
);
CREATE INDEX suggestions_submitter ON suggestions (submitter_id, id);
CREATE INDEX suggestions_resolved ON suggestions (resolved_at) WHERE state = 'resolved';
CREATE INDEX suggestions_villages ON suggestions USING gin (village_codes);

-- One part per side of the border the proposal concerns, from assignment on.
CREATE TABLE parts (
    suggestion_id    uuid NOT NULL REFERENCES suggestions (id),
    side             text NOT NULL CHECK (side IN ('zhejiang', 'shanghai')),
    unit_id          text NOT NULL REFERENCES units (id),
    state            text NOT NULL CHECK (state IN ('assigned', 'in_progress', 'resolved')),
    due_date         date NOT NULL,
    assigned_at      timestamptz NOT NULL,
    resolved_at      timestamptz,
    answer           text,
    last_note        text,
    overdue_at       timestamptz,
    escalation_level text CHECK (escalation_level IN ('village', 'town', 'county')),
    escalated_at     timestamptz,
    PRIMARY KEY (suggestion_id, side)
);
CREATE INDEX parts_unit ON parts (unit_id, suggestion_id);
CREATE INDEX parts_open ON parts (due_date) WHERE state <> 'resolved';

-- Every transition: who, when, why. Append-only.
CREATE TABLE history (
    id            bigserial PRIMARY KEY,
    suggestion_id uuid NOT NULL REFERENCES suggestions (id),
    action        text NOT NULL,
    from_state    text,
    to_state      text NOT NULL,
    side          text,
    actor_role    text NOT NULL,
    actor_id      text NOT NULL,
    at            timestamptz NOT NULL,
    details       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX history_suggestion ON history (suggestion_id, id);

CREATE FUNCTION history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'history is append-only' USING ERRCODE = '55000';
END $$;
CREATE TRIGGER history_no_update BEFORE UPDATE OR DELETE ON history
    FOR EACH ROW EXECUTE FUNCTION history_append_only();
CREATE TRIGGER history_no_truncate BEFORE TRUNCATE ON history
    FOR EACH STATEMENT EXECUTE FUNCTION history_append_only();

-- The Asia/Shanghai calendar day of an instant.
CREATE FUNCTION local_day(t timestamptz) RETURNS date LANGUAGE sql IMMUTABLE AS $$
    SELECT (t AT TIME ZONE 'Asia/Shanghai')::date
$$;

-- The parts of a proposal as JSON, in side order.
CREATE FUNCTION parts_json(sid uuid, public boolean) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(
        CASE WHEN public THEN
            jsonb_build_object('side', p.side, 'unit_name', u.name, 'state', p.state,
                               'due_date', p.due_date, 'resolved_at', p.resolved_at)
        ELSE
            jsonb_build_object('side', p.side, 'unit_id', p.unit_id, 'unit_name', u.name,
                               'state', p.state, 'due_date', p.due_date,
                               'assigned_at', p.assigned_at, 'resolved_at', p.resolved_at,
                               'answer', p.answer, 'last_note', p.last_note,
                               'overdue', p.overdue_at IS NOT NULL AND p.state <> 'resolved',
                               'overdue_at', p.overdue_at, 'escalation_level', p.escalation_level)
        END ORDER BY p.side DESC), '[]')
    FROM parts p JOIN units u ON u.id = p.unit_id
    WHERE p.suggestion_id = sid
$$;

-- The full record (the submitter, its handling units, supervisors, admin).
CREATE FUNCTION suggestion_json(s suggestions) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', s.id, 'view', 'full', 'title', s.title, 'text', s.body, 'category', s.category,
        'village_codes', to_jsonb(s.village_codes), 'sides', to_jsonb(s.sides),
        'project_id', s.project_id,
        'submitter', jsonb_build_object('id', s.submitter_id, 'name', n.name, 'phone', n.phone),
        'attachments', s.attachments, 'state', s.state, 'reject_reason', s.reject_reason,
        'parts', parts_json(s.id, false),
        'feedback', CASE WHEN s.satisfied IS NULL THEN NULL
                         ELSE jsonb_build_object('satisfied', s.satisfied,
                                                 'comment', s.feedback_comment) END,
        'closed_by', s.closed_by, 'reopen_count', s.reopen_count,
        'submitted_at', s.submitted_at, 'accepted_at', s.accepted_at,
        'rejected_at', s.rejected_at, 'assigned_at', s.assigned_at,
        'resolved_at', s.resolved_at, 'closed_at', s.closed_at, 'version', s.version)
    FROM (SELECT 1) one LEFT JOIN notables n ON n.id::text = s.submitter_id
$$;

-- The public summary everyone with a token may read: no text, no submitter,
-- no phone; the answers only once the proposal is resolved.
CREATE FUNCTION suggestion_public_json(s suggestions) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', s.id, 'view', 'public', 'title', s.title, 'category', s.category,
        'state', s.state, 'submitted_at', s.submitted_at, 'accepted_at', s.accepted_at,
        'rejected_at', s.rejected_at, 'assigned_at', s.assigned_at,
        'resolved_at', s.resolved_at, 'closed_at', s.closed_at,
        'due_dates', (SELECT coalesce(jsonb_agg(p.due_date ORDER BY p.side DESC), '[]')
                      FROM parts p WHERE p.suggestion_id = s.id),
        'answers', CASE WHEN s.state IN ('resolved', 'closed') AND s.resolved_at IS NOT NULL THEN
                       (SELECT coalesce(jsonb_agg(jsonb_build_object('side', p.side,
                                                                     'unit_name', u.name,
                                                                     'answer', p.answer)
                                                  ORDER BY p.side DESC), '[]')
                        FROM parts p JOIN units u ON u.id = p.unit_id
                        WHERE p.suggestion_id = s.id) END)
$$;

-- What every event on suggestions.v1 carries: enough for the notifier to
-- reach the submitter (its phone), never the proposal's text.
CREATE FUNCTION event_data(sid uuid) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'id', s.id, 'title', s.title, 'category', s.category, 'state', s.state,
        'village_codes', to_jsonb(s.village_codes), 'project_id', s.project_id,
        'submitter_id', s.submitter_id, 'submitter_name', n.name, 'submitter_phone', n.phone,
        'due_date', (SELECT min(p.due_date) FROM parts p
                     WHERE p.suggestion_id = s.id AND p.state <> 'resolved'),
        'reopen_count', s.reopen_count, 'version', s.version))
    FROM suggestions s LEFT JOIN notables n ON n.id::text = s.submitter_id
    WHERE s.id = sid
$$;

-- One statistics row: the loop's figures over a set of proposals.
-- Days to resolve are calendar days from submission to the (last)
-- resolution, in fractional days. With unit, "overdue" counts only that
-- unit's own parts (a cross-border proposal late on the other side is not
-- this unit's).
CREATE FUNCTION stats_figures(ids uuid[], unit text DEFAULT NULL) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    WITH s AS (SELECT * FROM suggestions WHERE id = ANY (ids)),
    f AS (
        SELECT count(*) AS received,
               count(*) FILTER (WHERE accepted_at IS NOT NULL) AS accepted,
               count(*) FILTER (WHERE state = 'rejected') AS rejected,
               count(*) FILTER (WHERE resolved_at IS NOT NULL) AS resolved,
               count(*) FILTER (WHERE state = 'closed') AS closed,
               count(*) FILTER (WHERE state IN ('assigned', 'in_progress') AND EXISTS (
                   SELECT 1 FROM parts p WHERE p.suggestion_id = s.id
                   AND (unit IS NULL OR p.unit_id = unit)
                   AND p.overdue_at IS NOT NULL AND p.state <> 'resolved')) AS overdue,
               count(*) FILTER (WHERE satisfied IS NOT NULL) AS feedback,
               count(*) FILTER (WHERE satisfied) AS satisfied,
               percentile_cont(0.5) WITHIN GROUP (
                   ORDER BY extract(epoch FROM resolved_at - submitted_at) / 86400)
                   FILTER (WHERE resolved_at IS NOT NULL) AS median_days,
               percentile_cont(0.9) WITHIN GROUP (
                   ORDER BY extract(epoch FROM resolved_at - submitted_at) / 86400)
                   FILTER (WHERE resolved_at IS NOT NULL) AS p90_days
        FROM s)
    SELECT jsonb_build_object(
        'received', received, 'accepted', accepted, 'rejected', rejected,
        'resolved', resolved, 'closed', closed, 'overdue', overdue,
        'resolution_rate', CASE WHEN accepted > 0 THEN round(resolved::numeric / accepted, 4) END,
        'median_days_to_resolve', round(median_days::numeric, 1),
        'p90_days_to_resolve', round(p90_days::numeric, 1),
        'feedback', feedback,
        'satisfaction_rate', CASE WHEN feedback > 0 THEN round(satisfied::numeric / feedback, 4) END)
    FROM f
$$;

-- The statistics view: overall, by category, handling unit, village and
-- month of submission (Asia/Shanghai), over the proposals submitted in
-- year (NULL: all).
CREATE FUNCTION view_stats(yr integer) RETURNS jsonb LANGUAGE sql STABLE AS $$
    WITH sel AS (
        SELECT id, category, village_codes, submitted_at FROM suggestions
        WHERE yr IS NULL OR extract(year FROM local_day(submitted_at)) = yr)
    SELECT jsonb_build_object(
        'year', yr,
        'overall', stats_figures(ARRAY(SELECT id FROM sel)),
        'by_category', coalesce((
            SELECT jsonb_agg(jsonb_build_object('category', c.category) || stats_figures(c.ids)
                             ORDER BY c.category)
            FROM (SELECT category, array_agg(id) AS ids FROM sel GROUP BY category) c), '[]'),
        'by_unit', coalesce((
            SELECT jsonb_agg(jsonb_build_object('unit_id', u.id, 'unit_name', u.name,
                                                'side', u.side) || stats_figures(g.ids, u.id)
                             ORDER BY u.id)
            FROM (SELECT p.unit_id, array_agg(DISTINCT sel.id) AS ids
                  FROM sel JOIN parts p ON p.suggestion_id = sel.id GROUP BY p.unit_id) g
            JOIN units u ON u.id = g.unit_id), '[]'),
        'by_village', coalesce((
            SELECT jsonb_agg(jsonb_build_object('village_code', v.code, 'village_name', r.name,
                                                'side', r.side) || stats_figures(v.ids)
                             ORDER BY v.code)
            FROM (SELECT code, array_agg(sel.id) AS ids
                  FROM sel, unnest(sel.village_codes) code GROUP BY code) v
            LEFT JOIN regions r ON r.code = v.code), '[]'),
        'by_month', coalesce((
            SELECT jsonb_agg(jsonb_build_object('month', m.month) || stats_figures(m.ids)
                             ORDER BY m.month)
            FROM (SELECT to_char(local_day(submitted_at), 'YYYY-MM') AS month,
                         array_agg(id) AS ids
                  FROM sel GROUP BY 1) m), '[]'))
$$;

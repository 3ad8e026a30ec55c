-- registry 001: regions, notables, partners, projects.
-- Runs as the registry role inside its own schema (search_path = registry).
-- Money is integer fen (bigint); dates are dates; timestamps timestamptz.

CREATE TABLE regions (
    code      char(12) PRIMARY KEY CHECK (code ~ '^[0-9]{12}$'),
    name      text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    level     text NOT NULL CHECK (level IN ('province', 'city', 'county', 'town', 'village')),
    parent    char(12) REFERENCES regions (code),
    side      text NOT NULL CHECK (side IN ('zhejiang', 'shanghai', 'other')),
    official  boolean NOT NULL DEFAULT true,
    CHECK ((level = 'province') = (parent IS NULL))
);
CREATE INDEX regions_parent ON regions (parent);
CREATE INDEX regions_level ON regions (level, code);

CREATE TABLE notables (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    phone       text NOT NULL,
    home_village char(12) NOT NULL REFERENCES regions (code),
    council     text,
    lead_role   text CHECK (lead_role IN ('agriculture', 'education', 'medical', 'hardship',
                                          'employment', 'elderly', 'culture', 'other')),
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX notables_phone ON notables (phone);

CREATE TABLE partners (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('enterprise', 'cooperative', 'collective', 'other')),
    uscc        char(18) NOT NULL UNIQUE,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE projects (
    id                   uuid PRIMARY KEY,
    name                 text NOT NULL,
    type                 text NOT NULL CHECK (type IN ('homestay', 'vegetable_garden', 'shop_street',
                             'wharf', 'workshop', 'farm', 'elderly_care', 'modern_agriculture',
                             'land_consolidation', 'other')),
    status               text NOT NULL DEFAULT 'planned'
                             CHECK (status IN ('planned', 'active', 'suspended', 'closed')),
    investment_fen       bigint NOT NULL CHECK (investment_fen >= 0),
    expected_revenue_fen bigint NOT NULL CHECK (expected_revenue_fen >= 0),
    start_date           date NOT NULL,
    description          text,
    created_by           text NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    version              integer NOT NULL DEFAULT 1
);

CREATE TABLE project_villages (
    project_id   uuid NOT NULL REFERENCES projects (id),
    village_code char(12) NOT NULL REFERENCES regions (code),
    position     integer NOT NULL,
    PRIMARY KEY (project_id, village_code)
);
CREATE INDEX project_villages_village ON project_villages (village_code, project_id);

CREATE TABLE project_notables (
    project_id uuid NOT NULL REFERENCES projects (id),
    notable_id uuid NOT NULL REFERENCES notables (id),
    position   integer NOT NULL,
    PRIMARY KEY (project_id, notable_id)
);
CREATE INDEX project_notables_notable ON project_notables (notable_id);

CREATE TABLE project_partners (
    project_id uuid NOT NULL REFERENCES projects (id),
    partner_id uuid NOT NULL REFERENCES partners (id),
    position   integer NOT NULL,
    PRIMARY KEY (project_id, partner_id)
);

CREATE TABLE project_status_history (
    id          bigserial PRIMARY KEY,
    project_id  uuid NOT NULL REFERENCES projects (id),
    from_status text NOT NULL,
    to_status   text NOT NULL,
    reason      text,
    changed_by  text NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);

-- region_json: one region as the API and the events show it.
CREATE FUNCTION region_json(r regions) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('code', r.code, 'name', r.name, 'level', r.level,
                              'parent', r.parent, 'side', r.side, 'official', r.official)
$$;

-- project_json: the full current state of a project, used for the HTTP
-- answers and as the data of every projects.v1 event, so both always agree.
CREATE FUNCTION project_json(pid uuid) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', p.id, 'name', p.name, 'type', p.type, 'status', p.status,
        'investment_fen', p.investment_fen, 'expected_revenue_fen', p.expected_revenue_fen,
        'start_date', to_char(p.start_date, 'YYYY-MM-DD'), 'description', p.description,
        'village_codes', coalesce((SELECT jsonb_agg(v.village_code ORDER BY v.position)
                                   FROM project_villages v WHERE v.project_id = p.id), '[]'),
        'villages', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                  'code', r.code, 'name', r.name, 'side', r.side,
                                  'town', r.parent, 'town_name', t.name,
                                  'county', t.parent) ORDER BY v.position)
                              FROM project_villages v JOIN regions r ON r.code = v.village_code
                              LEFT JOIN regions t ON t.code = r.parent
                              WHERE v.project_id = p.id), '[]'),
        'sides', coalesce((SELECT jsonb_agg(DISTINCT r.side)
                           FROM project_villages v JOIN regions r ON r.code = v.village_code
                           WHERE v.project_id = p.id), '[]'),
        'notable_ids', coalesce((SELECT jsonb_agg(n.notable_id ORDER BY n.position)
                                 FROM project_notables n WHERE n.project_id = p.id), '[]'),
        'partner_ids', coalesce((SELECT jsonb_agg(x.partner_id ORDER BY x.position)
                                 FROM project_partners x WHERE x.project_id = p.id), '[]'),
        'created_by', p.created_by,
        'created_at', p.created_at, 'updated_at', p.updated_at, 'version', p.version)
    FROM projects p WHERE p.id = pid
$$;

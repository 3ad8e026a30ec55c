-- enrollment 001: households, their members, their enrollments into
-- projects, and the read models of villages and projects learned from
-- regions.v1 and projects.v1 (never from the registry's tables).
-- ID-card numbers are stored only encrypted (id_enc), with a keyed blind
-- index (id_index) for duplicates and the masked form for display.

CREATE TABLE villages (
    code       char(12) PRIMARY KEY,
    name       text NOT NULL,
    town       char(12),
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

CREATE TABLE households (
    id                      uuid PRIMARY KEY,
    head_name               text NOT NULL,
    id_enc                  text NOT NULL,
    id_index                char(64) NOT NULL UNIQUE,
    id_masked               char(18) NOT NULL,
    phone                   char(11) NOT NULL,
    village_code            char(12) NOT NULL REFERENCES villages (code),
    members_count           integer NOT NULL CHECK (members_count BETWEEN 1 AND 30),
    low_income              boolean NOT NULL,
    low_income_year         integer CHECK (low_income_year BETWEEN 2000 AND 2100),
    baseline_per_capita_fen bigint CHECK (baseline_per_capita_fen BETWEEN 0 AND 100000000),
    created_by              text NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    version                 integer NOT NULL DEFAULT 1
);
CREATE INDEX households_village ON households (village_code, id);

CREATE TABLE household_members (
    household_id uuid NOT NULL REFERENCES households (id),
    position     integer NOT NULL,
    name         text NOT NULL,
    relation     text NOT NULL,
    birth_year   integer CHECK (birth_year BETWEEN 1900 AND 2100),
    id_enc       text,
    id_index     char(64),
    id_masked    char(18),
    PRIMARY KEY (household_id, position)
);

CREATE TABLE enrollments (
    id               uuid PRIMARY KEY,
    household_id     uuid NOT NULL REFERENCES households (id),
    project_id       uuid NOT NULL REFERENCES projects (id),
    kind             text NOT NULL CHECK (kind IN ('employment', 'land_transfer', 'share',
                                                   'supply', 'training')),
    monthly_wage_fen bigint CHECK (monthly_wage_fen BETWEEN 0 AND 10000000),
    area_mu_x100     integer CHECK (area_mu_x100 BETWEEN 1 AND 1000000),
    annual_rent_fen  bigint CHECK (annual_rent_fen BETWEEN 0 AND 1000000000),
    term_years       integer CHECK (term_years BETWEEN 1 AND 70),
    start_date       date NOT NULL,
    end_date         date,
    end_reason       text,
    created_by       text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (end_date IS NULL OR end_date >= start_date)
);
CREATE INDEX enrollments_household ON enrollments (household_id, id);
CREATE INDEX enrollments_project ON enrollments (project_id);

-- household_json: a household as the API shows it (ID number masked) and as
-- its events carry it (without the ID number: the caller removes it).
CREATE FUNCTION household_json(hid uuid) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', h.id, 'head_name', h.head_name, 'id_number', h.id_masked, 'phone', h.phone,
        'village_code', h.village_code, 'town', v.town, 'side', v.side,
        'members_count', h.members_count,
        'low_income', jsonb_build_object('certified', h.low_income, 'year', h.low_income_year,
                                         'baseline_per_capita_fen', h.baseline_per_capita_fen),
        'members', coalesce((SELECT jsonb_agg(jsonb_build_object(
                        'name', m.name, 'relation', m.relation, 'birth_year', m.birth_year,
                        'id_number', m.id_masked) ORDER BY m.position)
                    FROM household_members m WHERE m.household_id = h.id), '[]'),
        'created_at', h.created_at, 'updated_at', h.updated_at, 'version', h.version)
    FROM households h JOIN villages v ON v.code = h.village_code WHERE h.id = hid
$$;

-- enrollment_json: an enrollment with what consumers need of its household.
CREATE FUNCTION enrollment_json(eid uuid) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', e.id, 'household_id', e.household_id, 'project_id', e.project_id,
        'kind', e.kind, 'monthly_wage_fen', e.monthly_wage_fen,
        'area_mu_x100', e.area_mu_x100, 'annual_rent_fen', e.annual_rent_fen,
        'term_years', e.term_years,
        'start_date', to_char(e.start_date, 'YYYY-MM-DD'),
        'end_date', to_char(e.end_date, 'YYYY-MM-DD'), 'end_reason', e.end_reason,
        'village_code', h.village_code, 'side', v.side, 'town', v.town,
        'members_count', h.members_count, 'low_income', h.low_income,
        'baseline_per_capita_fen', h.baseline_per_capita_fen, 'phone', h.phone,
        'head_name', h.head_name, 'project_name', p.name)
    FROM enrollments e JOIN households h ON h.id = e.household_id
    JOIN villages v ON v.code = h.village_code JOIN projects p ON p.id = e.project_id
    WHERE e.id = eid
$$;

-- enrollment 002: a household's registration as one command (POST
-- /v1/households in one statement and one round trip; common 005 has the
-- protocol), and the CSV import's set-wise step (staged rows checked and
-- moved in one statement per batch). The C side has checked the fields and
-- the caller's scope, and computed what needs the keys (the ID numbers'
-- ciphertext, blind index and masked form); this checks what needs the
-- database (the village is known, the ID number is not registered), writes
-- the rows and their household.registered events, and answers.

-- households_json: household_json (001) of each household of ids, in one
-- query (an import's batch of events); household_json is redefined on it,
-- so that a household reads the same whichever way it is asked for.
CREATE FUNCTION households_json(ids uuid[]) RETURNS TABLE (id uuid, household jsonb)
LANGUAGE sql STABLE AS $$
    SELECT h.id, jsonb_build_object(
        'id', h.id, 'head_name', h.head_name, 'id_number', h.id_masked, 'phone', h.phone,
        'village_code', h.village_code, 'town', v.town, 'side', v.side,
        'members_count', h.members_count,
        'low_income', jsonb_build_object('certified', h.low_income, 'year', h.low_income_year,
                                         'baseline_per_capita_fen', h.baseline_per_capita_fen),
        'members', coalesce(m.members, '[]'),
        'created_at', h.created_at, 'updated_at', h.updated_at, 'version', h.version)
    FROM households h JOIN villages v ON v.code = h.village_code
    LEFT JOIN LATERAL (
        SELECT jsonb_agg(jsonb_build_object('name', m.name, 'relation', m.relation,
                                            'birth_year', m.birth_year, 'id_number', m.id_masked)
                         ORDER BY m.position) AS members
        FROM household_members m WHERE m.household_id = h.id) m ON true
    WHERE h.id = ANY (ids)
$$;

CREATE OR REPLACE FUNCTION household_json(hid uuid) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT j.household FROM households_json(ARRAY[hid]) j
$$;

-- household_event_data: a household's event data, its JSON (household_json)
-- without the ID numbers, the household's and its members'; what every
-- households.v1 event about a household carries.
CREATE FUNCTION household_event_data(household jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT (household - 'id_number') || jsonb_build_object('members',
        coalesce((SELECT jsonb_agg(m - 'id_number' ORDER BY o)
                  FROM jsonb_array_elements(household -> 'members') WITH ORDINALITY AS t(m, o)),
                 '[]'::jsonb))
$$;

-- household_unknown_village: the 422 of a village the read model does not
-- know, or NULL when it knows it. (The parameters are text; compared with the
-- char(n) columns as char(n), or the index goes unused.)
CREATE FUNCTION household_unknown_village(p_village text) RETURNS command_result
LANGUAGE sql STABLE AS $$
    SELECT command_problem(422, 'unknown-region', 'Unknown village', '/village_code',
                           format('village %s is not known (regions.v1)', p_village))
    WHERE NOT EXISTS (SELECT 1 FROM villages WHERE code = p_village::char(12))
$$;

-- household_duplicate: the 409 of an ID number registered as household
-- existing, naming it in the detail and in the problem's existing_id (an
-- extension member: the body of a problem result, see core/service.h)
CREATE FUNCTION household_duplicate(existing uuid) RETURNS command_result
LANGUAGE sql IMMUTABLE AS $$
    SELECT ROW(409, jsonb_build_object('existing_id', existing)::text, NULL,
               'duplicate-household', 'Household already registered', '/id_number',
               format('this ID number is registered as household %s', existing))::command_result
$$;

-- household_register: POST /v1/households. p_members is a JSON array of
-- {name, relation, birth_year, id_enc, id_index, id_masked} in order (the
-- last three null for a member without an ID number); p_event the envelope
-- of household.registered without its data. Answers 201 with the household's
-- JSON (household_json), or the 422 of an unknown village, or the 409 of a
-- registered ID number.
CREATE FUNCTION household_register(
    p_id uuid, p_head_name text, p_id_enc text, p_id_index text, p_id_masked text, p_phone text,
    p_village text, p_members_count integer, p_low_income boolean, p_year integer,
    p_baseline bigint, p_created_by text, p_members jsonb, p_event jsonb, p_topic text,
    p_principal text, p_key text, p_route text, p_hash text)
RETURNS command_result LANGUAGE plpgsql AS $$
DECLARE
    r command_result;
    existing uuid;
    j jsonb;
BEGIN
    r := idem_seen(p_principal, p_key, p_route, p_hash);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    r := household_unknown_village(p_village);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    SELECT id INTO existing FROM households WHERE id_index = p_id_index::char(64);
    IF FOUND THEN
        RETURN household_duplicate(existing);
    END IF;
    r := idem_claim(p_principal, p_key, p_route, p_hash);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    INSERT INTO households (id, head_name, id_enc, id_index, id_masked, phone, village_code,
                            members_count, low_income, low_income_year, baseline_per_capita_fen,
                            created_by)
        VALUES (p_id, p_head_name, p_id_enc, p_id_index, p_id_masked, p_phone, p_village,
                p_members_count, p_low_income, p_year, p_baseline, p_created_by)
        ON CONFLICT (id_index) DO NOTHING;
    IF NOT FOUND THEN
        -- a concurrent registration of the same ID number committed after the
        -- check above (the insert waited for it): nothing is written but the
        -- key's claim, taken back so that the 409 is not remembered under it
        DELETE FROM idempotency_keys i WHERE p_key IS NOT NULL AND i.principal = p_principal
            AND i.key = p_key;
        SELECT id INTO existing FROM households WHERE id_index = p_id_index::char(64);
        RETURN household_duplicate(existing);
    END IF;
    INSERT INTO household_members (household_id, position, name, relation, birth_year, id_enc,
                                   id_index, id_masked)
        SELECT p_id, m.o::int, m.name, m.relation, m.birth_year, m.id_enc, m.id_index,
               m.id_masked
        FROM ROWS FROM (jsonb_to_recordset(p_members) AS (name text, relation text,
                            birth_year integer, id_enc text, id_index text, id_masked text))
            WITH ORDINALITY AS m(name, relation, birth_year, id_enc, id_index, id_masked, o);
    j := household_json(p_id);
    INSERT INTO outbox (event_id, topic, key, payload)
        VALUES ((p_event ->> 'id')::uuid, p_topic, p_id::text,
                p_event || jsonb_build_object('data', household_event_data(j)));
    PERFORM idem_done(p_principal, p_key, 201, j::text);
    RETURN ROW(201, j::text, '/v1/households/' || p_id, NULL, NULL, NULL, NULL)::command_result;
END
$$;

-- household_import_rows: the CSV import's staging table. Each batch of rows
-- that passed the C checks is COPYed in, moved by household_import_move and
-- deleted again in one transaction, so no row here is ever committed: a
-- batch sees only its own rows (the uncommitted rows of a concurrent import
-- are invisible to it), and a crash leaves nothing behind (UNLOGGED: not
-- WAL-logged either, emptied by crash recovery).
CREATE UNLOGGED TABLE household_import_rows (
    line                    bigint NOT NULL,  -- the CSV line the row starts on
    id                      uuid NOT NULL,    -- the household's id if it is imported
    event_id                uuid NOT NULL,    -- its household.registered event's id
    head_name               text NOT NULL,
    id_enc                  text NOT NULL,
    id_index                char(64) NOT NULL,
    id_masked               char(18) NOT NULL,
    phone                   char(11) NOT NULL,
    village_code            char(12) NOT NULL,
    members_count           integer NOT NULL,
    low_income              boolean NOT NULL,
    low_income_year         integer,
    baseline_per_capita_fen bigint
);

-- household_import_move: the staged rows of this transaction checked and
-- moved, as the single registration would have taken them one by one in
-- line order: a row of an unknown village is refused (the same 422 reason);
-- a row whose ID number is registered, or repeats one of an earlier line
-- of the batch that is imported, is counted as existing (so a replay adds
-- nothing); the others become households, each with its household.registered
-- event (p_event, the envelope without data, id and subject set per row).
-- Answers (imported, existing, refused: [{line, pointer, reason}] by line),
-- and empties the staging table of this transaction's rows.
CREATE FUNCTION household_import_move(p_created_by text, p_event jsonb, p_topic text,
                                      OUT imported bigint, OUT existing bigint,
                                      OUT refused jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    staged bigint;
    ids uuid[];
BEGIN
    SELECT count(*), coalesce(jsonb_agg(jsonb_build_object(
               'line', s.line, 'pointer', u.pointer, 'reason', u.detail) ORDER BY s.line)
               FILTER (WHERE u.status IS NOT NULL), '[]'::jsonb)
        INTO staged, refused
        FROM household_import_rows s
        LEFT JOIN LATERAL household_unknown_village(s.village_code) u ON true;
    WITH firsts AS (
        SELECT DISTINCT ON (s.id_index) s.*
        FROM household_import_rows s JOIN villages v ON v.code = s.village_code
        ORDER BY s.id_index, s.line
    ), ins AS (
        INSERT INTO households (id, head_name, id_enc, id_index, id_masked, phone, village_code,
                                members_count, low_income, low_income_year,
                                baseline_per_capita_fen, created_by)
            SELECT f.id, f.head_name, f.id_enc, f.id_index, f.id_masked, f.phone, f.village_code,
                   f.members_count, f.low_income, f.low_income_year, f.baseline_per_capita_fen,
                   p_created_by
            FROM firsts f ORDER BY f.line
            ON CONFLICT (id_index) DO NOTHING
            RETURNING households.id
    )
    SELECT coalesce(array_agg(ins.id), '{}') INTO ids FROM ins;
    imported := cardinality(ids);
    existing := staged - jsonb_array_length(refused) - imported;
    INSERT INTO outbox (event_id, topic, key, payload)
        SELECT s.event_id, p_topic, s.id::text,
               p_event || jsonb_build_object('id', s.event_id, 'subject', s.id,
                                             'data', household_event_data(j.household))
        FROM households_json(ids) j JOIN household_import_rows s ON s.id = j.id
        ORDER BY s.line;
    DELETE FROM household_import_rows;
END
$$;

-- common 006: functions planned once per session. PostgreSQL plans the body
-- of a LANGUAGE sql function anew in every transaction that calls it from
-- PL/pgSQL (unless it can inline it, which a SELECT ... FROM never is); the
-- JSON builders a command function calls were about half of the database's
-- CPU for each registration. A PL/pgSQL function's statements are prepared
-- once per session and their plans kept, so plan_once remakes such a
-- function as PL/pgSQL with the same name, arguments, result, attributes
-- and body: a scalar function returns its one SELECT (no row: NULL, as
-- before), a void one runs its one statement. Names that are both a column
-- and an argument mean the column, as in a LANGUAGE sql function. The body
-- stays where it was written; a migration that changes it runs plan_once
-- again after its CREATE OR REPLACE.
CREATE FUNCTION plan_once(fn regprocedure) RETURNS void LANGUAGE plpgsql AS $plan_once$
DECLARE
    p pg_proc%ROWTYPE;
    body text;
BEGIN
    SELECT * INTO p FROM pg_proc WHERE oid = fn;
    IF p.prolang <> (SELECT oid FROM pg_language WHERE lanname = 'sql') THEN
        RETURN; -- planned once already
    END IF;
    IF p.proretset OR p.prokind <> 'f' THEN
        RAISE EXCEPTION 'plan_once: % is not a scalar function', fn;
    END IF;
    body := rtrim(btrim(p.prosrc, E' \n\t'), ';');
    IF p.prorettype = 'void'::regtype THEN
        body := E'BEGIN\n' || body || E';\nEND';
    ELSE
        body := E'BEGIN\nRETURN (' || body || E');\nEND';
    END IF;
    EXECUTE format('CREATE OR REPLACE FUNCTION %I.%I(%s) RETURNS %s LANGUAGE plpgsql %s %s %s AS %L',
                   (SELECT nspname FROM pg_namespace WHERE oid = p.pronamespace), p.proname, pg_get_function_arguments(fn), pg_get_function_result(fn),
                   CASE p.provolatile WHEN 'i' THEN 'IMMUTABLE' WHEN 's' THEN 'STABLE'
                                      ELSE 'VOLATILE' END,
                   CASE WHEN p.proisstrict THEN 'STRICT' ELSE 'CALLED ON NULL INPUT' END,
                   CASE p.proparallel WHEN 's' THEN 'PARALLEL SAFE' WHEN 'r' THEN 'PARALLEL RESTRICTED'
                                      ELSE 'PARALLEL UNSAFE' END,
                   E'#variable_conflict use_column\n' || body);
END
$plan_once$;

-- every command stores its key's answer
SELECT plan_once('idem_done(text, text, integer, text)');

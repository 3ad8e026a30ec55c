"""plan_once (schemas/sql/common/006_plan_once.sql), on the test stack's
database: a LANGUAGE sql function remade as PL/pgSQL answers exactly as it
did (the column before an argument of the same name, NULL for no row, a void
function's statement run, its attributes kept), a set-returning function is
refused, and the functions the migrations name are PL/pgSQL in every
service's schema."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from stacklib import Checks, psql  # noqa: E402

SCHEMAS = ("registry", "enrollment", "income", "suggestion", "notifier", "accounts")


def lang(schema, name):
    return psql("SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
                "WHERE p.pronamespace = '%s'::regnamespace AND p.proname = '%s'"
                % (schema, name))


def test_migrations(c):
    for s in SCHEMAS:
        c.eq(lang(s, "idem_done"), [["plpgsql"]], "%s: idem_done planned once" % s)
    for s, fn in (("registry", "project_json"), ("income", "entry_json"),
                  ("suggestion", "parts_json"), ("suggestion", "suggestion_json"),
                  ("suggestion", "suggestion_public_json"), ("suggestion", "event_data"),
                  ("accounts", "account_json"), ("enrollment", "household_json"),
                  ("enrollment", "household_event_data"), ("enrollment", "household_unknown_village"),
                  ("enrollment", "enrollment_json")):
        c.eq(lang(s, fn), [["plpgsql"]], "%s: %s planned once" % (s, fn))


def test_remade(c):

    psql("""
        DROP SCHEMA IF EXISTS plan_once_test CASCADE;
        CREATE SCHEMA plan_once_test;
        CREATE TABLE plan_once_test.t (id int PRIMARY KEY, x text);
        INSERT INTO plan_once_test.t VALUES (1, 'column'), (2, 'two');
        CREATE FUNCTION plan_once_test.shadow(x text) RETURNS text LANGUAGE sql STABLE STRICT AS $$
            SELECT x FROM plan_once_test.t WHERE id = 1
        $$;
        CREATE FUNCTION plan_once_test.pick(k int) RETURNS text LANGUAGE sql STABLE AS $$
            SELECT upper(x) FROM plan_once_test.t WHERE id = k;
        $$;
        CREATE FUNCTION plan_once_test.put(k int, v text) RETURNS void LANGUAGE sql AS $$
            UPDATE plan_once_test.t SET x = v WHERE id = k
        $$;
        CREATE FUNCTION plan_once_test.many() RETURNS SETOF text LANGUAGE sql AS $$
            SELECT x FROM plan_once_test.t
        $$;
    """)
    try:
        before = psql("SELECT plan_once_test.shadow('argument'), plan_once_test.pick(2), "
                      "plan_once_test.pick(9) IS NULL")
        psql("SELECT registry.plan_once(f::regprocedure) FROM unnest(ARRAY["
             "'plan_once_test.shadow(text)', 'plan_once_test.pick(int)', "
             "'plan_once_test.put(int, text)']) f")
        c.eq(psql("SELECT p.proname, l.lanname, p.provolatile, p.proisstrict FROM pg_proc p "
                  "JOIN pg_language l ON l.oid = p.prolang WHERE p.pronamespace = "
                  "'plan_once_test'::regnamespace AND p.proname <> 'many' ORDER BY 1"),
             [["pick", "plpgsql", "s", "f"], ["put", "plpgsql", "v", "f"],
              ["shadow", "plpgsql", "s", "t"]],
             "remade as PL/pgSQL with their volatility and strictness")
        after = psql("SELECT plan_once_test.shadow('argument'), plan_once_test.pick(2), "
                     "plan_once_test.pick(9) IS NULL")
        c.eq(after, before, "the same answers as before")
        c.eq(after, [["column", "TWO", "t"]],
             "the column before the argument of the same name; NULL for no row")
        c.eq(psql("SELECT plan_once_test.shadow(NULL) IS NULL"), [["t"]], "still strict")
        psql("SELECT plan_once_test.put(2, 'written')")
        c.eq(psql("SELECT x FROM plan_once_test.t WHERE id = 2"), [["written"]],
             "a void function runs its statement")
        psql("SELECT registry.plan_once('plan_once_test.put(int, text)')")
        c.eq(lang("plan_once_test", "put"), [["plpgsql"]], "a second call changes nothing")
        try:
            psql("SELECT registry.plan_once('plan_once_test.many()')")
            refused = ""
        except subprocess.CalledProcessError as e:
            refused = e.stderr
        c.check("not a scalar function" in refused, "a set-returning function is refused")
        c.eq(lang("plan_once_test", "many"), [["sql"]], "and left as it was")
    finally:
        psql("DROP SCHEMA plan_once_test CASCADE")


if __name__ == "__main__":
    Checks().run([test_migrations, test_remade])

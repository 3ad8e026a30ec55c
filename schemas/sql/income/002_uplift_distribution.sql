-- income 002: the distribution of the low-income households' per-capita
-- uplift beside its average and minimum: households counted in buckets of
-- 5,000 yuan (doubled until at most 40 buckets span them), [from_fen,
-- to_fen), lowest first, empty buckets between the lowest and the highest
-- kept (a histogram's bars).

CREATE FUNCTION uplift_buckets(v bigint[]) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    WITH x AS (SELECT u FROM unnest(v) u WHERE u IS NOT NULL),
    -- 5,000 yuan a bucket, doubled until at most 40 buckets span the values
    s AS (SELECT (500000 * power(2, greatest(0, ceil(log(2, ((max(u) / 500000 - min(u) / 500000
                  + 1) / 40.0)::numeric)))))::bigint AS step FROM x HAVING count(*) > 0),
    b AS (SELECT x.u / s.step AS k FROM x, s),
    r AS (SELECT min(k) AS lo, max(k) AS hi FROM b)
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'from_fen', g.k * s.step, 'to_fen', (g.k + 1) * s.step,
               'households', (SELECT count(*) FROM b WHERE b.k = g.k)) ORDER BY g.k), '[]')
    FROM r, s, generate_series(r.lo, r.hi) AS g(k)
$$;

CREATE OR REPLACE FUNCTION uplift_json(y int, prefix text, pid uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    -- the low-income households with income: from the yearly rollup for the
    -- programme or a region, from the ledger for one project (one branch runs)
    WITH hh AS (
        SELECT hy.amount_fen AS income, hy.members_count, hy.baseline_per_capita_fen
        FROM household_years hy
        WHERE pid IS NULL AND hy.year = coalesce(y, 0) AND hy.low_income AND hy.amount_fen > 0
          AND (prefix = '' OR left(hy.village_code, length(prefix)) = prefix)
        UNION ALL
        SELECT sum(hi.amount_fen), h.members_count, h.baseline_per_capita_fen
        FROM household_income hi JOIN households h ON h.id = hi.household_id
        WHERE pid IS NOT NULL AND (y IS NULL OR hi.year = y) AND hi.project_id = pid
          AND h.low_income AND left(h.village_code, length(prefix)) = prefix
        GROUP BY h.id HAVING sum(hi.amount_fen) > 0)
    SELECT jsonb_build_object(
        'low_income_households_reached', count(*),
        'low_income_per_capita_uplift_fen',
            coalesce(floor(avg(hh.income::numeric / hh.members_count)), 0)::bigint,
        'low_income_per_capita_uplift_min_fen',
            coalesce(floor(min(hh.income::numeric / hh.members_count)), 0)::bigint,
        'low_income_baseline_per_capita_fen',
            coalesce(floor(avg(hh.baseline_per_capita_fen)), 0)::bigint,
        'low_income_uplift_distribution', uplift_buckets(
            array_agg(floor(hh.income::numeric / hh.members_count)::bigint)))
    FROM hh
$$;

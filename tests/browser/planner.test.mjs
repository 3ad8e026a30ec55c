// The planner's dashboard in Debian's chromium against the test stack: the
// figures on screen are the views API's answers for the same filters at
// every level of the drill-down to a village, the tables export to XLSX and
// CSV, and a planner finds no write action anywhere.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { BASE, SHOTS, api, browser, token, startAs, years, yuan, int, eventually, DEMO_PASSWORD } from './lib.mjs'

const TOKEN = await token('planner')
// the demo planner of everything (one grant, no regions), signing in with its password
const PLANNER = { password: DEMO_PASSWORD, match: (g, a) => a.grants.length === 1 && !(g.regions ?? []).length }
const YEAR = years().last

async function ready(page) {
  await page.waitForSelector('.dashboard[data-ready="1"]', { timeout: 20000 })
}

async function compareCards(page, query, what) {
  const q = new URLSearchParams({ year: String(YEAR), ...query })
  const { status, json } = await api('income', `/v1/views/summary?${q}`, TOKEN)
  assert.equal(status, 200, `summary ${what}`)
  const cards = await page.$$eval('section[aria-label="主要指标"] [data-figure]', (els) =>
    els.map((e) => ({ key: e.dataset.figure, raw: e.dataset.value, text: e.querySelector('[data-role="value"]').textContent.trim(), toDate: e.querySelector('[data-to-date]').dataset.toDate })),
  )
  assert.ok(cards.length >= 8, 'eight headline cards')
  for (const c of cards) {
    const want = json[c.key]
    assert.equal(Number(c.raw), want, `${what}: ${c.key} value`)
    assert.equal(c.text, c.key.endsWith('_fen') ? yuan(want) : int(want), `${what}: ${c.key} as shown`)
    assert.equal(Number(c.toDate), json.to_date[c.key], `${what}: ${c.key} to date`)
  }
  return json
}

async function compareChildren(page, code, what) {
  const { json } = await api('income', `/v1/views/regions/${code}?year=${YEAR}`, TOKEN)
  const rows = await page.$$eval('table[data-table="children"] tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].slice(0, 2).map((td) => td.textContent.trim())))
  assert.deepEqual(rows, json.children.map((c) => [c.name, yuan(c.household_income_fen)]), `${what}: children table`)
}

async function drill(page, code) {
  await page.getByLabel('下钻区域').selectOption(code)
  await eventually(() => page.url().includes(`region=${code}`), 5000, 'the drill in the URL')
  await ready(page)
}

test('planner opens the dashboard, drills down to a village and exports', { timeout: 180000 }, async () => {
  const b = await browser({ width: 1440, height: 900 })
  try {
    const { page } = b
    await startAs(page, 'planner', PLANNER)
    assert.equal(new URL(page.url()).pathname, '/dashboard', 'a planner lands on the dashboard')
    await page.goto(`${BASE}/dashboard?year=${YEAR}`)
    await ready(page)
    const all = await compareCards(page, {}, 'both sides')
    assert.ok(all.projects_active > 0 && all.people_employed > 0, 'the demo year has figures')
    await compareChildren(page, 'all', 'both sides')
    // the by-project table is the API's by_project ranked by revenue
    const projects = await page.$$eval('table[data-table="by_project"] tbody tr', (trs) => trs.map((tr) => tr.children[2].textContent.trim()))
    const ranked = [...all.by_project].sort((a, b) => b.project_revenue_fen - a.project_revenue_fen).map((p) => yuan(p.project_revenue_fen))
    assert.deepEqual(projects, ranked, 'projects ranked by revenue')
    // the distribution of the low-income per-capita uplift: the view's own buckets
    const dist = all.low_income_uplift_distribution
    const upl = await page.$$eval('table[data-table="uplift"] tbody tr', (trs) => trs.map((tr) => Number(tr.children[1].textContent.trim().replace(/,/g, ''))))
    assert.deepEqual(upl, dist.map((b) => b.households), 'uplift distribution as the view answers it')
    assert.equal(dist.reduce((n, b) => n + b.households, 0), all.low_income_households_reached, 'each low-income household reached counted once')
    // the projects by the households they reach: the enrollment service's by_project, in its order
    const reach = (await api('enrollment', '/v1/stats', TOKEN)).json.by_project
    await page.waitForSelector('table[data-table="reach"] tbody tr')
    const reached = await page.$$eval('table[data-table="reach"] tbody tr', (trs) => trs.map((tr) => [tr.children[1].textContent.trim(), tr.children[2].textContent.trim()]))
    assert.deepEqual(reached, reach.map((r) => [r.project_name, r.households.toLocaleString('zh-CN')]), 'projects ranked by households reached')
    assert.ok(reach.length >= 18 && reach[0].households >= reach[reach.length - 1].households, 'ranked, most first')
    // the proposals' closed loop
    const stats = (await api('suggestion', `/v1/suggestions/stats?year=${YEAR}`, TOKEN)).json
    for (const k of ['received', 'resolved', 'resolved_on_time', 'overdue']) {
      assert.equal(Number(await page.getAttribute(`section[aria-label="助富建议闭环"] [data-figure="${k}"]`, 'data-value')), stats.overall[k], `proposals ${k}`)
    }

    for (const [code, what] of [['330000000000', 'Zhejiang'], ['330482000000', 'Pinghu'], ['330482105000', 'Guangchen'], ['330482105201', 'Shantang village']]) {
      await drill(page, code)
      await compareCards(page, { region: code }, what)
      if (code !== '330482105201') await compareChildren(page, code, what)
    }
    assert.equal(await page.getByLabel('下钻区域').isDisabled(), true, 'a village is the last level')
    // at a village the closed loop is the village's own row of the statistics
    const mine = stats.by_village.find((v) => v.village_code === '330482105201')
    assert.equal(Number(await page.getAttribute('section[aria-label="助富建议闭环"] [data-figure="received"]', 'data-value')), mine ? mine.received : 0, "the village's proposals")
    const crumbs = await page.$$eval('nav.crumbs > *:not([aria-hidden])', (els) => els.map((e) => e.textContent.trim()))
    assert.deepEqual(crumbs, ['浙沪两地', '浙江省', '平湖市', '广陈镇', '山塘村'])

    // a month of the year: the same comparison
    await page.getByLabel('月份').selectOption('6')
    await eventually(() => page.url().includes('month=6'), 5000, 'the month in the URL')
    await ready(page)
    await compareCards(page, { region: '330482105201', month: '6' }, 'Shantang village in June')

    // exports with the same filters
    const [xlsx] = await Promise.all([page.waitForEvent('download'), page.click('[data-export="by_project-xlsx"]')])
    const xlsxPath = join(SHOTS, 'dashboard-export.xlsx')
    await xlsx.saveAs(xlsxPath)
    const bytes = readFileSync(xlsxPath)
    assert.equal(bytes.subarray(0, 2).toString(), 'PK', 'an XLSX workbook (a zip)')
    assert.match(xlsx.suggestedFilename(), /\.xlsx$/)
    const [csv] = await Promise.all([page.waitForEvent('download'), page.click('[data-export="by_project-csv"]')])
    const csvPath = join(SHOTS, 'dashboard-export.csv')
    await csv.saveAs(csvPath)
    const got = readFileSync(csvPath)
    assert.equal(got.subarray(0, 3).toString('hex'), 'efbbbf', 'a CSV with a BOM, as a spreadsheet opens it')
    const direct = await fetch(`${BASE}/api/income/v1/views/summary?year=${YEAR}&month=6&region=330482105201&format=csv&table=by_project`, { headers: { Authorization: 'Bearer ' + TOKEN } })
    assert.ok(got.equals(Buffer.from(await direct.arrayBuffer())), 'the CSV is the API answer for the same filters')
    assert.deepEqual(b.problems, [], 'no CSP violation, page error or outside request')
  } finally {
    await b.close()
  }
})

test('a planner has no write actions', { timeout: 120000 }, async () => {
  const b = await browser({ width: 1440, height: 900 })
  try {
    const { page } = b
    await startAs(page, 'planner', PLANNER)
    await page.goto(`${BASE}/dashboard?year=${YEAR}`)
    await ready(page)
    const nav = await page.$$eval('#nav a', (as) => as.map((a) => a.textContent.trim()))
    assert.deepEqual(nav, ['共富看板'])
    for (const path of ['/households', '/households/new', '/households/import', '/proposals/new', '/queue', '/supervise', '/admin/accounts']) {
      await page.goto(BASE + path)
      await eventually(() => new URL(page.url()).pathname === '/dashboard', 5000, `${path} sends a planner to the dashboard`)
    }
    await ready(page)
    const writes = await page.$$eval('button, input[type=submit]', (els) => els.map((e) => e.textContent.trim()).filter((t) => /登记|提交|保存|办结|受理|交办|删除|停用|记录|导入|创建/.test(t)))
    assert.deepEqual(writes, [], 'no write button on the planner screens')
    assert.equal(await page.locator('form').count(), 0, 'no form')
  } finally {
    await b.close()
  }
})

test("a planner of one side opens on that side's figures", { timeout: 120000 }, async () => {
  const b = await browser({ width: 360, height: 780 })
  try {
    const { page } = b
    await startAs(page, 'planner', { password: DEMO_PASSWORD, match: (g) => (g.regions ?? []).includes('310000000000') })
    await page.goto(`${BASE}/dashboard?year=${YEAR}`)
    await ready(page)
    const crumbs = await page.$$eval('nav.crumbs > *:not([aria-hidden])', (els) => els.map((e) => e.textContent.trim()))
    assert.equal(crumbs.at(-1), '上海市')
    await compareCards(page, { region: '310000000000' }, 'the Shanghai side')
  } finally {
    await b.close()
  }
})

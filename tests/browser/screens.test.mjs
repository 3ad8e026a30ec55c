// Every screen of every role at phone (360 px) and desktop (1440 px) width,
// written as test artefacts under <build>/console-screenshots; on each, every
// form control has a label, and nothing breaks the CSP or leaves the origin.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { BASE, SHOTS, api, browser, token, useToken, shots, years, idNumber, wrongCheck } from './lib.mjs'

const VILLAGE = '330482105201'
const UNIT = 'town-330482105000'

async function unlabelled(page) {
  return page.$$eval('input:not([type=hidden]), select, textarea', (els) =>
    els
      .filter((e) => e.offsetParent !== null)
      .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.closest('label'))
      .map((e) => e.outerHTML.slice(0, 80)),
  )
}

async function visit(b, path, name, wait) {
  await b.page.goto(BASE + path)
  if (wait) await b.page.waitForSelector(wait, { timeout: 20000 })
  else await b.page.waitForLoadState('networkidle')
  await b.page.waitForTimeout(300)
  assert.deepEqual(await unlabelled(b.page), [], `${name}: every field labelled`)
  await shots(b.page, name)
}

test('every screen at 360 and 1440 px', { timeout: 400000 }, async () => {
  const admin = await token('admin')
  const household = (await api('enrollment', `/v1/households?village=${VILLAGE}&limit=1`, admin)).json.items[0]
  const notable = (await api('registry', '/v1/notables?limit=1', admin)).json.items[0]
  const nt = await token('notable', { sub: notable.id })
  const created = await api('suggestion', '/v1/suggestions', nt, {
    body: { title: '截图用建议：村道路灯', text: '建议在村主干道加装太阳能路灯。', category: 'infrastructure', village_codes: [VILLAGE] },
  })
  assert.equal(created.status, 201)
  const sid = created.json.id
  const sup = await token('supervisor')
  await api('suggestion', `/v1/suggestions/${sid}/transitions`, sup, { body: { action: 'accept' } })
  await api('suggestion', `/v1/suggestions/${sid}/transitions`, sup, { body: { action: 'assign', unit_id: UNIT } })

  const b = await browser({ width: 1440, height: 900 })
  try {
    await visit(b, '/signin', 'signin', 'form')
    await useToken(b.page, await token('planner'))
    await visit(b, `/dashboard?year=${years().last}`, 'planner-dashboard', '.dashboard[data-ready="1"]')
    await visit(b, `/dashboard?year=${years().last}&region=${VILLAGE}`, 'planner-dashboard-village', '.dashboard[data-ready="1"]')

    await useToken(b.page, await token('coordinator', { regions: [VILLAGE] }))
    await visit(b, '/households', 'coordinator-households', '[data-testid="household"]')
    await b.page.goto(BASE + '/households/new')
    await b.page.getByLabel('身份证号').fill(wrongCheck(idNumber()))
    await b.page.getByLabel('身份证号').dispatchEvent('input')
    await b.page.getByTestId('save').click()
    await shots(b.page, 'coordinator-household-new-errors')
    await visit(b, `/households/${household.id}`, 'coordinator-household', '[data-testid="enrollments"]')
    await visit(b, `/households/${household.id}/edit`, 'coordinator-household-edit', 'form')
    await visit(b, '/households/import', 'coordinator-import', 'form')

    await useToken(b.page, nt)
    await visit(b, '/proposals', 'notable-proposals', '[data-testid="proposals"] li')
    await visit(b, '/proposals/new', 'notable-proposal-new', 'form')
    await visit(b, `/proposals/${sid}`, 'notable-proposal', '[data-testid="timeline"]')

    await useToken(b.page, await token('handler', { unit: UNIT }))
    await visit(b, '/queue', 'handler-queue', '[data-testid="queue"] li')
    await visit(b, `/proposals/${sid}`, 'handler-proposal', '[data-testid="resolve-form"]')

    await useToken(b.page, sup)
    await visit(b, '/supervise', 'supervisor-overdue', '[data-testid="overdue"]')
    await b.page.getByTestId('tab-intake').click()
    await shots(b.page, 'supervisor-intake')

    await useToken(b.page, admin)
    await visit(b, '/admin/accounts', 'admin-accounts', 'form')
    await visit(b, '/admin/units', 'admin-units', 'table tbody tr')
    await visit(b, '/admin/projects', 'admin-projects', 'table tbody tr')
    assert.deepEqual(b.problems, [], 'no CSP violation, page error or outside request on any screen')
    console.log('screenshots in ' + SHOTS)
  } finally {
    await b.close()
  }
})

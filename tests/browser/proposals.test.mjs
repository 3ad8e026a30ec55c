// A proposal's closed loop through the console, each role in its own
// browser: a notable submits it on a phone, the supervisor accepts and
// assigns it, the handling unit posts progress and resolves it from its
// queue, the notable gives (unsatisfied) feedback and reopens it once.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { BASE, api, browser, startAs, keepSession, eventually, fieldError } from './lib.mjs'

const VILLAGE = '330482105201'
const UNIT = 'town-330482105000' // 广陈镇人民政府

// the demo people who sign in with their SMS codes
const NOTABLE = { match: (g) => !!g.notable_id }
const SUPERVISOR = { match: (g) => (g.regions ?? []).includes('330482000000') }
const HANDLER = { match: (g) => g.unit === UNIT }

async function state(page) {
  return page.getByTestId('state').getAttribute('data-state')
}

test('notable submits, supervisor assigns, handler resolves, notable gives feedback and reopens', { timeout: 240000 }, async () => {
  const title = '浏览器测试建议 ' + Date.now()
  let id
  // the notable, on a phone
  let b = await browser({ width: 360, height: 780 })
  try {
    const { page } = b
    const session = await startAs(page, 'notable', NOTABLE)
    assert.equal(session.grant.role, 'notable')
    assert.equal(new URL(page.url()).pathname, '/proposals', 'a notable lands on its proposals')
    await page.goto(BASE + '/proposals/new')
    await page.getByTestId('submit').click()
    assert.equal(await fieldError(page, 'title'), '请填写标题', 'an empty form names its fields')
    assert.equal(await fieldError(page, 'village_codes'), '请至少选择一个村')
    await page.getByLabel('标题').fill(title)
    await page.getByLabel('建议内容').fill('建议在山塘村设立农产品直播间，帮助低收入农户销售蔬菜。')
    await page.getByLabel('类别').selectOption('助农')
    await page.locator(`input[type=checkbox][value="${VILLAGE}"]`).check()
    await page.getByTestId('submit').click()
    await page.waitForURL(/\/proposals\/[0-9a-f-]{36}/)
    id = new URL(page.url()).pathname.split('/').pop()
    assert.equal(await state(page), 'submitted')
    await page.getByTestId('timeline').waitFor()
    await page.goto(BASE + '/proposals')
    await page.locator(`[data-id="${id}"]`).waitFor()
    assert.deepEqual(b.problems, [])
  } finally {
    await keepSession(b.page).catch(() => undefined)
    await b.close()
  }
  // the supervisor accepts and assigns it
  b = await browser({ width: 1440, height: 900 })
  try {
    const { page } = b
    await startAs(page, 'supervisor', SUPERVISOR)
    await page.goto(BASE + '/supervise')
    await page.getByTestId('tab-intake').click()
    await page.locator(`[data-testid="intake"] [data-id="${id}"] a`).click()
    await page.getByTestId('accept').click()
    await eventually(async () => (await state(page)) === 'accepted', 10000, 'accepted')
    await page.locator('select[data-side="zhejiang"]').selectOption(UNIT)
    await page.getByTestId('assign').click()
    await eventually(async () => (await state(page)) === 'assigned', 10000, 'assigned')
  } finally {
    await keepSession(b.page).catch(() => undefined)
    await b.close()
  }
  // the handling unit, from its queue
  b = await browser({ width: 360, height: 780 })
  try {
    const { page } = b
    await startAs(page, 'handler', HANDLER)
    assert.equal(new URL(page.url()).pathname, '/queue', 'a handler lands on its queue')
    await page.goto(BASE + '/queue')
    await page.locator(`[data-testid="queue"] [data-id="${id}"] a`).click()
    await page.getByTestId('send-resolve').click()
    assert.equal(await fieldError(page, 'answer'), '请填写办理答复')
    await page.getByLabel('办理进展').fill('已联系镇电商服务中心，正在选址。')
    await page.getByTestId('send-progress').click()
    await eventually(async () => (await state(page)) === 'in_progress', 10000, 'in progress')
    await page.getByLabel('办理答复').fill('直播间已在村委会二楼开通，每周三、六开播。')
    await page.getByTestId('send-resolve').click()
    await eventually(async () => (await state(page)) === 'resolved', 10000, 'resolved')
  } finally {
    await keepSession(b.page).catch(() => undefined)
    await b.close()
  }
  // the notable: feedback, then the one reopening
  b = await browser({ width: 360, height: 780 })
  try {
    const { page } = b
    const session = await startAs(page, 'notable', NOTABLE)
    await page.goto(`${BASE}/proposals/${id}`)
    const form = page.getByTestId('feedback-form')
    await form.waitFor()
    await form.getByLabel('不满意').check()
    await form.getByLabel('评价意见').fill('开播时间太少，希望每天开播。')
    await page.getByTestId('send-feedback').click()
    await eventually(async () => (await state(page)) === 'closed', 10000, 'closed by feedback')
    const actions = await page.$$eval('[data-testid="timeline"] li strong', (els) => els.map((e) => e.textContent))
    for (const a of ['提交', '受理', '交办', '进展', '办结', '评价']) assert.ok(actions.includes(a), `the timeline has ${a}`)
    await page.getByTestId('reopen').click()
    await eventually(async () => (await state(page)) === 'assigned', 10000, 'reopened')
    assert.equal(await page.getByTestId('reopen').count(), 0, 'reopened once only')
    const tok = await page.evaluate(() => JSON.parse(localStorage.getItem('shantang.session')).access_token)
    void session
    const s = (await api('suggestion', `/v1/suggestions/${id}`, tok)).json
    assert.equal(s.reopen_count, 1)
  } finally {
    await keepSession(b.page).catch(() => undefined)
    await b.close()
  }
})

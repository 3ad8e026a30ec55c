// Sign-in through the accounts service in Debian's chromium: a wrong SMS
// code is shown beside the code field with the phone kept, the right one
// signs a coordinator in to its own village only; an office account with
// two grants signs in with its password, chooses one, switches to the other
// in the header, and signs out, after which its refresh token is dead.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { BASE, api, browser, demoPhone, smsCode, shots, fieldError, eventually, DEMO_PASSWORD } from './lib.mjs'

const VILLAGE = '330482105202' // 广陈镇龙萌村

test('a wrong code is named beside its field; the right one signs in', { timeout: 120000 }, async () => {
  const phone = await demoPhone('coordinator', (g) => (g.regions ?? []).includes(VILLAGE))
  const b = await browser({ width: 360, height: 780 })
  try {
    const { page } = b
    await page.goto(BASE + '/signin')
    await page.getByTestId('signin').click()
    assert.equal(await fieldError(page, 'phone'), '请填写手机号', 'an empty phone is named')
    await page.getByLabel('手机号').fill(phone)
    const since = Date.now()
    await page.getByTestId('send-code').click()
    await page.getByRole('status').filter({ hasText: '验证码已发送' }).waitFor()
    assert.match(await page.getByTestId('send-code').textContent(), /秒后重发/, 'the resend waits')
    const code = await smsCode(phone, since)
    await page.getByLabel('短信验证码').fill(code === '000000' ? '111111' : '000000')
    await page.getByTestId('signin').click()
    await eventually(async () => (await fieldError(page, 'code')) !== '', 10000, 'the code error')
    assert.equal(await fieldError(page, 'code'), '验证码不正确或已过期')
    assert.equal(await page.getByLabel('手机号').inputValue(), phone, 'the phone typed stays')
    await shots(page, 'signin-wrong-code')
    await page.getByLabel('短信验证码').fill(code)
    await page.getByTestId('signin').click()
    await page.waitForURL((u) => u.pathname === '/households')
    await page.waitForSelector('[data-testid="household"]')
    const villages = await page.$$eval('[data-testid="household"]', (lis) => [...new Set(lis.map((li) => li.dataset.village))])
    assert.deepEqual(villages, [VILLAGE], 'only the grant’s village')
    assert.deepEqual(b.problems, [])
  } finally {
    await b.close()
  }
})

test('an account with two grants chooses one, switches, and signs out', { timeout: 120000 }, async () => {
  const phone = await demoPhone('admin', (g, a) => a.grants.length > 1)
  const b = await browser({ width: 1440, height: 900 })
  try {
    const { page } = b
    await page.goto(BASE + '/signin')
    await page.getByTestId('mode-password').click()
    await page.getByLabel('手机号').fill(phone)
    await page.getByLabel('密码').fill('not-the-password')
    await page.getByTestId('signin').click()
    await eventually(async () => (await fieldError(page, 'password')) !== '', 10000, 'the password error')
    assert.equal(await fieldError(page, 'password'), '手机号或密码不正确')
    await page.getByLabel('密码').fill(DEMO_PASSWORD)
    await page.getByTestId('signin').click()
    await page.getByTestId('enter').waitFor()
    const choices = await page.$$eval('input[name="grant"]', (els) => els.length)
    assert.equal(choices, 2, 'both grants offered')
    await shots(page, 'signin-choose-grant')
    await page.getByLabel('管理员').check()
    await page.getByTestId('enter').click()
    await page.waitForURL((u) => u.pathname === '/admin/accounts')
    await page.waitForSelector('[data-testid="accounts"] tbody tr')
    assert.ok((await page.locator('[data-testid="accounts"] tbody tr').count()) > 10, 'the demo accounts are listed')
    await shots(page, 'admin-accounts-signed-in')
    // switch to the planner grant in the header: a new token for that grant
    const before = await page.evaluate(() => JSON.parse(localStorage.getItem('shantang.session')))
    const planner = before.grants.find((g) => g.role === 'planner')
    await page.getByTestId('grant-switch').selectOption(planner.id)
    await page.waitForURL((u) => u.pathname === '/dashboard')
    await page.waitForSelector('.dashboard[data-ready="1"]')
    const after = await page.evaluate(() => JSON.parse(localStorage.getItem('shantang.session')))
    assert.equal(after.grant.role, 'planner')
    assert.notEqual(after.refresh_token, before.refresh_token, 'the refresh token rotated')
    // sign out: back to the sign-in screen, the session gone, its refresh token refused
    await page.getByTestId('signout').click()
    await page.waitForURL((u) => u.pathname === '/signin')
    assert.equal(await page.evaluate(() => localStorage.getItem('shantang.session')), null)
    const r = await api('accounts', '/v1/token', null, { body: { refresh_token: after.refresh_token } })
    assert.equal(r.status, 401, 'a signed-out refresh token is dead')
    await page.goto(BASE + '/admin/accounts')
    await page.waitForURL((u) => u.pathname === '/signin')
    assert.deepEqual(b.problems, [])
  } finally {
    await b.close()
  }
})

test('signing in and reaching the figures by keyboard alone', { timeout: 120000 }, async () => {
  const phone = await demoPhone('planner', (g) => (g.regions ?? []).includes('330000000000'))
  const b = await browser({ width: 1440, height: 900 })
  try {
    const { page } = b
    await page.goto(BASE + '/signin')
    const focused = () => page.evaluate(() => document.activeElement?.textContent?.trim() || document.activeElement?.getAttribute('type') || document.activeElement?.tagName)
    const seen = []
    for (let i = 0; i < 6 && seen.at(-1) !== '密码'; i++) {
      await page.keyboard.press('Tab')
      seen.push(await focused())
    }
    assert.deepEqual(seen.slice(-3), ['跳到正文', '短信验证码', '密码'], 'the skip link, then the two ways in, by Tab')
    await page.keyboard.press('Enter')
    await page.keyboard.press('Tab')
    assert.equal(await focused(), 'tel', 'then the phone')
    await page.keyboard.type(phone)
    await page.keyboard.press('Tab')
    assert.equal(await focused(), 'password', 'then the password')
    await page.keyboard.type(DEMO_PASSWORD)
    await page.keyboard.press('Enter')
    await page.waitForURL((u) => u.pathname === '/dashboard')
    await page.waitForSelector('.dashboard[data-ready="1"]')
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'main', 'the new screen takes the focus')
    // on a fresh load the skip link comes first and leads past the header
    await page.reload()
    await page.waitForSelector('.dashboard[data-ready="1"]')
    await page.keyboard.press('Tab')
    assert.equal(await focused(), '跳到正文')
    await page.keyboard.press('Enter')
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'main')
    // the year picker answers the arrow keys
    await page.getByLabel('年份').focus()
    const before = await page.getByLabel('年份').inputValue()
    await page.keyboard.press('ArrowDown')
    await eventually(async () => (await page.getByLabel('年份').inputValue()) !== before, 5000, 'the year changed by keyboard')
    await page.waitForSelector('.dashboard[data-ready="1"]')
    assert.deepEqual(b.problems, [])
  } finally {
    await b.close()
  }
})

// Shared by the console's browser tests: the test stack's facts, tokens,
// Debian's chromium driven by playwright-core (never a downloaded browser),
// sign-in through the accounts service with the code from the test SMS
// gateway, screenshots under the build directory, and a guard that fails a
// test on any Content-Security-Policy violation or uncaught page error.
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
export const SOURCE = process.env.SHANTANG_SOURCE_DIR ?? join(here, '..', '..')
const require = createRequire(join(SOURCE, 'services', 'console', 'package.json'))
const { chromium } = require('playwright-core')

function readEnv(path) {
  const env = {}
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = line.match(/^([A-Z0-9_]+)='(.*)'$/)
    if (m) env[m[1]] = m[2]
  }
  return env
}

const envFile = process.env.SHANTANG_STACK_ENV ?? join(SOURCE, '.local', 'test', 'stack.env')
export const ENV = readEnv(envFile)
export const BASE = ENV.CONSOLE_URL
export const GATEWAY = ENV.SMS_GATEWAY_URL
export const SHOTS = join(process.env.SHANTANG_BUILD_DIR ?? ENV.BUILD_DIR ?? join(SOURCE, 'build'), 'console-screenshots')
mkdirSync(SHOTS, { recursive: true })

/**
 * A development access token for a role, minted by the stack's accounts
 * service (POST /v1/dev/tokens with the instance's mint secret) and signed
 * with its real key, so that every service verifies it like a signed-in one.
 */
export async function token(role, { regions = [], unit, sub, ttl } = {}) {
  const body = { role }
  if (regions.length) body.regions = regions
  if (unit) body.unit = unit
  if (sub) body.sub = sub
  if (ttl) body.ttl = ttl
  const secret = readFileSync(ENV.DEV_MINT_SECRET_FILE, 'utf8').trim()
  const r = await fetch(ENV.ACCOUNTS_URL + '/v1/dev/tokens', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Dev-Secret': secret },
    body: JSON.stringify(body),
  })
  if (!r.ok) throw new Error(`the accounts service minted no ${role} token: ${r.status} ${await r.text()}`)
  return (await r.json()).access_token
}

/** A JSON call through the console's nginx, as the browser makes it. */
export async function api(service, path, tok, { method, body, headers } = {}) {
  const h = { Accept: 'application/json', ...(headers ?? {}) }
  if (tok) h.Authorization = 'Bearer ' + tok
  if (body !== undefined) h['Content-Type'] = 'application/json'
  const r = await fetch(`${BASE}/api/${service}${path}`, { method: method ?? (body === undefined ? 'GET' : 'POST'), headers: h, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await r.text()
  let json = null
  try {
    json = text ? JSON.parse(text) : null
  } catch {
    json = text
  }
  return { status: r.status, json, headers: r.headers }
}

/** Whether the accounts service answers behind the console. */
export async function accountsReady() {
  try {
    const r = await fetch(`${BASE}/api/accounts/readyz`)
    return r.ok
  } catch {
    return false
  }
}

export const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--lang=zh-CN']

/** A browser with a fresh profile; close() removes the profile. */
export async function browser({ width = 1440, height = 900 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'shantang-chromium-'))
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: ENV.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: FLAGS,
    viewport: { width, height },
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
    acceptDownloads: true,
    env: { ...process.env, LANG: 'C.UTF-8', LANGUAGE: 'zh_CN', TZ: 'Asia/Shanghai' },
  })
  const problems = []
  const watch = (page) => {
    page.on('console', (m) => {
      const t = m.text()
      if (/Content Security Policy|Refused to/i.test(t)) problems.push('CSP: ' + t)
    })
    page.on('pageerror', (e) => problems.push('page error: ' + e.message))
    page.on('request', (r) => {
      const u = r.url()
      if (!u.startsWith(BASE) && !u.startsWith('data:') && !u.startsWith('blob:') && !u.startsWith('about:')) problems.push('outside request: ' + u)
    })
  }
  context.on('page', watch)
  for (const p of context.pages()) watch(p)
  const page = context.pages()[0] ?? (await context.newPage())
  return {
    context,
    page,
    problems,
    async close() {
      await context.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Sign in without the accounts service: the session is a bare token. */
export async function useToken(page, tok) {
  await page.goto(BASE + '/signin')
  await page.evaluate((t) => localStorage.setItem('shantang.session', JSON.stringify({ access_token: t })), tok)
}

/** The newest 6-digit code the test gateway received for a phone since `since` (ms). */
export async function smsCode(phone, since, seconds = 90) {
  const deadline = Date.now() + seconds * 1000
  while (Date.now() < deadline) {
    const r = await fetch(GATEWAY + '/_messages')
    const { messages } = await r.json()
    const mine = messages.filter((m) => m.phone.replace(/^\+?86/, '') === phone && Date.parse(m.received_at) >= since - 1000)
    for (const m of mine.reverse()) {
      const p = m.params ?? {}
      if (typeof p.code === 'string' && /^\d{6}$/.test(p.code)) return p.code
      const c = JSON.stringify(p).match(/(?<!\d)\d{6}(?!\d)/)
      if (c) return c[0]
    }
    await new Promise((res) => setTimeout(res, 250))
  }
  throw new Error('no sign-in code for ' + phone + ' at the SMS gateway')
}

/**
 * Sign in through the screen: phone + the SMS code the test gateway received,
 * or phone + password; `grant` picks the grant by its label when the account
 * holds several. Returns the session the console keeps.
 */
export async function signIn(page, phone, { password, grant } = {}) {
  await page.goto(BASE + '/signin')
  if (password) {
    await page.getByTestId('mode-password').click()
    await page.getByLabel('手机号').fill(phone)
    await page.getByLabel('密码').fill(password)
  } else {
    await page.getByLabel('手机号').fill(phone)
    const since = Date.now()
    await page.getByTestId('send-code').click()
    await page.getByRole('status').filter({ hasText: '验证码已发送' }).waitFor()
    const code = await smsCode(phone, since)
    await page.getByLabel('短信验证码').fill(code)
  }
  await page.getByTestId('signin').click()
  const enter = page.getByTestId('enter')
  await Promise.race([page.waitForURL((u) => !u.pathname.startsWith('/signin'), { timeout: 20000 }), enter.waitFor({ timeout: 20000 })])
  if (await enter.isVisible().catch(() => false)) {
    if (grant) await page.getByLabel(grant).check()
    await enter.click()
  }
  await page.waitForURL((u) => !u.pathname.startsWith('/signin'))
  return page.evaluate(() => JSON.parse(localStorage.getItem('shantang.session')))
}

/** A full-page screenshot at phone (360) and desktop (1440) width. */
export async function shots(page, name) {
  const size = page.viewportSize()
  for (const width of [360, 1440]) {
    await page.setViewportSize({ width, height: width === 360 ? 780 : 900 })
    await page.waitForTimeout(150)
    await page.screenshot({ path: join(SHOTS, `${name}-${width}.png`), fullPage: true })
    // a figure is read in full at either width: never cut by its card
    const cut = await page.$$eval('.fig .value', (els) => els.filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent.trim()))
    assert.deepEqual(cut, [], `${name} at ${width} px: no figure cut`)
  }
  if (size) await page.setViewportSize(size)
}

/** A valid GB 11643 number with a random birth date and sequence. */
export function idNumber(prefix = '330482') {
  const y = 1950 + Math.floor(Math.random() * 50)
  const m = 1 + Math.floor(Math.random() * 12)
  const d = 1 + Math.floor(Math.random() * 28)
  const body = prefix + String(y) + String(m).padStart(2, '0') + String(d).padStart(2, '0') + String(Math.floor(Math.random() * 1000)).padStart(3, '0')
  const W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
  let s = 0
  for (let i = 0; i < 17; i++) s += Number(body[i]) * W[i]
  return body + '10X98765432'[s % 11]
}

/** The same number with a wrong check character. */
export function wrongCheck(id) {
  const c = id[17]
  return id.slice(0, 17) + (c === '0' ? '1' : c === 'X' ? '0' : String((Number(c) + 1) % 10))
}

export function yuan(fen) {
  const neg = fen < 0
  const a = Math.abs(fen)
  return (neg ? '-' : '') + Math.floor(a / 100).toLocaleString('en-US') + '.' + String(a % 100).padStart(2, '0')
}
export function int(n) {
  return n.toLocaleString('en-US')
}

/** Poll fn until it returns a truthy value (or throw its last error). */
export async function eventually(fn, ms = 10000, what = 'condition') {
  const deadline = Date.now() + ms
  let last
  while (Date.now() < deadline) {
    try {
      const v = await fn()
      if (v) return v
    } catch (e) {
      last = e
    }
    await new Promise((r) => setTimeout(r, 150))
  }
  throw new Error(`timed out waiting for ${what}${last ? ': ' + last.message : ''}`)
}

/** The last full year and this year, in Asia/Shanghai. */
export function years() {
  const y = Number(new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric' }).format(new Date()))
  return { last: y - 1, now: y }
}

/** The text of the error shown beside field `name`. */
export async function fieldError(page, name) {
  return (await page.locator(`[data-error-for="${name}"]`).first().textContent())?.trim() ?? ''
}

/** The demo's password for office staff (deploy/local/demo/load). */
export const DEMO_PASSWORD = 'Shantang-demo-2026'

/** The phone of the first demo account with a grant of `role` matching `match`. */
export async function demoPhone(role, match = () => true) {
  const admin = await token('admin')
  let cursor = ''
  for (let i = 0; i < 20; i++) {
    const r = await api('accounts', `/v1/accounts?role=${role}&limit=200${cursor ? '&cursor=' + cursor : ''}`, admin)
    if (r.status !== 200) throw new Error('accounts list: ' + r.status)
    const a = r.json.items.find((x) => x.state !== 'disabled' && x.grants.some((g) => g.role === role && match(g, x)))
    if (a) return a.phone
    if (!r.json.next) break
    cursor = encodeURIComponent(r.json.next)
  }
  throw new Error(`no demo ${role} account`)
}

const sessions = new Map()

/**
 * Start a role's session through the sign-in screen with the SMS code (or
 * the password), as the demo account whose grant matches; a phone signs in
 * once per test process (the codes are rate-limited per phone) and its
 * session is reused by the later browsers of the same process.
 */
export async function startAs(page, role, { match, password, grant } = {}) {
  const phone = await demoPhone(role, match)
  const kept = sessions.get(phone)
  if (kept) {
    await page.goto(BASE + '/signin')
    await page.evaluate((s) => localStorage.setItem('shantang.session', JSON.stringify(s)), kept)
    return kept
  }
  const s = await signIn(page, phone, { password, grant })
  sessions.set(phone, s)
  return s
}

/** Keep the rotated session of a page for the next browser of the same phone. */
export async function keepSession(page) {
  const s = await page.evaluate(() => JSON.parse(localStorage.getItem('shantang.session')))
  if (s?.account?.phone) sessions.set(s.account.phone, s)
}
